"""Snakemake entry point: render one demo video, its truth, LabelMe labels and behaviour truth."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.demo import make_demo_video  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    demo = sm.params.demo
    spec = demo["videos"][sm.wildcards.video]
    make_demo_video(
        sm.output.video,
        sm.output.truth,
        sm.output.labels,
        sm.output.behaviour,
        name=sm.wildcards.video,
        seed=spec["seed"],
        n_frames=spec.get("n_frames", demo["n_frames"]),
        size=demo["size"],
        fps=demo["fps"],
        identities=tuple(sm.params.identities),
        n_labelled=demo["labelled_frames"] if spec["labelled"] else 0,
        progress=logfh,
    )
