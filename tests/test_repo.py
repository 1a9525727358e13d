"""Repository hygiene: the README's commands, CI, formatting."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_starts_with_two_commands_and_ci_runs_the_test_one():
    cmds = readme_commands()
    assert len(cmds) == 2
    assert "snakemake --cores 2" in cmds[0] and "pytest" in cmds[1]
    assert cmds[1] in (REPO / ".ci" / "run").read_text()


def test_code_is_formatted_and_lint_clean():
    paths = ["ethoflow", "tests", "scripts", "bench", "hubconf.py"]
    paths = [p for p in paths if (REPO / p).exists()]
    for args in (["check", *paths], ["format", "--check", *paths]):
        proc = subprocess.run([str(BIN / "ruff"), *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
