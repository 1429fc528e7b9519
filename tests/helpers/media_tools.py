"""ffmpeg and ffprobe as the media tests call them: quiet, checked, bounded in time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", *args], check=True, capture_output=True, timeout=120)


def stream_types(path: Path) -> list[str]:
    """The codec_type of each stream ("audio", "video", ...), in order (a cover picture is a "video" stream)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=60)
    return [s["codec_type"] for s in json.loads(out.stdout)["streams"]]
