"""The consistency checks (:data:`CHECKS`) of a table of masks, and QA tables on disk."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ethoflow.defaults import QA
from ethoflow.io import EthoflowError, atomic_path, tracktable
from ethoflow.io import masks as M
from ethoflow.io.labelled import frame_name

log = logging.getLogger(__name__)


#: Check name -> what it flags, and what ``value`` and ``limit`` hold.
CHECKS = {
    "overlap": "two identities' masks overlap in a frame: value = mask IoU, limit = max_overlap",
    "area": "a mask's area leaves its identity's usual range: value = area / the identity's "
    "median area (per video), limit = the area_ratio bound crossed",
    "missing": "an identity is absent from a frame: value = its rows there (0), limit = 1",
    "duplicate": "an identity is more than once in a frame: value = its rows there, limit = 1",
    "jump": "a centroid moves too far from the identity's previous frame f0 (f1 - f0 <= "
    "max_gap): value = distance in px, limit = max_jump * (f1 - f0)",
}


QA_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("frame", pa.int64()),
        ("name", pa.string()),
        ("identity", pa.string()),
        ("check", pa.string()),
        ("value", pa.float64()),
        ("limit", pa.float64()),
        ("detail", pa.string()),
    ],
    metadata={
        b"description": b"ethoflow QA table: one row per failed consistency check",
        b"check": " | ".join(CHECKS).encode(),
    },
)


QA_COLUMNS = [f.name for f in QA_SCHEMA]


#: Schema metadata key of the settings a QA table was made with (JSON).
SETTINGS_KEY = b"ethoflow_qa"


def empty() -> pd.DataFrame:
    """An empty QA table with its columns and dtypes."""
    return _typed(pd.DataFrame({c: [] for c in QA_COLUMNS}))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df[QA_COLUMNS].copy()
    for c in ("video", "name", "identity", "check", "detail"):
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    df["frame"] = df["frame"].astype(np.int64)
    df["value"] = df["value"].astype(np.float64)
    df["limit"] = df["limit"].astype(np.float64)
    return df


def settings_of(settings: dict | None) -> dict:
    """The config's ``qa`` section, with defaults for absent keys, validated."""
    s = {**QA, **(settings or {})}
    unknown = sorted(set(s) - set(QA))
    if unknown:
        log.warning("qa settings: keys %s are not used by this version (ignored)", unknown)
    try:
        lo, hi = (float(x) for x in s["area_ratio"])
        out = {
            "max_overlap": float(s["max_overlap"]),
            "area_ratio": (lo, hi),
            "max_jump": float(s["max_jump"]),
            "max_gap": int(s["max_gap"]),
            "review_limit": int(s["review_limit"]),
        }
    except (TypeError, ValueError):
        raise EthoflowError(f"qa settings: not numbers as expected: {settings}") from None
    if not (0 < lo < hi) or out["max_jump"] <= 0 or out["max_gap"] < 1 or out["review_limit"] < 0:
        raise EthoflowError(
            "qa settings: need 0 < area_ratio[0] < area_ratio[1], max_jump > 0, max_gap >= 1, "
            f"review_limit >= 0 (got {settings})"
        )
    return out


def _is_rle(m) -> bool:
    return isinstance(m, dict) and "counts" in m and "size" in m


