"""Quality checks of label masks and predicted tracks (after SAM-QA), and their review queues.

One core function, :func:`check`, flags rows of a table of masks (one row per identity per
frame: ``video, frame, name, identity, mask, cx, cy, area``) that fail a consistency check
(:data:`CHECKS`): two identities overlap, an area leaves its identity's usual range, an identity
is missing or doubled in a frame, a centroid jumps. It serves both

* :func:`qa_track_table`: the checks of one tracker's track table of one video, and
* :func:`qa_labels`: the checks of every labelled frame (LabelMe and COCO files, bootstrapped
  folders), with a review queue of the flagged frames.

:func:`review_tracks` writes the review queue of a tracker's flagged frames. A review queue is a
folder of LabelMe files (``{name}.json``, the frame's PNG embedded as ``imageData`` so the JSON
alone is a complete label file, and ``{name}.png`` beside it), pre-filled with the frame's
current masks, worst frames first (most flags, then name), plus ``queue.csv`` (name, frame,
checks, details). A person corrects a file in LabelMe and copies it into the video's labels
folder; the next run trains with it.

The QA table (:data:`QA_SCHEMA`) has one row per flag: ``video, frame, name, identity, check,
value, limit, detail``. ``value`` is what was measured and ``limit`` the bound it crossed (see
:data:`CHECKS`); an ``overlap`` row names its pair in ``identity`` as ``"a+b"`` (configured
order).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ethoflow.io import EthoflowError, atomic_dir, atomic_path, tracktable
from ethoflow.io import masks as M
from ethoflow.io import video as V
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name
from ethoflow.io.labelme import write_labelme
from ethoflow.labels.annotations import load_label_file, resolve_label_inputs

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
#: Defaults of the config's ``qa`` section.
DEFAULTS = {
    "max_overlap": 0.2,
    "area_ratio": [0.5, 2.0],
    "max_jump": 50.0,
    "max_gap": 1,
    "review_limit": 50,
}
QUEUE_COLUMNS = ["name", "frame", "checks", "details"]


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
    s = {**DEFAULTS, **(settings or {})}
    unknown = sorted(set(s) - set(DEFAULTS))
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


# --------------------------------------------------------------------------------------------
# the checks


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


# --------------------------------------------------------------------------------------------
# QA tables on disk


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


# --------------------------------------------------------------------------------------------
# review queues


def worst_first(qa: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The flagged frames, most flags first, then by name: the review queue.

    Columns ``video, name, frame, checks, details, n_flags``; ``checks`` lists the checks that
    fired (``missingx2``: twice), ``details`` their details, ``"; "``-joined.
    """
    cols = ["video", *QUEUE_COLUMNS, "n_flags"]
    if not len(qa):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    key = ["video", "name"]
    g = qa.groupby(key, sort=False)
    q = pd.DataFrame(
        {
            "frame": g["frame"].first(),
            "details": g["detail"].agg("; ".join),
            "n_flags": g.size(),
        }
    )
    counts = qa.groupby([*key, "check"], sort=False).size().unstack("check", fill_value=0)
    counts = counts.reindex(columns=[c for c in CHECKS if c in counts.columns])
    labels = [
        [("" if n == 0 else c if n == 1 else f"{c}x{n}") for n in counts[c].tolist()]
        for c in counts.columns
    ]
    checks = [" ".join(x for x in parts if x) for parts in zip(*labels)]
    q["checks"] = pd.Series(checks, index=counts.index).reindex(q.index)
    q = q.reset_index()[cols]
    q = q.sort_values(["n_flags", "name"], ascending=[False, True], kind="stable")
    if limit is not None:
        q = q.head(max(int(limit), 0))
    return q.reset_index(drop=True)


