"""Snakemake entry point: keypoint labels -> a truth track table of per-identity centroids."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import keypoints as K  # noqa: E402
from ethoflow.io import (
    step_logging,  # noqa: E402
    tracktable,  # noqa: E402
)

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    ks = K.load_keypoints(sm.input[0])
    tracktable.write(K.truth_table(ks, video=sm.wildcards.video), sm.output[0])
