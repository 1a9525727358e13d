"""Quality checks of label masks and predicted tracks (after SAM-QA), and their review queues.

One core function, :func:`check`, flags rows of a table of masks (one row per identity per
frame: ``video, frame, name, identity, mask, cx, cy, area``) that fail a consistency check
(:data:`CHECKS`): two identities overlap, an area leaves its identity's usual range, an identity
is missing or doubled in a frame, a centroid jumps. It serves both

* :func:`qa_track_table`: the checks of one tracker's track table of one video, and
* :func:`qa_labels`: the checks of every labelled frame (LabelMe and COCO files, bootstrapped
  folders), with a review queue of the flagged frames.

:func:`review_tracks` writes the review queue of a tracker's flagged frames. A review queue is a
folder of LabelMe files (``{name}.json``, the frame's PNG embedded as ``imageData`` so the JSON
alone is a complete label file, and ``{name}.png`` beside it), pre-filled with the frame's
current masks, worst frames first (most flags, then name), plus ``queue.csv`` (name, frame,
checks, details). A person corrects a file in LabelMe and copies it into the video's labels
folder; the next run trains with it.

The QA table (:data:`QA_SCHEMA`) has one row per flag: ``video, frame, name, identity, check,
value, limit, detail``. ``value`` is what was measured and ``limit`` the bound it crossed (see
:data:`CHECKS`); an ``overlap`` row names its pair in ``identity`` as ``"a+b"`` (configured
order).
"""

from ethoflow.labels.qa.checks import (
    CHECKS,
    QA_COLUMNS,
    QA_SCHEMA,
    SETTINGS_KEY,
    check,
    empty,
    read_qa,
    settings_of,
    summary,
    to_arrow,
    write,
)
from ethoflow.labels.qa.review import (
    QUEUE_COLUMNS,
    qa_labels,
    qa_track_table,
    review_tracks,
    worst_first,
    write_review_frame,
)

__all__ = [
    "CHECKS",
    "QA_COLUMNS",
    "QA_SCHEMA",
    "QUEUE_COLUMNS",
    "SETTINGS_KEY",
    "check",
    "empty",
    "qa_labels",
    "qa_track_table",
    "read_qa",
    "review_tracks",
    "settings_of",
    "summary",
    "to_arrow",
    "worst_first",
    "write",
    "write_review_frame",
]
