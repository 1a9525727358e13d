"""Snakemake entry point: SLEAP / DeepLabCut keypoint labels -> one keypoint table (Parquet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import keypoints as K  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    ks = K.read_keypoints(sm.input[0])
    ks = K.resolve_images(K.check_identities(ks, sm.params.identities))
    ks = K.transform(ks, downscale=sm.params.downscale, clip=sm.params.clip)
    K.write_keypoints(ks, sm.output[0])