def _prepare(table: pd.DataFrame, video: str | None) -> pd.DataFrame:
    """The columns the checks use, typed; geometry derived from the masks where absent."""
    if "frame" not in table.columns or "identity" not in table.columns:
        raise EthoflowError(f"qa: the table needs columns frame and identity, has {list(table)}")
    t = pd.DataFrame(index=pd.RangeIndex(len(table)))
    if "video" in table.columns:
        t["video"] = table["video"].astype(object).where(table["video"].notna(), "").to_numpy()
    else:
        t["video"] = video or ""
    t["video"] = t["video"].astype(str)
    t["frame"] = table["frame"].to_numpy().astype(np.int64)
    t["identity"] = table["identity"].astype(str).to_numpy()
    masks = table["mask"].to_numpy() if "mask" in table.columns else np.full(len(t), None)
    t["mask"] = masks
    if "name" in table.columns:
        t["name"] = table["name"].astype(object).where(table["name"].notna(), "").to_numpy()
    else:
        t["name"] = ""
    t["name"] = t["name"].astype(str)
    unnamed = (t["name"] == "").to_numpy()
    if unnamed.any():
        t.loc[unnamed, "name"] = [
            frame_name(v, f) if v else f"{f:06d}"
            for v, f in zip(t["video"][unnamed], t["frame"][unnamed])
        ]
    geometry = ["cx", "cy", "area", "x1", "y1", "x2", "y2"]
    have = [c for c in geometry if c in table.columns]
    for c in have:
        t[c] = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=np.float64)
    if len(have) < len(geometry):
        derived = pd.DataFrame(
            [
                tracktable.row_from_mask(m) if _is_rle(m) else dict.fromkeys(geometry, np.nan)
                for m in masks
            ],
            columns=geometry,
            dtype=np.float64,
        )
        for c in geometry:
            if c not in have:
                t[c] = derived[c].to_numpy() if len(t) else np.array([], dtype=np.float64)
    return t


def _rows(t: pd.DataFrame, idx, check: str, value, limit, detail, identity=None) -> pd.DataFrame:
    idx = np.asarray(idx, dtype=np.int64)
    return pd.DataFrame(
        {
            "video": t["video"].to_numpy()[idx],
            "frame": t["frame"].to_numpy()[idx],
            "name": t["name"].to_numpy()[idx],
            "identity": t["identity"].to_numpy()[idx] if identity is None else identity,
            "check": check,
            "value": np.asarray(value, dtype=np.float64),
            "limit": np.broadcast_to(np.asarray(limit, dtype=np.float64), idx.shape),
            "detail": list(detail),
        }
    )


def _overlap(t: pd.DataFrame, identities: Sequence[str], max_overlap: float) -> pd.DataFrame:
    """IoU of every pair of identities in one frame whose boxes intersect."""
    n = len(t)
    if n < 2:
        return empty()
    group = t.groupby(["video", "name"], sort=False).ngroup().to_numpy()
    order = np.argsort(group, kind="stable")
    g_sorted = group[order]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    sizes = np.diff(np.r_[starts, n])
    ia, ib = [], []
    for k in np.unique(sizes[sizes > 1]):
        # all frames holding k rows at once: (frames, k) row indices, then their pairs
        members = order[starts[sizes == k][:, None] + np.arange(k)[None, :]]
        a, b = np.triu_indices(k, 1)
        ia.append(members[:, a].ravel())
        ib.append(members[:, b].ravel())
    if not ia:
        return empty()
    ia, ib = np.concatenate(ia), np.concatenate(ib)
    ids = t["identity"].to_numpy()
    x1, y1, x2, y2 = (t[c].to_numpy() for c in ("x1", "y1", "x2", "y2"))
    masks = t["mask"].to_numpy()
    has = np.array([_is_rle(m) for m in masks], dtype=bool)
    keep = (
        (ids[ia] != ids[ib])
        & has[ia]
        & has[ib]
        & (np.minimum(x2[ia], x2[ib]) > np.maximum(x1[ia], x1[ib]))
        & (np.minimum(y2[ia], y2[ib]) > np.maximum(y1[ia], y1[ib]))
    )
    ia, ib = ia[keep], ib[keep]
    ious = np.zeros(len(ia))
    for k, (a, b) in enumerate(zip(ia.tolist(), ib.tolist())):
        if list(masks[a]["size"]) == list(masks[b]["size"]):
            ious[k] = M.iou_matrix([masks[a]], [masks[b]])[0, 0]
    flag = ious > max_overlap
    ia, ib, ious = ia[flag], ib[flag], ious[flag]
    rank = {name: i for i, name in enumerate(identities)}
    pairs, details = [], []
    for a, b, v in zip(ia.tolist(), ib.tolist(), ious.tolist()):
        p, q = sorted((ids[a], ids[b]), key=lambda s: (rank.get(s, len(rank)), s))
        pairs.append(f"{p}+{q}")
        details.append(f"{p} and {q} overlap: mask IoU {v:.3f} > {max_overlap:g}")
    return _rows(t, ia, "overlap", ious, max_overlap, details, identity=pairs)


