import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = [
    "Snakefile",
    "rules",
    "scripts",
    "config",
    "report",
    "envs",
    "ethoflow",
    "profiles",
    "hubconf.py",
]


def snakemake_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake"), *args]


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        snakemake_cmd("--cores", "2", *args), cwd=workdir, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs per rule that ``snakemake -n`` plans (empty when there is nothing to do)."""
    out = run_snakemake(workdir, "-n", *args).stdout
    if "Nothing to be done" in out:
        return {}
    block = out.split("Job stats:")[1]
    jobs = {}
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        jobs[m[1]] = int(m[2])
    jobs.pop("total", None)
    return jobs


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow, so tests never touch the repo's results/."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    for cfg in (REPO / "tests" / "configs").glob("*.yaml"):
        shutil.copy2(cfg, dest / cfg.name)
    return dest


TINY = ("--configfile", "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole demo DAG, run locally on the tiny configuration. Tests may change this working
    directory (edit labels, re-run); ``tiny_reference`` keeps the results as first made."""
    wd = copy_workflow(tmp_path_factory.mktemp("wf"))
    run_snakemake(wd, *TINY)
    ref = tmp_path_factory.mktemp("reference")
    for part in ("resources", "results"):
        shutil.copytree(wd / part, ref / part)
    return wd, ref


@pytest.fixture(scope="session")
def tiny_reference(tiny_run):
    return tiny_run[1]


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """Two small demo videos with truth and labels (one labelled, one not)."""
    from ethoflow.demo import make_demo_video

    root = tmp_path_factory.mktemp("demo")
    out = {}
    for name, seed, n_lab in (("va", 1, 10), ("vb", 2, 0)):
        make_demo_video(
            root / f"{name}.mp4",
            root / f"{name}.parquet",
            root / f"labels_{name}",
            name=name,
            seed=seed,
            n_frames=40,
            size=128,
            n_labelled=n_lab,
        )
        out[name] = dict(
            video=root / f"{name}.mp4",
            truth=root / f"{name}.parquet",
            labels=root / f"labels_{name}",
        )
    return out


#: Real data beside the checkout (read-only, never copied into the repo); override with
#: ETHOFLOW_SHARED_DATA. Tests that need it skip cleanly where it is absent.
SHARED_DATA = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` (the SLEAP fly clip, the DeepLabCut open-field mouse), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
