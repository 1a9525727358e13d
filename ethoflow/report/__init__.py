"""The report: overlay videos, figures and the self-contained HTML report."""

from ethoflow.report.build import (  # noqa: F401  (temporary while the package is split)
    build_report,
    draw_tracks,
    fmt,
    identity_status,
    loss_figure,
    render_overlay,
    timeline_figure,
    trajectory_figure,
)
