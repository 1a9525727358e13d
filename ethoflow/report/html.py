"""Formatting and HTML building blocks of the report: numbers as text, escaped cells, tables.

Every value that reaches the page goes through :func:`fmt` (numbers; missing values show as a
dash, never as "nan" or "None") and :func:`esc` (HTML escaping).
"""

from __future__ import annotations

import math
import os
import urllib.parse
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

DASH = "\u2013"  # shown for missing / undefined values

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #999; padding: .25em .6em; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #777; font-style: italic; text-align: center; }
dl.meta dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.meta dd { margin-left: 10em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figs img { max-width: 100%; border: 1px solid #ddd; }
video { max-width: 100%; border: 1px solid #ccc; display: block; margin: .3em 0 1em; }
.muted { color: #777; }
nav a { margin-right: 1em; }
"""

#: (term, explanation) of the "How to read this" list; ``{iou}`` is the configured IoU threshold.
HOW_TO_READ = [
    (
        "MOTA",
        "multiple object tracking accuracy: 1 \u2212 (misses + false positives + identity "
        "switches) / number of truth objects; 1 is perfect, it can go below 0.",
    ),
    (
        "IDF1",
        "F1 score of identity-consistent matches: the fraction of detections assigned to "
        "the right track over the whole video (0 to 1).",
    ),
    (
        "HOTA",
        "higher order tracking accuracy: geometric mean of detection accuracy (DetA) and "
        "association accuracy (AssA), averaged over IoU thresholds 0.05 to 0.95.",
    ),
    (
        "Identity accuracy",
        "of the predicted masks matched to a truth mask (IoU \u2265 {iou}), the "
        "fraction that carry the right animal identity.",
    ),
    (
        "Inference frames/s",
        "frames processed per second of inference time (decoding, model forward pass and "
        "mask encoding, summed over the shards of every video; shards that run in parallel "
        "each count their own time).",
    ),
    (
        "COCO AP",
        "detection (bbox) or mask (segm) average precision on the validation frames, "
        "averaged over IoU 0.50 to 0.95; AP50 at IoU 0.50 only.",
    ),
]


def esc(x) -> str:
    """``str(x)``, HTML-escaped (quotes included, so that it is safe in attributes)."""
    return escape(str(x), quote=True)


def is_missing(v) -> bool:
    """None, NaN, or a blank / "nan" / "none" / "null" string (CSV and JSON spell it so)."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == "" or v.strip().lower() in ("nan", "none", "null")
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def truthy(v) -> bool:
    """A boolean cell of a CSV or JSON: ``"true"``/``"1"``/``"yes"`` or a true value."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return not is_missing(v) and bool(v)


def fmt(v, digits: int = 3, integer: bool = False) -> str:
    """Number -> text with ``digits`` decimals (or an integer); NaN/None/empty -> "–"."""
    if is_missing(v):
        return DASH
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return DASH
    if integer:
        return f"{int(round(x)):,}"
    return f"{x:.{digits}f}"


def fmt_duration(seconds) -> str:
    """Seconds as "12.3 s", "4.5 min" or "1.25 h"; missing -> "–"."""
    if is_missing(seconds):
        return DASH
    s = float(seconds)
    if not math.isfinite(s):
        return DASH
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def fmt_threshold(x: float) -> str:
    """An IoU threshold as the config spells it (0.5, 0.75), not 0.500."""
    return f"{float(x):g}"


def num_cell(v, **kw) -> str:
    """A right-aligned table cell of :func:`fmt` (``kw``: its ``digits`` / ``integer``)."""
    return f'<td class="num">{esc(fmt(v, **kw))}</td>'


def text_cell(v) -> str:
    return f"<td>{esc(v)}</td>"


def row(cells: list[str]) -> str:
    return "<tr>" + "".join(cells) + "</tr>"


def table(header: list[str], rows: list[str]) -> str:
    """A table of a header (plain text, escaped here) and rows already made by :func:`row`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def note(text: str) -> str:
    """A muted paragraph; ``text`` is HTML (the callers' fixed sentences)."""
    return f'<p class="muted">{text}</p>'


def img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def figs(images: list[str]) -> str:
    """Images side by side (wrapping)."""
    return f'<div class="figs">{"".join(images)}</div>'


def rel_url(target: str | os.PathLike, html_dir: str | os.PathLike) -> str:
    """URL of ``target`` relative to the folder of the HTML file (the report can be moved
    together with what it links to)."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(html_dir))
    return urllib.parse.quote(Path(rel).as_posix())


def page(title: str, body: list[str]) -> str:
    """The whole HTML document: ``title`` (plain text) and the ``body`` parts (HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
