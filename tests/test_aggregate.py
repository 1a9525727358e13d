"""Per-video measures and their per-cohort / per-group summaries."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from ethoflow import aggregate as A
from ethoflow.io import EthoflowError, tracktable
from ethoflow.labels.qa.checks import empty as empty_qa
from ethoflow.labels.qa.checks import write as write_qa


def track(video, speeds, fps=10.0, gap_after=None):
    """One identity moving along x at the given speeds (px/s), one row per frame."""
    x = np.r_[0.0, np.cumsum(np.asarray(speeds, float) / fps)]
    frames = np.arange(len(x))
    if gap_after is not None:
        frames = np.r_[frames[: gap_after + 1], frames[gap_after + 1 :] + 5]
    n = len(x)
    return pd.DataFrame(
        {
            "video": video,
            "model": "m",
            "frame": frames,
            "time_s": frames / fps,
            "identity": "mouse1",
            "score": 1.0,
            "x1": x - 1,
            "y1": 0.0,
            "x2": x + 1,
            "y2": 2.0,
            "cx": x,
            "cy": np.zeros(n),
            "area": 4,
            "mask": None,
            "source": "detected",
        }
    )


def test_kinematics_from_consecutive_frames():
    k = A.kinematics(track("v", [10, 30, 30, 10]), moving_px_s=20)["mouse1"]
    assert k["speed_px_s"] == pytest.approx(20.0)
    assert k["distance_px"] == pytest.approx(8.0)
    assert k["moving_share"] == pytest.approx(0.5)
    # a gap in the frames is not bridged: the step across it is left out
    g = A.kinematics(track("v", [10, 10, 50], gap_after=2), moving_px_s=20)["mouse1"]
    assert g["distance_px"] == pytest.approx(2.0) and g["moving_share"] == 0.0
    # a video run on a copy shrunk by 2: lengths back in the original video's pixels
    s = A.kinematics(track("v", [10, 30, 30, 10]), moving_px_s=20, scale=2.0)["mouse1"]
    assert s["speed_px_s"] == pytest.approx(40.0) and s["distance_px"] == pytest.approx(16.0)


@pytest.fixture()
def run(tmp_path):
    """Four videos (two per group, two cohorts), their tracks, QA tables and budgets."""
    videos = {"a1": ("c1", "wt", 10), "a2": ("c1", "ko", 30), "b1": ("c2", "wt", 12),
              "b2": ("c2", "ko", 34)}  # fmt: skip
    tracks, qa, budgets = {}, {}, {}
    rows = []
    for v, (cohort, group, speed) in videos.items():
        p = tmp_path / f"{v}.parquet"
        tracktable.write(track(v, [speed] * 20), p)
        tracks[("m", v)] = p
        q = empty_qa()
        if v == "a2":
            q = pd.DataFrame(
                {"video": v, "name": "", "frame": [3, 3, 7], "identity": "mouse1",
                 "check": ["jump", "area", "jump"], "value": 1.0, "limit": 0.5,
                 "detail": ""}
            )  # fmt: skip
        write_qa(q, tmp_path / f"{v}.qa.parquet")
        qa[("m", v)] = tmp_path / f"{v}.qa.parquet"
        b = tmp_path / f"{v}.csv"
        pd.DataFrame(
            {"video": v, "animal": ["mouse1", "mouse1"], "behaviour": ["rest", "run"],
             "seconds": [1.0, 1.0], "share": [0.25, 0.75], "bouts": [1, 2]}
        ).to_csv(b, index=False)  # fmt: skip
        budgets[("tcn/m", v)] = b
        rows.append({"video": v, "cohort": cohort, "group": group, "genotype": group})
    summary = pd.DataFrame(
        [{"model": "m", "video": v, "kind": "model", "mota": 0.9, "idf1": None} for v in videos]
        + [{"model": "classical", "video": "a1", "kind": "classical", "mota": 0.1, "idf1": 0.1}]
    )
    return A.measures_table(
        summary=summary, tracks=tracks, qa=qa, budgets=budgets, conditions=pd.DataFrame(rows)
    )


def test_measures_table(run):
    m = run
    assert set(m.columns) >= {"video", "source", "animal", "measure", "value", "cohort", "group"}
    # only the trained models' tracking metrics; missing values are left out
    assert set(m[m["measure"] == "mota"]["source"]) == {"m"}
    assert "idf1" not in set(m["measure"])
    one = m[(m["video"] == "a2") & (m["animal"] == "all")].set_index(["source", "measure"])
    assert one.loc[("m", "speed_px_s"), "value"] == pytest.approx(30.0)
    assert one.loc[("m", "qa_jump"), "value"] == 2 and one.loc[("m", "qa_area"), "value"] == 1
    assert one.loc[("m", "qa_flagged_frames"), "value"] == 2
    assert one.loc[("m", "qa_flagged_share"), "value"] == pytest.approx(2 / 21)
    assert one.loc[("tcn/m", "run_share"), "value"] == pytest.approx(0.75)
    assert set(m["genotype"]) == {"wt", "ko"}


def test_group_table_and_tests(run):
    g = A.group_table(run)
    row = g[(g["by"] == "group") & (g["level"] == "ko") & (g["measure"] == "speed_px_s")].iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(32.0)
    assert row["sd"] == pytest.approx(np.std([30, 34], ddof=1))
    assert json.loads(row["values"]) == pytest.approx({"a2": 30.0, "b2": 34.0})
    assert set(g[g["by"] == "cohort"]["level"]) == {"c1", "c2"}
    t = A.two_group_tests(run, [["wt", "ko"]])
    s = t[t["measure"] == "speed_px_s"].iloc[0]
    ref = mannwhitneyu([10, 12], [30, 34], alternative="two-sided")
    assert (s["n_a"], s["n_b"]) == (2, 2)
    assert s["u"] == ref.statistic and s["p"] == pytest.approx(ref.pvalue)
    same = t[t["measure"] == "mota"].iloc[0]  # equal values: no difference, p = 1
    assert same["p"] == 1.0
    with pytest.raises(EthoflowError, match="'het' has no videos"):
        A.two_group_tests(run, [["wt", "het"]])
    by_genotype = A.two_group_tests(run, [["wt", "ko"]], by="genotype")
    assert len(by_genotype) == len(t)


def test_measures_of_a_video_without_conditions_are_an_error(run, tmp_path):
    p = tmp_path / "x.parquet"
    tracktable.write(track("x", [1, 1]), p)
    with pytest.raises(EthoflowError, match="no conditions row: \\['x'\\]"):
        A.measures_table(
            summary=None,
            tracks={("m", "x"): p},
            qa={},
            budgets={},
            conditions=pd.DataFrame({"video": ["y"], "cohort": [None], "group": [None]}),
        )
