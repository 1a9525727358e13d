"""Snakemake entry point: render one demo video, its truth, LabelMe labels and behaviour truth."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.demo import make_demo_video  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    spec = sm.params.spec
    make_demo_video(
        sm.output.video,
        sm.output.truth,
        sm.output.labels,
        sm.output.behaviour,
        name=sm.wildcards.video,
        seed=spec["seed"],
        n_frames=spec["n_frames"],
        size=spec["size"],
        fps=spec["fps"],
        identities=tuple(sm.params.identities),
        n_labelled=spec["n_labelled"],
        progress=logfh,
    )
