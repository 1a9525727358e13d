"""DAG scale: how long Snakemake takes to plan a facility-sized run (``snakemake -n``).

Writes a config of N videos x K shards (every video a placeholder file, every 10th one labelled
with one LabelMe file: planning reads no video), plans it in a scratch working directory with the
repo's Snakefile, and prints the planning wall time, the number of jobs and jobs per second.

In the same run it plans a reference: a bare Snakefile of the same shape (probe per video, one
job per video x shard x model, one track per video x model, one model file per model; `touch`
rules, no functions, params or resources), so the figure can be read against what Snakemake
itself needs per job on this machine; it prints the ratio.

    .venv/bin/python bench/dag_scale.py [--videos 1000] [--shards 10] [--models maskrcnn,yolact]
                                        [--repeat 1] [--gc]

Planning times on a shared machine vary by about 20% from run to run: with ``--repeat N`` both
plans run N times, alternately, and the figures are the medians (each run is printed too).
With ``--gc`` each plan runs under a probe that adds up the time Python's cyclic garbage
collector takes in it (``gc.callbacks``) and prints it beside the wall time and peak memory.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def make_config(work: Path, n_videos: int, shards: int, models: list[str]) -> Path:
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    placeholder = work / "placeholder.mp4"
    placeholder.write_bytes(b"")
    videos = {}
    for i in range(n_videos):
        name = f"cage{i:04d}"
        labels = None
        if i % 10 == 0:
            folder = work / "labels" / name
            folder.mkdir(parents=True)
            (folder / "frame_000000.json").write_text("{}")
            labels = str(folder)
        videos[name] = {"path": str(placeholder), "labels": labels, "truth": None}
    cfg = {
        "demo": {**base["demo"], "enabled": False},
        "videos": videos,
        "models": models,
        "inference": {"shards": shards},
        "report": {**base["report"], "overlay_videos": []},
    }
    path = work / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


REFERENCE = """
V = [f"cage{{i:04d}}" for i in range({videos})]
M = {models!r}
S = range({shards})
rule all:
    input: expand("tracks/{{m}}/{{v}}.t", m=M, v=V)
rule probe:
    input: "placeholder.mp4"
    output: "probe/{{v}}.json"
    shell: "touch {{output}}"
rule model:
    output: "models/{{m}}.pt"
    shell: "touch {{output}}"
rule shard:
    input: "probe/{{v}}.json", "models/{{m}}.pt"
    output: "det/{{m}}/{{v}}/{{s}}.p"
    shell: "touch {{output}}"
rule track:
    input: expand("det/{{{{m}}}}/{{{{v}}}}/{{s}}.p", s=S)
    output: "tracks/{{m}}/{{v}}.t"
    shell: "touch {{output}}"
"""


# Runs Snakemake's command line in this interpreter, timing every garbage collection.
GC_PROBE = """
import atexit, gc, resource, sys, time
spent, runs, started = [0.0], [0, 0, 0], [0.0]
def probe(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        spent[0] += time.perf_counter() - started[0]
        runs[info["generation"]] += 1
gc.callbacks.append(probe)
atexit.register(lambda: sys.stderr.write(
    f"GC-PROBE {spent[0]:.2f} {runs[0]} {runs[1]} {runs[2]} "
    f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n"))
from snakemake.cli import main
sys.argv[0] = "snakemake"
main()
"""


def gc_figures(out: str) -> str:
    """The probe's line as words: collection time, collections per generation, peak memory."""
    m = re.search(r"^GC-PROBE ([\d.]+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if not m:
        return "no garbage-collection figures (the probe printed nothing)"
    return (
        f"garbage collection {float(m[1]):.1f} s ({m[2]}/{m[3]}/{m[4]} collections of "
        f"generations 0/1/2), peak memory {int(m[5]) / 1024:.0f} MiB"
    )


def plan(cmd: list[str]) -> tuple[float, int | None, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out}")
    m = re.search(r"^total\s+(\d+)$", out, re.M)
    return seconds, (int(m[1]) if m else None), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--videos", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--models", default="maskrcnn,yolact")
    ap.add_argument("--repeat", type=int, default=1, help="plan each N times; report medians")
    ap.add_argument(
        "--gc", action="store_true", help="time Python's garbage collector in each plan"
    )
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, not {args.repeat}")
    snakemake = Path(sys.executable).parent / "snakemake"
    launcher = [sys.executable, "-c", GC_PROBE] if args.gc else [str(snakemake)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        cfg = make_config(work, args.videos, args.shards, args.models.split(","))
        t_cfg = time.perf_counter() - t0
        cmd = [
            *launcher,
            "-n",
            "--quiet",
            "rules",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(ROOT / "config" / "config.yaml"),
            str(cfg),
            "--cores",
            "2",
        ]
        ref = work / "reference"
        ref.mkdir()
        (ref / "placeholder.mp4").write_bytes(b"")
        (ref / "Snakefile").write_text(
            REFERENCE.format(videos=args.videos, shards=args.shards, models=args.models.split(","))
        )
        ref_cmd = [*launcher, "-n", "--quiet", "rules", "--directory", str(ref)]
        ref_cmd += ["--snakefile", str(ref / "Snakefile"), "-c2"]
        times, ref_times, gc_lines = [], [], []
        for _ in range(args.repeat):
            seconds, jobs, out = plan(cmd)
            ref_seconds, ref_jobs, ref_out = plan(ref_cmd)
            times.append(seconds)
            ref_times.append(ref_seconds)
            if args.gc:
                gc_lines.append(
                    f"  ethoflow {seconds:.1f} s: {gc_figures(out)}\n"
                    f"  reference {ref_seconds:.1f} s: {gc_figures(ref_out)}"
                )
        seconds, ref_seconds = statistics.median(times), statistics.median(ref_times)
    version = subprocess.run([str(snakemake), "--version"], capture_output=True, text=True)
    print(f"snakemake {version.stdout.strip()}")
    if args.repeat > 1:
        print(f"runs (s): ethoflow {', '.join(f'{t:.1f}' for t in times)}")
        print(f"          reference {', '.join(f'{t:.1f}' for t in ref_times)}")
    if gc_lines:
        print("garbage collection, run by run:")
        print("\n".join(gc_lines))
    per_rule = dict(re.findall(r"^(infer_shard|track|train|probe)\s+(\d+)$", out, re.M))
    print(f"config: {args.videos} videos x {args.shards} shards x {args.models} ({t_cfg:.1f} s)")
    print(f"planned jobs: {jobs}  ({', '.join(f'{k} {v}' for k, v in per_rule.items())})")
    median = ", median" if args.repeat > 1 else ""
    print(f"planning wall time (snakemake -n, process start to exit{median}): {seconds:.1f} s")
    if jobs:
        print(f"jobs planned per second: {jobs / seconds:.0f} ({1000 * seconds / jobs:.2f} ms/job)")
    if ref_jobs:
        print(
            f"reference (bare Snakefile, same shape): {ref_jobs} jobs in {ref_seconds:.1f} s "
            f"({1000 * ref_seconds / ref_jobs:.2f} ms/job)"
        )
    if jobs and ref_jobs:
        ratio = (seconds / jobs) / (ref_seconds / ref_jobs)
        print(f"time per job, ethoflow / bare Snakefile: {ratio:.2f}")


if __name__ == "__main__":
    main()
