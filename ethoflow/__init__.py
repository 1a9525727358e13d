"""ethoflow: animal videos -> instance segmentation -> identity tracks -> metrics, reports.

The package follows the pipeline, one subpackage per stage, on a shared I/O layer:

``defaults``
    the library's defaults, one table per config section (held equal to config/config.yaml).
``io``
    every file format and table schema: atomic files and JSON, images (the one PNG encoder),
    video, masks (RLE), the track table and detection shards, LabelMe (read and write), COCO,
    keypoint tables with their SLEAP and DeepLabCut readers. Exports to other tools (NWB,
    BORIS, SimBA, ...) go here, one module per format.
``labels``
    frame selection, annotation import, the background/foreground model, masks from keypoints
    (``labels.bootstrap``), label and track QA with review queues (``labels.qa``).
``models``
    the model families (Mask R-CNN from torchvision, YOLACT) and their training. Needs torch.
``tracking``
    inference shards (``tracking.infer``, torch), the identity tracker and the classical baseline
    (torch-free: the ``base`` conda environment has no torch, so ``tracking/__init__`` imports
    nothing).
``evaluation``
    MOT/HOTA/identity metrics, COCO AP, per-video parts, truth matching, the summary table.
``report``
    overlay videos, figures and the HTML report, one function per section.
``demo``
    the embedded demo generator.
``sheet``
    the video sheet (one row per video, with cohort, group and condition columns): read,
    validated and resolved into the config's per-video entries.
``aggregate``
    per-video measures (tracking metrics, kinematics, QA counts, behaviour time budgets) and
    their per-cohort and per-group summaries.

Imports follow one order: ``defaults`` <- ``io`` <- ``labels``, ``models`` <- ``tracking`` <-
``evaluation`` <- ``report``; ``demo`` uses ``io`` and ``labels`` (frame selection) only. A
package imports only from packages before it, and never a private (``_name``) name of another
package: what two stages share moves down to ``io``. ``tests/test_layout.py`` enforces both.

The behaviour stage splits the same way: ``behaviour/`` sits after ``evaluation`` and before
``report`` (it reads track tables and keypoint tables), with its features, bouts and motifs
torch-free and its classifier (a temporal convolutional network) in one torch module, as
``tracking.infer`` is; behaviour label formats (BORIS, Bento, SimBA) and exports go to ``io``.
``sheet`` uses ``io`` only (the workflow reads it while planning); ``aggregate`` reads the
tables of ``io`` and ``labels`` (the QA table).

``from ethoflow import masks, tracktable`` (the documented API) gives ``ethoflow.io.masks`` and
``ethoflow.io.tracktable``.
"""

__version__ = "0.1.0"

_DOCUMENTED = {"masks": "ethoflow.io.masks", "tracktable": "ethoflow.io.tracktable"}


def __getattr__(name):
    if name in _DOCUMENTED:
        import importlib

        return importlib.import_module(_DOCUMENTED[name])
    raise AttributeError(f"module 'ethoflow' has no attribute {name!r}")
