#!/usr/bin/env bash
# A real one-node SLURM cluster on this host, for the tests and for trying profiles/slurm by hand:
# Debian's slurmctld, slurmd, slurmdbd (accounting, so `sacct` works), munge and MariaDB, started
# by hand (no systemd), configured from this machine's CPUs and memory, stopped by PID.
#
#   tests/slurm/cluster.sh install   apt-get the daemons (root; skipped when they are there)
#   tests/slurm/cluster.sh up        write the config, start every daemon, wait until the node is idle
#   tests/slurm/cluster.sh down      stop every daemon this script started (by PID file)
#   tests/slurm/cluster.sh status    sinfo of the running cluster
#   eval "$(tests/slurm/cluster.sh env)"   point sbatch/sinfo/sacct at it (SLURM_CONF)
#
# Everything lives under $ETHOFLOW_SLURM_DIR (default /tmp/ethoflow-slurm): configs, spool,
# state, logs, the database and the PID files. Partition: "debug" (the default one).
set -euo pipefail

DIR=${ETHOFLOW_SLURM_DIR:-/tmp/ethoflow-slurm}
ETC=$DIR/etc
RUN=$DIR/run
LOG=$DIR/log
DB=$DIR/mysql
CLUSTER=ethoflow
PARTITION=debug
HOST=$(hostname -s)
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

log() { printf '[slurm-cluster] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    local t0=$SECONDS
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - t0 < limit)) || die "$what: not ready after ${limit}s (logs in $LOG)"
        sleep 0.5
    done
}

cmd_install() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
    command -v apt-get >/dev/null || die "no apt-get here: install ${missing[*]} yourself"
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/ethoflow-slurm-apt.log" 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >"${TMPDIR:-/tmp}/ethoflow-slurm-apt.log" 2>&1; } ||
        die "apt-get install failed (see ${TMPDIR:-/tmp}/ethoflow-slurm-apt.log)"
}

write_config() {
    local cpus mem_mb
    cpus=$(nproc)
    # what the node offers jobs: total memory less 1 GiB for the daemons and the OS
    mem_mb=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024))
    mkdir -p "$ETC" "$RUN" "$LOG" "$DIR/spool/slurmd" "$DIR/state"
    cat >"$ETC/slurm.conf" <<EOF
# one-node test cluster written by tests/slurm/cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmdSpoolDir=$DIR/spool/slurmd
StateSaveLocation=$DIR/state
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# finished jobs stay visible to squeue for 5 minutes (the executor's fallback status check)
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# sacct shows the executor's --comment (rule and wildcards of each job)
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
NodeName=$HOST CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
    # Commands inside a job (srun, which the executor uses) do not see the submitter's
    # SLURM_CONF: the config must also be where SLURM looks by default. Never replace a real one.
    local sys_conf=/etc/slurm/slurm.conf
    if [[ -e $sys_conf && ! -L $sys_conf ]]; then
        die "$sys_conf exists and is not ours: this script only runs on a host without SLURM"
    fi
    mkdir -p /etc/slurm
    ln -sfn "$ETC/slurm.conf" "$sys_conf"
    cat >"$ETC/my.cnf" <<EOF
[mysqld]
datadir=$DB
socket=$RUN/mysqld.sock
pid-file=$RUN/mysqld.pid
log-error=$LOG/mysqld.log
port=3306
bind-address=127.0.0.1
user=root
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
[client]
socket=$RUN/mysqld.sock
user=root
EOF
}

start_munge() {
    if pid_alive "$RUN/munged.pid"; then return; fi
    [[ -s /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing (reinstall munge)"
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    # as root (--force): the key and socket directories belong to the munge user
    /usr/sbin/munged --force --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" \
        --seed-file="$RUN/munged.seed"
    wait_for 10 munged munge -n
}

start_mariadb() {
    if pid_alive "$RUN/mysqld.pid"; then return; fi
    if [[ ! -d $DB/mysql ]]; then
        mariadb-install-db --defaults-file="$ETC/my.cnf" --auth-root-authentication-method=normal \
            >"$LOG/mysql-install.log" 2>&1 || die "mariadb-install-db failed (see $LOG/mysql-install.log)"
    fi
    /usr/sbin/mariadbd --defaults-file="$ETC/my.cnf" >>"$LOG/mysqld.log" 2>&1 &
    wait_for 30 mariadb mariadb --defaults-file="$ETC/my.cnf" -e "select 1"
    # slurmdbd talks TCP; its own user, on the loopback address only
    mariadb --defaults-file="$ETC/my.cnf" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the slurm database user"
}

start_slurm() {
    export SLURM_CONF=$ETC/slurm.conf
    pid_alive "$RUN/slurmdbd.pid" || /usr/sbin/slurmdbd >>"$LOG/slurmdbd.log" 2>&1
    wait_for 30 slurmdbd bash -c "pid_ok() { [[ -f $RUN/slurmdbd.pid ]] && kill -0 \$(cat $RUN/slurmdbd.pid); }; pid_ok && (echo > /dev/tcp/127.0.0.1/6819)"
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    pid_alive "$RUN/slurmctld.pid" || /usr/sbin/slurmctld -f "$SLURM_CONF" >>"$LOG/slurmctld.log" 2>&1
    pid_alive "$RUN/slurmd.pid" || /usr/sbin/slurmd -f "$SLURM_CONF" >>"$LOG/slurmd.log" 2>&1
    wait_for 60 "node $HOST idle" bash -c "sinfo -h -N -o %t -n $HOST | grep -qx idle"
    wait_for 30 "sacct" sacct -n -X -S now
}

cmd_up() {
    local t0=$SECONDS
    cmd_install
    write_config
    # the daemons run with relative paths nowhere: keep them out of the caller's directory
    cd "$DIR"
    start_munge
    start_mariadb
    start_slurm
    log "up in $((SECONDS - t0)) s: $(nproc) CPUs, partition $PARTITION, SLURM_CONF=$ETC/slurm.conf"
}

cmd_down() {
    local name pidfile pid
    # slurmd before slurmctld before slurmdbd before the database and munge
    for name in slurmd slurmctld slurmdbd mysqld munged; do
        pidfile=$RUN/$name.pid
        [[ -f $pidfile ]] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 40); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.25
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        fi
        rm -f "$pidfile"
    done
    # leave no config pointing at a dead controller: every SLURM client (and Snakemake's SLURM
    # plugin, which probes sacct/squeue when it loads) would wait ~10 s for it on each call
    if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$ETC/slurm.conf" ]]; then
        rm -f /etc/slurm/slurm.conf
    fi
    log "down"
}

cmd_env() { echo "export SLURM_CONF=$ETC/slurm.conf"; }

cmd_status() {
    SLURM_CONF=$ETC/slurm.conf sinfo
}

case ${1:-} in
install) cmd_install ;;
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
*)
    echo "usage: $0 install|up|down|env|status" >&2
    exit 2
    ;;
esac
