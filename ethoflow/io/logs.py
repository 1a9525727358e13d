"""Per-step logging: one pipeline step's logging, warnings, stdout and stderr in its log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("ethoflow")


@contextlib.contextmanager
def step_logging(logfile: str | os.PathLike | None, level: int = logging.INFO) -> Iterator[Any]:
    """Send logging, warnings, stdout and stderr of one pipeline step to its log file.

    Yields the open log stream (pass it to tqdm as ``file=`` so progress lands in the log).
    Without a log file everything goes to stderr.
    """
    if logfile is None:
        stream = sys.stderr
        close = False
    else:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        stream = open(logfile, "w", buffering=1)  # noqa: SIM115
        close = True
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            t0 = time.perf_counter()
            log.info("started")
            try:
                yield stream
            except Exception:
                log.exception("step failed after %.1f s", time.perf_counter() - t0)
                raise
            log.info("done in %.1f s", time.perf_counter() - t0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        if close:
            stream.close()
