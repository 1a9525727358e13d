"""The report's Groups section: per-cohort and per-group tables of the per-video measures
(``results/aggregate``), one strip + box plot per measure with every video as a point, and
the two-group tests where the config asks for them. The data, not statistics theatre."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ethoflow.report.html import esc, figs, img, note, num_cell, row, table, text_cell

#: The measures shown first (when present), then up to MAX_MEASURES others in name order.
PREFERRED = (
    "mota",
    "idf1",
    "identity_accuracy",
    "detection_rate",
    "speed_px_s",
    "distance_px",
    "moving_share",
    "qa_flagged_frames",
)
MAX_MEASURES = 12


def shown_measures(measures: pd.DataFrame) -> list[str]:
    have = list(dict.fromkeys(measures["measure"]))
    first = [m for m in PREFERRED if m in have]
    rest = sorted(m for m in have if m not in first and m.endswith("_share"))
    return (first + rest)[:MAX_MEASURES]


def strip_figure(m: pd.DataFrame, by: str, measures: list[str], title: str) -> str:
    """Small multiples: per measure, a box per level of ``by`` and every video as a point."""
    from ethoflow.report.figures import _figure, _uri

    levels = sorted(m[by].astype(str).unique())
    cols = min(4, len(measures))
    rows_ = int(np.ceil(len(measures) / cols))
    fig = _figure(2.3 * cols, 2.0 * rows_ + 0.3)
    rng = np.random.default_rng(0)
    for i, name in enumerate(measures):
        ax = fig.add_subplot(rows_, cols, i + 1)
        d = m[m["measure"] == name]
        data = [d[d[by].astype(str) == lv]["value"].to_numpy(float) for lv in levels]
        ax.boxplot(
            data,
            positions=range(len(levels)),
            widths=0.5,
            showfliers=False,
            medianprops={"color": "#444"},
        )
        for k, v in enumerate(data):
            ax.scatter(k + rng.uniform(-0.15, 0.15, len(v)), v, s=10, color="#3b75af", zorder=3)
        ax.set_xticks(range(len(levels)), levels, fontsize=7, rotation=30 if len(levels) > 4 else 0)
        ax.set_title(name, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _uri(fig)


def _level_table(groups: pd.DataFrame, by: str, source: str, measures: list[str]) -> str:
    g = groups[(groups["by"] == by) & (groups["source"] == source)]
    levels = sorted(g["level"].astype(str).unique())
    rows = []
    for lv in levels:
        cells = [text_cell(lv)]
        sub = g[g["level"].astype(str) == lv].set_index("measure")
        n = int(sub["n"].max()) if len(sub) else 0
        cells.append(num_cell(n, integer=True))
        for name in measures:
            if name in sub.index:
                r = sub.loc[name]
                sd = "" if pd.isna(r["sd"]) else f" \u00b1 {r['sd']:.3g}"
                text = f"{r['mean']:.3g}{sd}"
                cells.append(f'<td class="num">{esc(text)}</td>')
            else:
                cells.append(text_cell(""))
        rows.append(row(cells))
    return table([by, "videos", *measures], rows)


def _tests_table(tests: pd.DataFrame) -> str:
    rows = [
        row(
            [
                text_cell(f"{r['a']} vs {r['b']}"),
                text_cell(r["source"]),
                text_cell(r["measure"]),
                num_cell(r["n_a"], integer=True),
                num_cell(r["n_b"], integer=True),
                num_cell(r["median_a"]),
                num_cell(r["median_b"]),
                num_cell(r["u"]),
                num_cell(r["p"]),
            ]
        )
        for r in tests.to_dict("records")
    ]
    return table(
        ["groups", "source", "measure", "n a", "n b", "median a", "median b", "U", "p"], rows
    )


def groups_section(measures: pd.DataFrame, groups: pd.DataFrame, tests: pd.DataFrame) -> str:
    """The section's HTML ("" when there are no measures)."""
    if not len(measures):
        return ""
    m = measures[measures["animal"] == "all"]
    parts = [
        '<h2 id="groups">Groups</h2>',
        note(
            "Per-video measures by cohort and group (results/aggregate/): every point is one "
            "video (for kinematics and behaviour, the mean over its animals), the box its "
            "group's quartiles. Tables give mean \u00b1 sd. Tracking metrics exist for videos "
            "with ground truth only."
        ),
    ]
    for by in ("group", "cohort"):
        if by not in m or m[by].astype(str).nunique() < 2:
            continue
        for source in sorted(m["source"].unique()):
            d = m[m["source"] == source]
            names = shown_measures(d)
            if not names:
                continue
            parts.append(f"<h3>{esc(source)} by {esc(by)}</h3>")
            parts.append(_level_table(groups, by, source, names))
            parts.append(
                figs([img(strip_figure(d, by, names, f"{source} by {by}"), f"{source} by {by}")])
            )
    if len(parts) == 2:
        parts.append(note("Every video is in one group and one cohort: nothing to compare."))
    if len(tests):
        parts.append("<h3>Two-group tests (Mann-Whitney U, two-sided)</h3>")
        parts.append(_tests_table(tests))
    return "\n".join(parts)
