"""Snakemake entry point: the behaviour report (ethograms, budgets, classifiers, motifs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.report.behaviour import build_behaviour_report  # noqa: E402

sm = snakemake  # noqa: F821
p = sm.params
with step_logging(sm.log[0]):
    build_behaviour_report(
        sm.output[0],
        metrics=sm.input.metrics,
        per_behaviour=sm.input.per_behaviour,
        confusion=sm.input.confusion,
        agreement=sm.input.agreement,
        labels=dict(zip(p.truth_videos, sm.input.labels)),
        predictions={
            (c, v): f
            for (c, v), f in zip(
                [(c, v) for c in p.classifiers for v in p.videos], sm.input.predictions
            )
        },
        budgets={
            (c, v): f
            for (c, v), f in zip(
                [(c, v) for c in p.classifiers for v in p.videos], sm.input.budgets
            )
        },
        motifs=sm.input.motifs or None,
        overlays=dict(zip(p.overlay_videos, sm.input.overlays)),
        settings=p.behaviour,
        tracker=p.tracker,
    )
