"""Snakemake entry point: video metadata (fps, frame count, size) as JSON."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging, write_json  # noqa: E402
from ethoflow.io.video import probe  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    info = probe(sm.input[0])
    info["video"] = sm.wildcards.video
    write_json(info, sm.output[0])
