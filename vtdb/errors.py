"""The error hierarchy: one base, and the runner's rule for what a failure means.

Every exception this package raises on purpose is a `VtdbError`, and keeps the builtin base it
had before (ValueError, KeyError, RuntimeError, ...) so that existing `except` clauses still work.
Which branch a class sits on is decided by whose fault the failure is, the way the runner
(vtdb/runner.py) already treats it, and the runner decides by the class alone, never by the message:

- `VideoError`: the video's fault (bad media, a bad work file). Recorded on the video, an attempt is
  counted, the run goes on with the next video; its message is shown without a traceback.
  - `PermanentVideoError`: the video's nature, which no retry can change (unreadable media, an archive
    entry that is missing or empty, a corrupt archive, a file that is not a video). The video is held at
    once, with the reason; `--force` or `vtdb release` retry it. Every such failure is raised as
    a subclass (`PermanentMediaError`, `ZimEntryMissing`, ...); `vtdb.state.error_kind` tests the class.
    Code that re-raises one (to rename a temp file in its message, say) keeps its class.
  - any other error of a video is *transient* (a full disk, a timeout, a server error): retried by the
    next runs, held after `max_attempts`.
- `RunAborted`: the run's fault (a model that cannot load, an endpoint, engine or database that went
  away, OCR that cannot start). The video is handed back without counting an attempt and the run stops
  with exit code 2, so a setting that cannot work never holds a whole library.
  - `ModelUnavailable`: a configured model (Whisper, embedder) is missing, damaged or cannot load.
  - `BackendUnavailable`: what a phase talks to cannot run here: an analyzer, a summarizer, or the LLM
    transport under both (an endpoint down or missing, vLLM without CUDA).
- a plain `VtdbError`: usage or configuration (a bad config value, a bad query or name, a lock held by
  another run). Raised before any video is claimed and reported by the command, never by the runner;
  should one escape inside a job, the runner treats it like any other unexpected error of that video.

This module also holds `Registry`, the small name -> factory table behind analyzers, summarizers,
embedders and video sources, whose unknown-name error lists what is registered (with a did-you-mean).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, TypeVar

from vtdb.text import did_you_mean


class VtdbError(Exception):
    """Base of every error this package raises on purpose."""


class VideoError(VtdbError):
    """An expected, explained failure of one video (its message is shown without a traceback)."""


class PermanentVideoError(VideoError):
    """A failure that retrying cannot fix (the file's nature): the runner holds the video at once."""


class RunAborted(VtdbError):
    """A failure of the run or of a service it depends on, not of the video (exit code 2)."""


class ModelUnavailable(RunAborted, RuntimeError):
    """A configured or bundled model (Whisper, embedder) is missing, damaged or cannot be loaded: the run stops,
    no video is blamed."""


class BackendUnavailable(RunAborted, RuntimeError):
    """An analyzer, a summarizer or the LLM transport they use cannot run here (no endpoint, an endpoint that
    went down or refuses the key, vLLM without CUDA, an unknown name): the run stops, no video is blamed."""


class UnknownNameError(VtdbError, ValueError):
    """A name that no registry knows (a usage/config error); the message lists the registered names."""


F = TypeVar("F", bound=Callable[..., Any])


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown analyzer 'opnai'; did you mean 'openai'? Use auto, vllm, openai or transcript`."""
    names = list(known)
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names) or "(none registered)"
    return f"unknown {kind} {name!r}{did_you_mean(str(name), names, then=f'use {listed}')}"


class Registry(Generic[F]):
    """name -> factory. `@REGISTRY.register("a", "alias")` on a factory, or `REGISTRY.add(name, factory)`;
    `REGISTRY.get(name)` raises `error` (UnknownNameError unless told) naming every registered name,
    plus `extra` names that callers accept without a factory (such as the analyzers' "auto")."""

    def __init__(self, kind: str, error: Callable[[str], Exception] = UnknownNameError, extra: Iterable[str] = ()):
        self.kind = kind
        self.error = error
        self.extra = list(extra)
        self._factories: dict[str, F] = {}

    def add(self, name: str, factory: F) -> F:
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._factories[name] = factory
        return factory

    def register(self, *names: str) -> Callable[[F], F]:
        def decorate(factory: F) -> F:
            for name in names:
                self.add(name, factory)
            return factory

        return decorate

    def names(self) -> list[str]:
        """Every name a user may give, in registration order (the `extra` ones first)."""
        return [*self.extra, *self._factories]

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def get(self, name: str) -> F:
        try:
            return self._factories[name]
        except (KeyError, TypeError):
            raise self.error(unknown_name_message(self.kind, name, self.names())) from None
