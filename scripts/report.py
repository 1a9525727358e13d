"""Snakemake entry point: the self-contained HTML report (tables, figures, overlay links).

The rule passes the key of every input file (its tracker and video, its model, ...) as params in
the same order as the files; this script pairs them up.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.report import ReportInputs, build_report  # noqa: E402

sm = snakemake  # noqa: F821


def keyed(keys, files) -> dict:
    """``{key: file}``; keys given as lists (tuples in the Snakefile) become tuples."""
    return {
        tuple(k) if isinstance(k, list | tuple) else k: f for k, f in zip(keys, files, strict=True)
    }


with step_logging(sm.log[0]):
    overlays = zip(sm.params.overlay_pairs, sm.input.overlays, strict=True)
    inputs = ReportInputs(
        summary_csv=sm.input.summary,
        coco_files=list(sm.input.coco),
        train_logs=keyed(sm.params.model_keys, sm.input.train_logs),
        overlays=[(m, v, f) for (m, v), f in overlays],
        bootstrap=keyed(sm.params.bootstrap_videos, sm.input.bootstrap),
        qa=keyed(sm.params.qa_names, sm.input.qa),
        aggregate=sm.input.aggregate,
        groups=sm.input.groups,
        tests=sm.input.tests,
    )
    build_report(
        sm.output[0],
        inputs,
        models=list(sm.params.models),
        videos=list(sm.params.videos),
        identities=list(sm.params.identities),
        with_truth=list(sm.params.with_truth),
        labelled=list(sm.params.labelled),
        trackers=list(sm.params.trackers),
        gates=dict(sm.params.gates),
        iou_threshold=float(sm.params.iou_threshold),
        model_keys=list(sm.params.model_keys),
        video_pages={v: f"{Path(sm.output[0]).parent}/videos/{v}.html" for v in sm.params.videos},
    )
