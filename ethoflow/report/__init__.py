"""The report: overlay videos and one self-contained HTML page of a run's results.

Modules:

- :mod:`ethoflow.report.overlay`: a track table drawn onto its video (:func:`render_overlay`,
  one frame: :func:`draw_tracks`), streamed frame by frame.
- :mod:`ethoflow.report.figures`: trajectory, identity timeline and training loss figures, as PNG
  data URIs (encoded by :mod:`ethoflow.io.images`).
- :mod:`ethoflow.report.html`: number formatting (:func:`fmt`), escaping, tables, the page's CSS
  and the "How to read this" texts.
- :mod:`ethoflow.report.tables`: the metric tables made from the summary table.
- :mod:`ethoflow.report.sections`: one function per section of the page, each returning HTML.
- :mod:`ethoflow.report.inputs`: :class:`ReportInputs`, the files a report reads, keyed by what
  they belong to (the library never reads a key off a path), and their readers.
- :mod:`ethoflow.report.build`: :func:`build_report`, the sections assembled into one file
  (the run's index; with ``video_pages`` it links to them instead of drawing every video).
- :mod:`ethoflow.report.pages`: :func:`build_video_page`, one video's own page.
- :mod:`ethoflow.report.groups`: the Groups section (per-cohort and per-group aggregates).

The per-frame truth matching behind the identity timelines is
:func:`ethoflow.evaluation.truth.identity_status`.
"""

from ethoflow.report.build import build_report
from ethoflow.report.figures import loss_figure, timeline_figure, trajectory_figure
from ethoflow.report.html import fmt
from ethoflow.report.inputs import ReportInputs
from ethoflow.report.overlay import draw_tracks, render_overlay
from ethoflow.report.pages import build_video_page

__all__ = [
    "ReportInputs",
    "build_report",
    "build_video_page",
    "draw_tracks",
    "fmt",
    "loss_figure",
    "render_overlay",
    "timeline_figure",
    "trajectory_figure",
]