def write_review_frame(
    folder: str | os.PathLike,
    name: str,
    image: np.ndarray,
    instances: Sequence[tuple[str, dict]],
    identities: Sequence[str],
) -> None:
    """``{name}.json`` (LabelMe, image embedded) and ``{name}.png`` in ``folder``, the masks
    of ``instances`` (identity, RLE) as polygons. An identity given twice keeps both instances
    (different group ids): LabelMe shows both and the loader refuses the file until one is
    removed."""
    folder = Path(folder)
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3].astype(np.uint8, copy=False)
    h, w = image.shape[:2]
    rank = {n: i for i, n in enumerate(identities)}
    ordered = sorted(instances, key=lambda it: (rank.get(it[0], len(rank)), it[0]))
    masks, group_ids, seen, extra = [], [], set(), len(identities)
    for identity, rle in ordered:
        if identity not in rank:
            log.warning("%s: identity %r is not configured: left out", name, identity)
            continue
        m = M.decode(rle)
        if m.shape != (h, w):
            log.warning(
                "%s: the mask of %s is %dx%d, the image %dx%d: left out",
                name,
                identity,
                m.shape[1],
                m.shape[0],
                w,
                h,
            )
            continue
        if identity in seen:
            extra += 1
            group_ids.append(extra)
        else:
            group_ids.append(rank[identity] + 1)
            seen.add(identity)
        masks.append((identity, m))
    png = folder / f"{name}.png"
    data = write_png(image, png)
    write_labelme(
        folder / f"{name}.json",
        masks,
        image_path=png,
        image_shape=(h, w),
        png=data,
        group_ids=group_ids,
    )


def _write_queue(folder: Path, queue: pd.DataFrame) -> None:
    queue[QUEUE_COLUMNS].to_csv(folder / "queue.csv", index=False)


# --------------------------------------------------------------------------------------------
# entry points


def _limits(s: dict) -> dict:
    """The thresholds of :func:`check` from the (completed) ``qa`` settings."""
    return {k: s[k] for k in ("max_overlap", "area_ratio", "max_jump", "max_gap")}


def qa_track_table(
    df: pd.DataFrame,
    identities: Sequence[str],
    dest: str | os.PathLike,
    *,
    settings: dict | None,
    n_frames: int | None = None,
    video: str | None = None,
) -> pd.DataFrame:
    """The checks of one track table (one model, one video), written atomically as Parquet.

    Every row counts as present, interpolated ones too. With ``n_frames`` an identity must be in
    every frame ``0 .. n_frames - 1`` (``missing``), else in every frame the table has.
    ``video``: the video's name where the table may be empty (else taken from the table).
    """
    s = settings_of(settings)
    videos = sorted(set(df["video"].astype(str))) if "video" in df.columns and len(df) else []
    if len(videos) > 1 or (video is not None and videos and videos != [video]):
        raise EthoflowError(
            f"{dest}: the track table holds video(s) {videos}"
            + (f", expected {video!r}" if video is not None else ", expected one")
        )
    video = videos[0] if videos else video
    frames = range(int(n_frames)) if n_frames is not None else None
    qa = check(
        df,
        identities,
        **_limits(s),
        frames=frames,
        video=video,
    )
    meta = {
        "settings": {**s, "area_ratio": list(s["area_ratio"])},
        "identities": list(identities),
        "n_frames": n_frames,
        "rows": len(df),
    }
    write(qa, dest, meta)
    log.info("QA of %s: %s", video or dest, summary(qa))
    return qa


def _load_frames(files: Sequence[str], identities: Sequence[str]):
    """Every labelled frame of ``files``, by name: (first loaded frame, [(identity, RLE)]),
    keeping a frame labelled in two files (its identities may then double)."""
    frames: dict[str, tuple] = {}
    for f in sorted(Path(p) for p in files):
        for lf in load_label_file(f, identities):
            if lf.name in frames:
                first, instances = frames[lf.name]
                log.warning(
                    "frame %s is labelled twice: in %s and %s", lf.name, first.source, lf.source
                )
                if lf.image.shape != first.image.shape:
                    log.warning(
                        "%s: frame %s: image of shape %s, %s has %s: its masks are left out",
                        lf.source,
                        lf.name,
                        lf.image.shape,
                        first.source,
                        first.image.shape,
                    )
                    continue
            else:
                frames[lf.name] = (lf, [])
                instances = frames[lf.name][1]
            instances += lf.instances
    return frames


