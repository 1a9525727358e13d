"""The embedded demo: synthetic arena videos with exact ground truth and LabelMe "human" labels.

:func:`make_demo_video` renders, deterministically from a seed, a top-down view of an open-field
arena with one animal per identity, and writes

* the video (H.264 mp4, through :class:`ethoflow.io.video.VideoWriter`),
* the exact ground truth as a track table (``source == "truth"``; each mask holds the animal's
  *visible* pixels, so an animal partly hidden under another has only its uncovered part), and
* LabelMe/Annolid polygon labels for frames picked as a labeller would (k-means on the written
  video), with the PNG of each decoded frame beside its JSON.

Modules: :mod:`~ethoflow.demo.scene` (how the animals look and move, the arena),
:mod:`~ethoflow.demo.render` (floor, painting, camera noise) and :mod:`~ethoflow.demo.make`
(the render loop, truth and label writing). The demo uses only :mod:`ethoflow.io` and
:mod:`ethoflow.labels.frames`.
"""

from ethoflow.demo.make import make_demo_video

__all__ = ["make_demo_video"]