def _area(t: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    area = t["area"].to_numpy()
    positive = t[t["area"] > 0]
    median = positive.groupby(["video", "identity"])["area"].median()
    keys = pd.MultiIndex.from_arrays([t["video"], t["identity"]])
    med = median.reindex(keys).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = area / med
    flag = np.flatnonzero(np.isfinite(ratio) & ((ratio < lo) | (ratio > hi)))
    limit = np.where(ratio[flag] < lo, lo, hi)
    ids = t["identity"].to_numpy()
    details = [
        f"area {area[i]:.0f} px is {ratio[i]:.2f} x the median {med[i]:.0f} px of {ids[i]} "
        f"(allowed {lo:g} to {hi:g})"
        for i in flag.tolist()
    ]
    return _rows(t, flag, "area", ratio[flag], limit, details)


def _frames_of(t: pd.DataFrame, frames, video: str | None) -> pd.DataFrame:
    """The frames an identity must be in: (video, frame, name), one row each."""
    if frames is None:
        return t[["video", "frame", "name"]].drop_duplicates(["video", "name"])
    if isinstance(frames, pd.DataFrame):
        f = _prepare(frames.assign(identity=""), video)[["video", "frame", "name"]]
        return f.drop_duplicates(["video", "name"])
    frames = np.asarray(list(frames), dtype=np.int64)
    if video is None:
        videos = t["video"].unique()
        if len(videos) > 1:
            raise EthoflowError(
                f"qa: frame numbers given for a table of several videos {sorted(videos)}: "
                "give frames as (video, frame, name) rows"
            )
        video = str(videos[0]) if len(videos) else ""
    names = [frame_name(video, int(i)) if video else f"{int(i):06d}" for i in frames]
    f = pd.DataFrame({"video": video, "frame": frames, "name": names})
    return f.drop_duplicates(["video", "name"])


def _missing(t: pd.DataFrame, identities: Sequence[str], frames: pd.DataFrame) -> pd.DataFrame:
    if not len(frames) or not len(identities):
        return empty()
    want = frames.merge(pd.DataFrame({"identity": list(identities)}), how="cross")
    have = t[["video", "name", "identity"]].drop_duplicates().assign(_have=True)
    m = want.merge(have, on=["video", "name", "identity"], how="left")
    m = m[m["_have"].isna()].reset_index(drop=True)
    details = [f"{i} is absent" for i in m["identity"]]
    return _rows(m, np.arange(len(m)), "missing", np.zeros(len(m)), 1.0, details)


def _duplicate(t: pd.DataFrame) -> pd.DataFrame:
    key = ["video", "name", "identity"]
    counts = t.groupby(key, sort=False)["frame"].transform("size").to_numpy()
    first = ~t.duplicated(key).to_numpy()
    idx = np.flatnonzero((counts > 1) & first)
    ids = t["identity"].to_numpy()
    details = [f"{ids[i]} is in the frame {counts[i]} times" for i in idx.tolist()]
    return _rows(t, idx, "duplicate", counts[idx], 1.0, details)


def _jump(t: pd.DataFrame, max_jump: float, max_gap: int) -> pd.DataFrame:
    key = ["video", "name", "identity"]
    ok = (
        ~t.duplicated(key, keep=False).to_numpy()
        & (t["frame"].to_numpy() >= 0)
        & np.isfinite(t["cx"].to_numpy())
        & np.isfinite(t["cy"].to_numpy())
    )
    s = t[ok].sort_values(["video", "identity", "frame"], kind="stable")
    if len(s) < 2:
        return empty()
    idx = s.index.to_numpy()
    same = (s["video"].to_numpy()[1:] == s["video"].to_numpy()[:-1]) & (
        s["identity"].to_numpy()[1:] == s["identity"].to_numpy()[:-1]
    )
    f = s["frame"].to_numpy()
    gap = f[1:] - f[:-1]
    dist = np.hypot(np.diff(s["cx"].to_numpy()), np.diff(s["cy"].to_numpy()))
    limit = max_jump * gap
    flag = np.flatnonzero(same & (gap >= 1) & (gap <= max_gap) & (dist > limit))
    details = [
        f"{t['identity'].iat[idx[k + 1]]} moved {dist[k]:.1f} px from frame {f[k]} "
        f"(limit {max_jump:g} px per frame x {gap[k]})"
        for k in flag.tolist()
    ]
    return _rows(t, idx[flag + 1], "jump", dist[flag], limit[flag], details)


def check(
    table: pd.DataFrame,
    identities: Sequence[str],
    *,
    max_overlap: float,
    area_ratio: Sequence[float],
    max_jump: float,
    max_gap: int,
    frames: Iterable[int] | pd.DataFrame | None = None,
    video: str | None = None,
) -> pd.DataFrame:
    """The failed checks (:data:`CHECKS`) of a table of masks, one row per flag (QA_SCHEMA).

    ``table``: one row per identity per frame with columns ``frame, identity`` and ``mask``
    (COCO RLE), optionally ``video`` (else ``video``), ``name`` (else the frame name
    ``{video}_{frame:06d}``), ``cx, cy, area`` and the box ``x1, y1, x2, y2`` (else derived
    from the mask). A frame is identified by ``(video, name)``; frames with a negative number
    (labelled images named without one) take part in every check but ``jump``.

    ``frames``: the frames every identity of ``identities`` must be in (``missing``): frame
    numbers (of the table's one video, or ``video``), or rows ``(video, frame, name)``; default
    the frames present in the table. Area medians are per identity and video, over masks of
    positive area. A jump compares an identity's centroid with its previous frame (of one
    video) if that is at most ``max_gap`` frames back; rows of a doubled identity are left out.
    """
    lo, hi = (float(x) for x in area_ratio)
    t = _prepare(table, video)
    parts = [
        _overlap(t, identities, float(max_overlap)),
        _area(t, lo, hi),
        _missing(t, identities, _frames_of(t, frames, video)),
        _duplicate(t),
        _jump(t, float(max_jump), int(max_gap)),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty()
    out = _typed(pd.concat(parts, ignore_index=True))
    rank = {c: i for i, c in enumerate(CHECKS)}
    out["_c"] = out["check"].map(rank)
    out = out.sort_values(["video", "frame", "name", "_c", "identity"], kind="stable")
    return out.drop(columns="_c").reset_index(drop=True)


def summary(qa: pd.DataFrame) -> str:
    counts = qa["check"].value_counts() if len(qa) else pd.Series(dtype=int)
    per = ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CHECKS)
    frames = qa[["video", "name"]].drop_duplicates().shape[0] if len(qa) else 0
    return f"{len(qa)} flags in {frames} frames ({per})"


def to_arrow(qa: pd.DataFrame, meta: dict | None = None) -> pa.Table:
    missing = [c for c in QA_COLUMNS if c not in qa.columns]
    if missing:
        raise ValueError(f"QA table lacks columns {missing}")
    table = pa.Table.from_pandas(_typed(qa), schema=QA_SCHEMA, preserve_index=False)
    if meta is not None:
        text = json.dumps(meta, default=str)
        table = table.replace_schema_metadata({**table.schema.metadata, SETTINGS_KEY: text})
    return table


def write(qa: pd.DataFrame, dest: str | os.PathLike, meta: dict | None = None) -> None:
    """Write a QA table atomically as Parquet (``meta``: JSON-able, in the schema metadata)."""
    table = to_arrow(qa, meta)
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp)


def read_qa(path: str | os.PathLike) -> pd.DataFrame:
    """Read a QA table; an EthoflowError naming the file if it is not one."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: QA table not found") from None
    except (pa.ArrowException, OSError) as e:
        raise EthoflowError(f"{path}: not a readable Parquet file ({e})") from None
    missing = [c for c in QA_COLUMNS if c not in table.column_names]
    if missing:
        raise EthoflowError(f"{path}: not a QA table, missing columns {missing}")
    try:
        table = table.select(QA_COLUMNS).cast(QA_SCHEMA)
    except (pa.ArrowException, ValueError) as e:
        raise EthoflowError(f"{path}: not a QA table, columns of the wrong type ({e})") from None
    df = table.to_pandas()
    bad = sorted(set(df["check"]) - set(CHECKS))
    if bad:
        raise EthoflowError(f"{path}: not a QA table, unknown checks {bad}")
    return _typed(df)
