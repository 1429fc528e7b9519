"""The versioned window prompt: one template file, rendered per window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtdb.analyzers.base import VideoContext, WindowInput
from vtdb.errors import VtdbError
from vtdb.languages import WHISPER_LANGUAGES
from vtdb.timefmt import clock

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "prompts" / "window_v2.txt"
SYSTEM_PROMPT = "You describe video segments for a search index. You answer with a single JSON object and nothing else."
MAX_TRANSCRIPT_CHARS = 3000
MAX_HINT_CHARS = 1500


def context_hints(window: WindowInput) -> str:
    """What Phase 1 knows besides the speech, as context lines for the model: the translation of the speech
    (creator subtitles or Whisper's translate task) and the text read on screen. Empty when there is none."""
    lines = []
    if window.translation.strip():
        origin = {"subtitles": "creator subtitles", "audio-track": "the video's English audio track, transcribed"}.get(
            window.translation_source, "machine translation")
        lines.append(f'English translation of the speech ({origin}; use it to understand the speech):\n"""{window.translation[:MAX_HINT_CHARS]}"""')
    if window.on_screen_text:
        text = " | ".join(window.on_screen_text)[:MAX_HINT_CHARS]
        lines.append(f'Text read on screen (OCR, may contain errors): "{text}"')
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    return clock(seconds, "h:mm:ss")


def language_name(code: str | None) -> str:
    if not code:
        return "unknown"
    return f"{WHISPER_LANGUAGES.get(code, code).title()} ({code})"


class PromptError(VtdbError, ValueError):
    """A prompt template that cannot be read or rendered (unknown placeholder, stray brace, ...)."""


@dataclass
class PromptTemplate:
    text: str
    version: str
    source: str = "prompt template"

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PromptTemplate":
        path = Path(path) if path else DEFAULT_TEMPLATE
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"prompt_file {path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise PromptError(f"prompt_file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        version = path.stem
        lines = []
        for line in raw.splitlines():
            if line.startswith("#"):
                if "prompt_version:" in line:
                    version = line.split("prompt_version:", 1)[1].strip()
                continue
            lines.append(line)
        template = cls("\n".join(lines).strip(), version, f"prompt_file {path}")
        template.check()
        return template

    def check(self) -> None:
        """Render once with sample values: a bad template fails when it is loaded, not in every window."""
        if not self.text:
            raise PromptError(f"{self.source}: the template is empty (only comments?)")
        sample_video = VideoContext("sample", "Sample title", "Sample description", "en", "en", 60.0)
        self.render(sample_video, WindowInput(0, 0.0, 50.0, "sample transcript", []), ["other"], 6)

    def render(self, video: VideoContext, window: WindowInput, content_types: list[str], frame_count: int, previous_description: str | None = None) -> str:
        if previous_description:
            previous = f"its description was: {previous_description}"
        elif window.previous_transcript:
            previous = f"its transcript was: \"{window.previous_transcript[-600:]}\""
        else:
            previous = "none (this is the first window)" if window.index == 0 else "unknown"
        values = {
            "title": video.title or video.name,
            "description": video.description or "(none)",
            "language": language_name(video.language),
            "output_language": language_name(video.output_language),
            "start": _clock(window.start_time),
            "end": _clock(window.end_time),
            "transcript": window.transcript[:MAX_TRANSCRIPT_CHARS] or "(no speech)",
            "previous_context": previous,
            "frame_count": frame_count,
            "frames_note": (f"{frame_count} frames from it are attached, in time order." if frame_count
                            else "No frames are attached: judge from the transcript only."),
            "content_types": ", ".join(content_types),
            "context_hints": context_hints(window),
        }
        allowed = " ".join("{" + name + "}" for name in values)
        try:
            return self.text.format(**values)
        except KeyError as exc:
            problem = f"unknown placeholder {exc} (write a literal brace as {{{{ or }}}})"
        except IndexError:
            problem = "unknown placeholder: positional {} or {0} is not supported"
        except AttributeError as exc:
            problem = f"bad placeholder ({exc})"
        except ValueError as exc:  # a stray { or }, a bad format spec
            problem = f"malformed template ({exc}); write a literal brace as {{{{ or }}}}"
        raise PromptError(f"{self.source}: {problem}; allowed placeholders: {allowed}")
