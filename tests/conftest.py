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


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow, so tests never touch the repo's results/."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    shutil.copy2(REPO / "tests" / "configs" / "tiny.yaml", dest / "tiny.yaml")
    return dest


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
