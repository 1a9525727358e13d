"""The README's documented Python API works as written."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io import masks as M
from ethoflow.io import tracktable as T

REPO = Path(__file__).resolve().parents[1]


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_track_table_snippet_runs_on_a_track_table(tmp_path, monkeypatch):
    snippet = next(s for s in python_snippets() if "masks.decode" in s)
    mask = np.zeros((24, 32), bool)
    mask[5:11, 7:20] = True
    row = dict(
        video="demo_c",
        model="maskrcnn",
        frame=0,
        time_s=0.0,
        identity="mouse1",
        score=0.9,
        **T.geometry(mask),
        mask=M.encode(mask),
        source="detected",
    )
    T.write(pd.DataFrame([row]), tmp_path / "results/tracks/maskrcnn/demo_c.parquet")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(snippet, "README.md", "exec"), ns)
    assert ns["m"].dtype == bool and np.array_equal(ns["m"], mask)


def test_documented_names_resolve():
    from ethoflow import masks, tracktable

    assert masks is M and tracktable is T
    assert callable(tracktable.read_stats) and callable(masks.decode)
    hubconf = (REPO / "hubconf.py").read_text()
    assert "def yolact(" in hubconf and "def yolact_edge(" in hubconf
