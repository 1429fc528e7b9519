"""Silent slide videos for the OCR tests: text drawn with DejaVu Sans Bold (Debian's fonts) on plain
backgrounds, each slide a still shot of its own, joined by hard cuts into an H.264 video by ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def slide_image(path: Path, lines: Sequence[str], background: tuple[int, int, int], size: tuple[int, int] = (640, 360),
                font_size: int = 40) -> None:
    """White lines of text, left-aligned from a third of the height, on one colour."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, font_size)
    top, step = size[1] * 11 // 36, font_size * 3 // 2
    for i, line in enumerate(lines):
        draw.text((size[0] // 16, top + step * i), line, font=font, fill=(255, 255, 255))
    image.save(path)


def slides_video(path: Path, slides: Sequence[tuple[Sequence[str], tuple[int, int, int]]], seconds: float = 8.0,
                 size: tuple[int, int] = (640, 360), font_size: int = 40) -> Path:
    """A silent video of `slides` ((lines, background) each), `seconds` each, 10 fps: hard cuts at each
    multiple of `seconds`."""
    inputs: list[str] = []
    for k, (lines, background) in enumerate(slides):
        png = path.with_name(f"{path.stem}_{k}.png")
        slide_image(png, lines, background, size, font_size)
        inputs += ["-loop", "1", "-t", f"{seconds:g}", "-i", str(png)]
    joined = "".join(f"[{k}:v]" for k in range(len(slides)))
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex",
                    f"{joined}concat=n={len(slides)}:v=1,fps=10,format=yuv420p[v]", "-map", "[v]", "-c:v", "libx264",
                    str(path)], check=True)
    return path
