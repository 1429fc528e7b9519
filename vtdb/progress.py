"""How a phase run reports what it does: the runner calls a RunReporter; the CLIs choose how it looks.

The library never prints by itself: `SilentReporter` is the default, `RichReporter` draws rich progress bars
and coloured lines on a console (what the phase CLIs use).
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# What a line is about (the reporter picks a style for each).
OK, FAILED, WARNING, STOPPED, NOTE = "ok", "failed", "warning", "stopped", "note"


class RunReporter(Protocol):
    def line(self, kind: str, text: str) -> None:
        """One message, in plain text (never markup): `kind` is OK, FAILED, WARNING, STOPPED or NOTE."""

    def phase_started(self, phase: str, videos: int) -> None: ...

    def video_progress(self, name: str, done: float, total: float | None, label: str) -> None: ...

    def video_finished(self, name: str) -> None: ...

    def phase_finished(self) -> None: ...


class SilentReporter:
    """Reports nothing (library use; the JSONL event log still records every event)."""

    def line(self, kind: str, text: str) -> None:
        pass

    def phase_started(self, phase: str, videos: int) -> None:
        pass

    def video_progress(self, name: str, done: float, total: float | None, label: str) -> None:
        pass

    def video_finished(self, name: str) -> None:
        pass

    def phase_finished(self) -> None:
        pass


_STYLES = {OK: "green", FAILED: "red", WARNING: "yellow", STOPPED: "bold red", NOTE: "dim"}


class RichReporter:
    """Progress bars (videos, and the video in progress) and coloured lines on a rich Console."""

    def __init__(self, console: Console):
        self.console = console
        self._progress: Progress | None = None
        self._videos: TaskID | None = None
        self._inner: TaskID | None = None

    def line(self, kind: str, text: str) -> None:
        style = _STYLES.get(kind, "")
        self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))

    def phase_started(self, phase: str, videos: int) -> None:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        self._progress = Progress(*columns, console=self.console, transient=False)
        self._progress.start()
        self._videos = self._progress.add_task(f"{phase}: videos", total=videos)
        self._inner = self._progress.add_task("", total=None, visible=False)

    def video_progress(self, name: str, done: float, total: float | None, label: str) -> None:
        if self._progress is not None and self._inner is not None:
            self._progress.update(self._inner, completed=done, total=total, description=f"  {escape(name)} {escape(label)}".rstrip(),
                                  visible=True)

    def video_finished(self, name: str) -> None:
        if self._progress is not None and self._videos is not None and self._inner is not None:
            self._progress.update(self._inner, visible=False)
            self._progress.advance(self._videos)

    def phase_finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def reporter_for(target: RunReporter | Console | None) -> RunReporter:
    """A reporter from what a caller passed: a reporter, a Console (drawn with rich), or None (silent)."""
    if target is None:
        return SilentReporter()
    if isinstance(target, Console):
        return RichReporter(target)
    return target
