"""The shared I/O layer: every file format and table schema the stages read and write.

Stages talk to each other only through what this package defines, so a stage never needs
another stage's private code to read its output:

- ``files``: atomic writes (temp file + rename), strict JSON, :class:`EthoflowError`;
- ``logs``: a step's log file (:func:`step_logging`);
- ``images``: the one image reader and PNG encoder (frames, labels, overlays, figures);
- ``draw``: identity colours and mask drawing shared by every overlay;
- ``video``: probing, streaming decode (in a background thread if asked) and encode;
- ``masks``: binary masks <-> COCO RLE (also from a region, and geometry from the runs);
- ``tracktable`` and ``detections``: the track table and detection shard schemas;
- ``labelled``, ``labelme``, ``coco``: labelled frames, LabelMe (read and write) and COCO;
- ``keypoints``, ``sleap``, ``dlc``: keypoint tables and their SLEAP / DeepLabCut readers.

Exports to other tools (NWB, BORIS, SimBA, ...) belong here too, one module per format.
"""

from ethoflow.io.files import (
    EthoflowError,
    atomic_dir,
    atomic_path,
    read_json,
    strict_json,
    write_json,
)
from ethoflow.io.images import read_rgb
from ethoflow.io.logs import step_logging

__all__ = [
    "EthoflowError",
    "atomic_dir",
    "atomic_path",
    "read_json",
    "read_rgb",
    "step_logging",
    "strict_json",
    "write_json",
]
