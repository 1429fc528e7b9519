"""The error hierarchy: one base, and the runner's rule for what a failure means.

- `VideoError`: the video's fault (bad media, a bad work file). Recorded on the video, an attempt is
  counted, the run goes on with the next video.
- `RunAborted`: the run's fault (a model that cannot load, an endpoint or database that went away).
  The video is handed back without counting an attempt and the run stops with exit code 2, so a
  setting that cannot work never holds a whole library.
"""

from __future__ import annotations


class VtdbError(Exception):
    """Base of every error this package raises on purpose."""


class VideoError(VtdbError):
    """An expected, explained failure of one video (its message is shown without a traceback)."""


class RunAborted(VtdbError):
    """A failure of the run or of a service it depends on, not of the video (exit code 2)."""


class ModelUnavailable(RunAborted):
    """A configured model (Whisper, embedder, summarizer) cannot be loaded: the run stops, no video is blamed."""
