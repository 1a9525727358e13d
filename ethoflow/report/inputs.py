"""What the report reads, and the readers of the files it reads whole.

The library never derives a key from a path: the workflow knows its folder layout and says
which (tracker, video) a track table belongs to, which model a training log, which video a truth
table. Only the COCO results name their model themselves (their ``model`` field).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ethoflow.io import EthoflowError, read_json, tracktable

PathLike = str | os.PathLike


@dataclass(frozen=True)
class ReportInputs:
    """The files of one report.

    Args:
        summary_csv: the summary table, one row per tracker x video.
        coco_files: per-model COCO results (JSON); each names its model in a ``model`` field.
        tracks: ``(tracker, video)`` -> track table (Parquet).
        truth: video -> its ground truth (a track table, read whole, as the metrics read it).
        train_logs: model -> training loss log (CSV).
        overlays: ``(model, video, mp4)`` of every overlay video, in the order shown.
        bootstrap: video -> folder of masks bootstrapped from its keypoints (the bootstrap
            step's output: ``bootstrap.csv`` and ``overlays/*.png``).
        qa: name shown -> QA table (Parquet), in the order shown.
        aggregate, groups, tests: the aggregate step's per-video measures and group table
            (Parquet) and two-group tests (CSV); None leaves the Groups section out.
    """

    summary_csv: PathLike
    coco_files: Sequence[PathLike] = ()
    tracks: Mapping[tuple[str, str], PathLike] = field(default_factory=dict)
    truth: Mapping[str, PathLike] = field(default_factory=dict)
    train_logs: Mapping[str, PathLike] = field(default_factory=dict)
    overlays: Sequence[tuple[str, str, PathLike]] = ()
    bootstrap: Mapping[str, PathLike] = field(default_factory=dict)
    qa: Mapping[str, PathLike] = field(default_factory=dict)
    aggregate: PathLike | None = None
    groups: PathLike | None = None
    tests: PathLike | None = None


def read_summary(path: PathLike) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["model", "video"])


def read_coco(files: Sequence[PathLike]) -> dict[str, dict]:
    """``{model: COCO results}`` of the files, by the ``model`` field each holds
    (``cohort/model`` where a cohort trained it: its ``cohort`` field)."""
    out = {}
    for f in files:
        d = read_json(f)
        if "model" not in d:
            raise EthoflowError(f"{f}: COCO results without a 'model' field")
        key = f"{d['cohort']}/{d['model']}" if d.get("cohort") else str(d["model"])
        out[key] = d
    return out


def read_truth(truth: Mapping[str, PathLike]) -> dict[str, pd.DataFrame]:
    """``{video: truth table}``; a file given for several videos is read once."""
    tables: dict[Path, pd.DataFrame] = {}
    out = {}
    for video, path in truth.items():
        path = Path(path)
        if path not in tables:
            tables[path] = tracktable.read(path)
        out[str(video)] = tables[path]
    return out


def read_train_log(path: PathLike) -> pd.DataFrame:
    """A training loss log; an empty file is an empty table (the model logged nothing)."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
