"""The video sheet: one row per video (the snakemake-workflows ``samples.tsv`` convention).

``config["video_sheet"]`` names a TSV (``.tsv``/``.txt``) or CSV (``.csv``) file whose first
line names the columns. Known columns (``config/schemas/videos.schema.yaml`` validates each row):

    video path cohort group labels keypoints truth pose behaviour_labels behaviour_format
    downscale clip_start clip_stop shards overlay

Every other column is a *condition* (genotype, treatment, day, ...): kept as text and carried,
with ``cohort`` and ``group``, into the aggregate tables only (never into a per-video job, so
editing a condition re-runs aggregation and the report, nothing else).

- Empty cells are absent; lines that are blank or start with ``#`` are skipped.
- Relative paths (``path, labels, keypoints, truth, pose, behaviour_labels``) resolve against
  the sheet's own folder; every named file or folder must exist (``truth`` may be
  ``keypoints``).
- A ``path`` holding a glob (``*``, ``?``, ``[``) becomes one video per matching file, named
  ``{video}_{stem}`` (characters other than letters, digits, ``_`` and ``-`` in the file's stem
  become ``_``); the row's other path columns then must hold ``{stem}``, replaced per file.
- Errors name the sheet, the row (its line in the file) and the column; nothing is run.

:func:`read_sheet` returns a :class:`VideoSheet`: the per-video config entries (the shape of
the config's ``videos:`` mapping, which stays for small projects), the conditions table and
the videos marked for an overlay. :func:`glob_videos` does the same for ``video_glob``.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from ethoflow.io import EthoflowError

PathLike = str | os.PathLike

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Columns with a meaning of their own; any other column is a condition.
KNOWN = (
    "video",
    "path",
    "cohort",
    "group",
    "labels",
    "keypoints",
    "truth",
    "pose",
    "behaviour_labels",
    "behaviour_format",
    "downscale",
    "clip_start",
    "clip_stop",
    "shards",
    "overlay",
)
PATH_COLUMNS = ("path", "labels", "keypoints", "truth", "pose", "behaviour_labels")
_INTEGER = ("clip_start", "clip_stop", "shards")
_NUMBER = ("downscale",)
_BOOLEAN = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_GLOB = re.compile(r"[*?\[]")
#: Column names the aggregate tables use themselves: a condition may not take them.
RESERVED = ("source", "animal", "measure", "value", "by", "level", "n", "mean", "sd", "median")


@dataclass
class VideoSheet:
    """What a sheet says: ``videos`` (name -> entry of the config's ``videos:`` shape),
    ``conditions`` (one row per video: ``video, cohort, group`` and the condition columns) and
    ``overlay`` (the videos whose ``overlay`` cell is true)."""

    videos: dict[str, dict] = field(default_factory=dict)
    conditions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["video", "cohort", "group"])
    )
    overlay: list[str] = field(default_factory=list)


class _Where:
    """The place a message points at: ``sheet: row N (line L), column C``."""

    def __init__(self, sheet: PathLike, row: int, line: int):
        self.sheet, self.row, self.line = str(sheet), row, line

    def error(self, column: str | None, problem: str) -> EthoflowError:
        col = f", column {column!r}" if column else ""
        return EthoflowError(f"{self.sheet}: row {self.row} (line {self.line}){col}: {problem}")


def _delimiter(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in (".tsv", ".txt", ".tab"):
        return "\t"
    if ext == ".csv":
        return ","
    raise EthoflowError(f"{path}: a video sheet is a .tsv or .csv file, not {ext or 'no ending'!r}")


def _raw_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, {column: cell}) of every data row."""
    if not path.is_file():
        raise EthoflowError(f"{path}: video sheet not found")
    delim = _delimiter(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delim)
            header, rows = None, []
            for cells in reader:
                if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                    continue
                cells = [c.strip() for c in cells]
                if header is None:
                    while cells and not cells[-1]:  # spreadsheets pad the header with empties
                        cells.pop()
                    header = cells
                    continue
                line = reader.line_num
                if len(cells) > len(header) and any(cells[len(header) :]):
                    raise EthoflowError(
                        f"{path}: row {len(rows) + 1} (line {line}): {len(cells)} cells, the "
                        f"header names {len(header)} columns"
                    )
                rows.append((line, dict(zip(header, cells + [""] * len(header)))))
    except UnicodeDecodeError as e:
        raise EthoflowError(f"{path}: not a UTF-8 text file ({e})") from None
    except csv.Error as e:
        raise EthoflowError(f"{path}: malformed {delim!r}-separated file ({e})") from None
    if header is None:
        raise EthoflowError(f"{path}: the video sheet is empty (no header line)")
    seen = set()
    for name in header:
        if not name:
            raise EthoflowError(f"{path}: the header has an empty column name")
        if name in seen:
            raise EthoflowError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    if "video" not in header:
        raise EthoflowError(f"{path}: the header has no 'video' column (columns: {header})")
    if not rows:
        raise EthoflowError(f"{path}: the video sheet has a header but no video rows")
    return header, rows


def _typed(cells: Mapping[str, str], where: _Where) -> dict:
    """Cells -> typed values (empty cells left out)."""
    out = {}
    for col, value in cells.items():
        if value == "":
            continue
        if col in _INTEGER:
            try:
                out[col] = int(value)
            except ValueError:
                raise where.error(col, f"{value!r} is not a whole number") from None
        elif col in _NUMBER:
            try:
                out[col] = float(value)
            except ValueError:
                raise where.error(col, f"{value!r} is not a number") from None
            if not math.isfinite(out[col]):
                raise where.error(col, f"{value!r} is not a finite number")
        elif col == "overlay":
            if value.lower() not in _BOOLEAN:
                raise where.error(col, f"{value!r} is not true or false")
            out[col] = _BOOLEAN[value.lower()]
        else:
            out[col] = value
    return out


def _validator(schema: PathLike | Mapping):
    import jsonschema

    if not isinstance(schema, Mapping):
        with open(schema, encoding="utf-8") as fh:
            schema = yaml.safe_load(fh)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _check_schema(row: dict, validator, where: _Where) -> None:
    known = {k: v for k, v in row.items() if k in KNOWN}
    errors = sorted(validator.iter_errors(known), key=lambda e: list(e.path))
    if not errors:
        return
    e = errors[0]
    column = str(e.path[0]) if e.path else None
    if column is None and e.validator == "anyOf":
        raise where.error("path", "a row needs a video `path` (or a `pose` file for pose-only)")
    if column is None and e.validator == "required":
        raise where.error(None, e.message)
    if e.validator == "pattern" and column in ("video", "cohort"):
        raise where.error(
            column,
            f"{row[column]!r} has characters other than letters, digits, '_' and '-' "
            "(or does not start with a letter or digit)",
        )
    raise where.error(column, e.message)


def _resolve(base: Path, value: str) -> str:
    if os.path.isabs(value):
        return os.path.normpath(value)
    return os.path.normpath(os.path.join(base, value)) if str(base) not in ("", ".") else value


def _safe_stem(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem).strip("_") or "video"


def _expand(row: dict, base: Path, where: _Where) -> list[tuple[str, dict]]:
    """(video name, row) for a row: itself, or one per file its glob ``path`` matches."""
    path = row.get("path")
    if not path or not _GLOB.search(path):
        return [(row["video"], row)]
    pattern = _resolve(base, path)
    matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not matches:
        raise where.error("path", f"the glob {pattern!r} matches no file")
    for col in PATH_COLUMNS[1:]:
        if col in row and "{stem}" not in row[col] and row.get(col) != "keypoints":
            raise where.error(
                col,
                f"a glob row's {col} would be shared by {len(matches)} videos: write it with "
                "{stem} (the video file's name without its ending)",
            )
    out = []
    for m in matches:
        stem = Path(m).stem
        r = {k: (v.replace("{stem}", stem) if isinstance(v, str) else v) for k, v in row.items()}
        r["path"] = m
        out.append((f"{row['video']}_{_safe_stem(m)}", r))
    return out


def _entry(row: dict, base: Path, where: _Where) -> dict:
    """A typed row -> the config's ``videos:`` entry (paths resolved and checked)."""
    entry: dict = {}
    for col in PATH_COLUMNS:
        value = row.get(col)
        if value is None:
            continue
        if col == "truth" and value == "keypoints":
            entry[col] = value
            continue
        resolved = _resolve(base, value)
        if not os.path.exists(resolved):
            what = "folder" if col == "labels" else "file"
            raise where.error(col, f"{what} not found: {resolved}")
        if col == "behaviour_labels":
            entry[col] = {"path": resolved, "format": row.get("behaviour_format", "bouts")}
        else:
            entry[col] = resolved
    if "behaviour_format" in row and "behaviour_labels" not in row:
        raise where.error("behaviour_format", "given without a behaviour_labels file")
    if "downscale" in row:
        entry["downscale"] = row["downscale"]
    if "shards" in row:
        entry["shards"] = row["shards"]
    a, b = row.get("clip_start"), row.get("clip_stop")
    if (a is None) != (b is None):
        missing = "clip_stop" if b is None else "clip_start"
        raise where.error(missing, "clip_start and clip_stop come together")
    if a is not None:
        if b <= a:
            raise where.error("clip_stop", f"clip_stop {b} is not after clip_start {a}")
        entry["clip"] = [a, b]
    return entry


def read_sheet(
    path: PathLike, schema: PathLike | Mapping, cohorts: Iterable[str] | None = None
) -> VideoSheet:
    """Read, validate and resolve a video sheet (see the module docstring). With ``cohorts``
    (the config's cohort names), every row names one of them."""
    cohorts = None if cohorts is None else set(cohorts)
    path = Path(path)
    header, rows = _raw_rows(path)
    validator = _validator(schema)
    base = path.parent
    conditions = [c for c in header if c not in KNOWN]
    taken = [c for c in conditions if c in RESERVED]
    if taken:
        raise EthoflowError(
            f"{path}: column {taken[0]!r}: a condition column may not be called {taken[0]!r} "
            f"(the aggregate tables use {', '.join(RESERVED)}); rename it"
        )
    sheet = VideoSheet()
    seen: dict[str, int] = {}
    cond_rows = []
    for n, (line, cells) in enumerate(rows, start=1):
        where = _Where(path, n, line)
        row = _typed(cells, where)
        if "video" not in row:
            raise where.error("video", "empty: every row names its video")
        _check_schema(row, validator, where)
        if cohorts is not None and row.get("cohort") not in cohorts:
            raise where.error(
                "cohort",
                f"unknown cohort {row['cohort']!r} (the config's cohorts: {sorted(cohorts)})"
                if row.get("cohort")
                else f"empty: with cohorts configured every video names one of {sorted(cohorts)}",
            )
        for name, r in _expand(row, base, where):
            if not NAME.match(name):
                raise where.error("video", f"the video name {name!r} has illegal characters")
            if name in seen:
                raise where.error(
                    "video", f"duplicate video name {name!r} (also in row {seen[name]})"
                )
            seen[name] = n
            sheet.videos[name] = _entry(r, base, where)
            if r.get("overlay"):
                sheet.overlay.append(name)
            cond_rows.append(
                {
                    "video": name,
                    "cohort": r.get("cohort"),
                    "group": r.get("group"),
                    **{c: cells.get(c, "") for c in conditions},
                }
            )
    sheet.conditions = pd.DataFrame(cond_rows, columns=["video", "cohort", "group", *conditions])
    return sheet


def glob_videos(patterns: str | Sequence[str], base: PathLike = ".") -> VideoSheet:
    """``video_glob``: every video file matching the patterns, named by its file's stem."""
    if isinstance(patterns, str):
        patterns = [patterns]
    sheet = VideoSheet()
    rows = []
    for pattern in patterns:
        full = _resolve(Path(base), pattern)
        matches = sorted(p for p in glob.glob(full) if os.path.isfile(p))
        if not matches:
            raise EthoflowError(f"config: video_glob {pattern!r} matches no file")
        for m in matches:
            name = _safe_stem(m)
            if name in sheet.videos:
                raise EthoflowError(
                    f"config: video_glob: two files give the video name {name!r} "
                    f"({sheet.videos[name]['path']} and {m})"
                )
            sheet.videos[name] = {"path": m}
            rows.append({"video": name, "cohort": None, "group": None})
    sheet.conditions = pd.DataFrame(rows, columns=["video", "cohort", "group"])
    return sheet


def merge_sheets(sheets: Iterable[VideoSheet], yaml_videos: Mapping[str, dict]) -> VideoSheet:
    """The config's ``videos:`` mapping (its entries' ``cohort`` and ``group`` go to the
    conditions), ``video_glob`` and the sheet as one: a name given twice is an error."""
    out = VideoSheet(
        videos={
            v: {k: x for k, x in (e or {}).items() if k not in ("cohort", "group")}
            for v, e in yaml_videos.items()
        }
    )
    frames = [
        pd.DataFrame(
            [
                {"video": v, "cohort": (e or {}).get("cohort"), "group": (e or {}).get("group")}
                for v, e in yaml_videos.items()
            ],
            columns=["video", "cohort", "group"],
        )
    ]
    for s in sheets:
        for name, entry in s.videos.items():
            if name in out.videos:
                raise EthoflowError(
                    f"config: the video {name!r} is given twice (videos:, video_glob or the "
                    "video sheet)"
                )
            out.videos[name] = entry
        out.overlay += s.overlay
        frames.append(s.conditions)
    frames = [f for f in frames if len(f)]
    if frames:
        out.conditions = pd.concat(frames, ignore_index=True)
    return out


def conditions_records(conditions: pd.DataFrame) -> list[dict]:
    """The conditions table as plain records (a rule's params): None for empty cells."""
    df = conditions.astype(object).where(conditions.notna(), None)
    return [{k: (None if v == "" else v) for k, v in r.items()} for r in df.to_dict("records")]


def cohort_plan(
    cohorts: Mapping[str, Mapping],
    video_cohorts: Mapping[str, str | None],
    labelled: Iterable[str],
    training: bool = True,
) -> dict[str, str]:
    """video -> the cohort whose model it is inferred with (its own, or ``model_from``).

    Errors: a video with no cohort or an unknown one, ``model_from`` naming an unknown cohort or
    one that itself borrows, a cohort that trains (its own videos, or another's ``model_from``)
    without ``identities`` or without a labelled video (``training``: the run trains models)."""
    for name, c in cohorts.items():
        src = (c or {}).get("model_from")
        if src is not None and src not in cohorts:
            raise EthoflowError(f"config: cohorts.{name}.model_from: unknown cohort {src!r}")
        if src is not None and (cohorts[src] or {}).get("model_from"):
            raise EthoflowError(
                f"config: cohorts.{name}.model_from: {src!r} borrows its model itself "
                f"(from {cohorts[src]['model_from']!r}); name the cohort that trains"
            )
    plan = {}
    for video, cohort in video_cohorts.items():
        if not cohort:
            raise EthoflowError(
                f"config: video {video!r} has no cohort (with `cohorts` configured, every "
                f"video names one of {sorted(cohorts)})"
            )
        if cohort not in cohorts:
            raise EthoflowError(
                f"config: video {video!r}: unknown cohort {cohort!r} (cohorts: {sorted(cohorts)})"
            )
        plan[video] = (cohorts[cohort] or {}).get("model_from") or cohort
    if not training:
        return plan
    trained = set(plan.values())
    with_labels = {plan[v] for v in labelled if v in plan}
    for c in sorted(trained):
        if not (cohorts[c] or {}).get("identities"):
            raise EthoflowError(
                f"config: cohorts.{c}: a cohort whose model is trained needs `identities` "
                "(one class per animal)"
            )
        if c not in with_labels:
            raise EthoflowError(
                f"config: cohorts.{c}: no labelled video to train its model on (label one of "
                f"its videos, or give it `model_from: <cohort>`)"
            )
    return plan