def qa_labels(
    inputs: Sequence[str | os.PathLike],
    identities: Sequence[str],
    table_dest: str | os.PathLike,
    review_dir: str | os.PathLike,
    *,
    settings: dict | None,
) -> pd.DataFrame:
    """The checks of every labelled frame, their table (Parquet) and review queue (folder).

    ``inputs``: label files and folders (as :func:`ethoflow.annotations.resolve_label_inputs`
    takes them). Each labelled frame must hold every identity; area medians are per identity
    and video; jumps are checked between labelled frames of one video at most ``max_gap``
    apart. The review queue holds the ``review_limit`` worst frames (most flags, then name),
    pre-filled with their current masks; both outputs appear only if everything succeeds.
    """
    s = settings_of(settings)
    files = resolve_label_inputs(list(inputs))
    frames = _load_frames(files, identities)
    rows, frame_rows = [], []
    for name, (lf, instances) in frames.items():
        video = lf.video or ""
        frame_rows.append(dict(video=video, frame=lf.frame, name=name))
        for identity, rle in instances:
            rows.append(dict(video=video, frame=lf.frame, name=name, identity=identity, mask=rle))
    # box, centroid and area: check() derives them from the masks
    table = pd.DataFrame(rows, columns=["video", "frame", "name", "identity", "mask"])
    all_frames = pd.DataFrame(frame_rows, columns=["video", "frame", "name"])
    qa = check(
        table,
        identities,
        **_limits(s),
        frames=all_frames,
    )
    queue = worst_first(qa, s["review_limit"])
    meta = {
        "settings": {**s, "area_ratio": list(s["area_ratio"])},
        "identities": list(identities),
        "label_files": len(files),
        "frames": len(frames),
    }
    with contextlib.ExitStack() as stack:
        tmp_table = stack.enter_context(atomic_path(table_dest))
        tmp_dir = stack.enter_context(atomic_dir(review_dir))
        pq.write_table(to_arrow(qa, meta), tmp_table)
        for name in queue["name"]:
            lf, instances = frames[name]
            write_review_frame(tmp_dir, name, lf.image, instances, identities)
        _write_queue(tmp_dir, queue)
    log.info(
        "QA of %d labelled frames (%d label files): %s; %d frames in the review queue %s",
        len(frames),
        len(files),
        summary(qa),
        len(queue),
        review_dir,
    )
    return qa


def review_tracks(
    tracks: str | os.PathLike,
    qa: str | os.PathLike,
    video_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    video: str,
    identities: Sequence[str],
    limit: int,
) -> pd.DataFrame:
    """The review queue of one tracker's flagged frames of one video, as a folder.

    Reads the track table ``tracks`` and its QA table ``qa``, takes the ``limit`` worst flagged
    frames (most flags, then frame), decodes them from ``video_path`` and writes
    ``{video}_{frame:06d}.json`` (+ ``.png``) pre-filled with the tracked masks of the frame,
    and ``queue.csv``. The folder is always created (only ``queue.csv`` if nothing is flagged).
    Returns the queue.
    """
    df = tracktable.read(tracks)
    q = read_qa(qa)
    others = sorted(set(q["video"]) - {"", video}) + sorted(set(df["video"]) - {video})
    if others:
        raise EthoflowError(
            f"{qa}, {tracks}: hold video(s) {sorted(set(others))}, expected only {video!r}"
        )
    q = q.assign(name=[frame_name(video, int(f)) for f in q["frame"]], video=video)
    queue = worst_first(q, limit)
    picked = [int(f) for f in queue["frame"]]
    bad = [f for f in picked if f < 0]
    if bad:
        raise EthoflowError(f"{qa}: negative frame numbers {bad[:5]} in a track QA table")
    images = V.read_frames(video_path, picked) if picked else {}
    by_frame = {int(f): g for f, g in df[df["frame"].isin(picked)].groupby("frame")}
    with atomic_dir(out_dir) as tmp:
        for name, f in zip(queue["name"], picked):
            g = by_frame.get(f)
            instances = [] if g is None else list(zip(g["identity"], g["mask"]))
            write_review_frame(tmp, name, images[f], instances, identities)
        _write_queue(tmp, queue)
    log.info(
        "review queue of %s: %d of %d flagged frames -> %s",
        video,
        len(queue),
        q["name"].nunique(),
        out_dir,
    )
    return queue[QUEUE_COLUMNS]
