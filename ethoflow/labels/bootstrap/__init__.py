"""Bootstrap instance masks from keypoint labels (SLEAP, DeepLabCut).

Many labs hold keypoints, not outlines. This module turns each identity's keypoints in a frame
into an instance mask and writes it as LabelMe polygons, so the masks feed the same annotation
import as hand-drawn ones (one class per identity).

1. **Foreground** (:func:`foreground`): pixels that differ from a background model
   (:func:`background_model`) by more than ``diff_threshold``, or, without a background, an
   adaptive threshold for animals darker or lighter than their surroundings; then an opening,
   a closing, hole filling, and specks under ``min_area`` px dropped. With keypoints
   (:func:`instance_masks`) the foreground is then refined: thin structures (narrower than
   ``2 * thin_px + 1`` px: tails, floor marks, the neck to a reflection in a wall) are dropped
   unless they reach a keypoint lying off the body (a leg labelled at its tip), and those legs
   are traced down to ``hysteresis`` x the threshold, so faint tarsi reach their labelled tips.
2. **Split**: each identity seeds its visible keypoints (disks of ``seed_radius``) and its
   skeleton edges (lines, followed from each end only while they stay on the foreground). A
   foreground component holding the seeds of one identity goes to it whole; a component holding
   seeds of several (animals touching) is split by a geodesic watershed: every pixel goes to the
   identity whose seeds reach it at the least cost through the component, a step costing more
   on pixels that look less like animal (the dark seam between two light flies), so the cut
   follows the seam. An identity keeps only the pieces of its region that hold its own seeds;
   foreground holding no seed (dirt, reflections, hairs) is left out.
3. **Quality**: per identity the area, the fraction of its visible keypoints inside its mask and
   flags (:data:`FLAGS`), written beside the LabelMe files as ``bootstrap.csv``.

Keypoints are ``(K, 2)`` float arrays of ``(x, y)`` pixel coordinates with ``(0, 0)`` at the
centre of the top-left pixel (as :mod:`ethoflow.io.keypoints` reads SLEAP and DeepLabCut files);
NaN rows are keypoints that are not visible.

Choosing parameters: a background model is much better than the adaptive threshold when the
camera is still. Where animals rest for long stretches (the SLEAP fly clip: both flies sit
still for the first two thirds) the plain median keeps them: build it from labelled frames with
the animals cut out (:func:`background_model` with ``exclude`` from
:func:`keypoint_exclusion`, as :func:`bootstrap_video` does). ``diff_threshold``
must sit below the faintest animal part to keep (fly wings: 30-120 grey levels) and above
shadows and motion blur around the animal (a black mouse on a white floor: shadows to 60):
25 for the flies, 50 for the DeepLabCut mouse.
"""

from ethoflow.labels.bootstrap.masks import (
    FLAGS,
    edge_indices,
    instance_masks,
    keypoint_arrays,
    keypoint_exclusion,
)
from ethoflow.labels.bootstrap.overlay import overlay, zoomed_overlay
from ethoflow.labels.bootstrap.step import TABLE_COLUMNS, bootstrap_frames, bootstrap_video

__all__ = [
    "FLAGS",
    "TABLE_COLUMNS",
    "bootstrap_frames",
    "bootstrap_video",
    "edge_indices",
    "instance_masks",
    "keypoint_arrays",
    "keypoint_exclusion",
    "overlay",
    "zoomed_overlay",
]
