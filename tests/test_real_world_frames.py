"""Frames are stored as a viewer sees them, in every decoding path (issue 25): phone videos turned by their display
matrix, non-square pixels (DV, DVD, broadcast SD) scaled to the display aspect, interlaced frames deinterlaced.

Real media made here with ffmpeg 5.1 (small, 1-3 s), decoded by the real paths: the one-pass shot scan (PyAV,
`shots` on, the default), frame seeking (`shots: off`), the probe, and Phase 1 through its CLI with both settings
(no audio track: Whisper is never loaded). Every picture carries something asymmetric or measurable: a white box in
the top-left corner of the upright picture, a box that is square on screen, a box moving fast between two fields.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli, write_config
from vtdb.media.video import deinterlace, extract_frames, probe
from vtdb.workfiles import load_phase1_data

pytest.importorskip("scenedetect")
pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is needed")

from vtdb.media.shots import scan_video  # noqa: E402

BOX = 60  # the white box in the top-left corner of the upright 180x320 phone picture


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("real_world")
    out: dict[str, Path] = {}
    # Portrait phone videos: the upright picture is 180x320 with a white box top-left; the camera writes it on its
    # side (coded 320x180) with a display matrix that turns it back: +90 (counterclockwise) and -90 (the issue's).
    upright = f"color=0x202020:s=180x320:r=25:d=3,drawbox=x=0:y=0:w={BOX}:h={BOX}:color=white:t=fill"
    for name, transpose, tag in (("phone_p90", "clock", "90"), ("phone_m90", "cclock", "270")):
        coded = d / f"{name}_coded.mp4"
        ffmpeg("-f", "lavfi", "-i", f"{upright},transpose={transpose}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(coded))
        out[name] = d / f"{name}.mp4"
        ffmpeg("-i", str(coded), "-c", "copy", "-metadata:s:v:0", f"rotate={tag}", str(out[name]))
    # Anamorphic PAL, progressive: 720x576 shown 4:3 (16:15 pixels) and 16:9 (64:45 pixels); the box is square on screen.
    for name, sar, box_w, box_h in (("pal_4x3", "16/15", 150, 160), ("pal_16x9", "64/45", 90, 128)):
        out[name] = d / f"{name}.mp4"
        ffmpeg("-f", "lavfi", "-i", "color=gray:s=720x576:r=25:d=2",
               "-vf", f"drawbox=x=100:y=100:w={box_w}:h={box_h}:color=white:t=fill,setsar={sar}",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out[name]))
    # DV in AVI (PAL: 16:15 pixels, frames flagged interlaced), 1 s.
    out["dv"] = d / "dv.avi"
    ffmpeg("-f", "lavfi", "-i", "color=gray:s=720x576:r=25:d=1", "-vf", "drawbox=x=100:y=100:w=150:h=160:color=white:t=fill",
           "-c:v", "dvvideo", "-pix_fmt", "yuv420p", "-aspect", "4:3", str(out["dv"]))
    # Interlaced MPEG-2 in a program stream (.mpg), 4:3 PAL: a white box moving 12 px per field, two fields
    # per frame taken 1/50 s apart (tinterlace), coded as fields (+ilme+ildct), top field first.
    out["mpeg2i"] = d / "interlaced.mpg"
    ffmpeg("-f", "lavfi", "-i",
           "color=gray:s=720x576:r=50:d=2[bg];color=white:s=100x150:r=50[fg];"
           "[bg][fg]overlay=x='mod(t*600\\,620)':y=200:shortest=1,tinterlace=mode=interleave_top,setfield=tff",
           "-c:v", "mpeg2video", "-q:v", "3", "-flags", "+ilme+ildct", "-top", "1", "-aspect", "4:3", str(out["mpeg2i"]))
    return out


def gray(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image


def corners(image: np.ndarray, size: int) -> list[float]:
    """Mean brightness of the four corners: top-left, top-right, bottom-left, bottom-right."""
    return [float(image[ys, xs].mean()) for ys, xs in ((slice(0, size), slice(0, size)), (slice(0, size), slice(-size, None)),
                                                       (slice(-size, None), slice(0, size)),
                                                       (slice(-size, None), slice(-size, None)))]


def assert_upright(image: np.ndarray, max_side: int) -> None:
    h, w = image.shape[:2]
    assert (w, h) == (round(180 * max_side / 320), max_side) or (w, h) == (180, 320), (w, h)  # portrait
    size = round(BOX * h / 320 * 0.6)  # well inside the box
    tl, tr, bl, br = corners(image, size)
    assert tl > 200 and max(tr, bl, br) < 80, (tl, tr, bl, br)


def comb_pixels(image: np.ndarray) -> int:
    """Pixels of a line that differ from both lines around it in the same direction by 20+ (combing)."""
    g = image.astype(np.int32)
    return int((((g[1:-1] - g[:-2]) * (g[1:-1] - g[2:])) > 400).sum())


def white_box(image: np.ndarray) -> tuple[int, int]:
    """Width and height of the white area (the box) in a grey picture."""
    ys, xs = np.nonzero(image > 200)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


# ---------------------------------------------------------------- rotation


@pytest.mark.parametrize("name,rotation", [("phone_p90", 90), ("phone_m90", 270)])
def test_phone_video_is_probed_and_stored_upright_in_every_path(media, name, rotation):
    # The media are right: FFmpeg's own player-side decoding (autorotate) gives the upright picture.
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(media[name]), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    assert_upright(np.frombuffer(raw, np.uint8).reshape(320, 180), 320)
    info = probe(media[name])
    assert (info.width, info.height) == (180, 320)  # as displayed
    assert (info.coded_width, info.coded_height, info.rotation) == (320, 180, rotation)
    times = [0.5, 1.5, 2.5]
    scanned = scan_video(media[name], times, max_side=256, margin=0.3)  # shots on (the default)
    seeked = extract_frames(media[name], times, 256, duration=info.duration, fps=info.fps)  # shots off
    for fr in scanned.frames + seeked:
        image = gray(fr.jpeg)
        assert (fr.width, fr.height) == (image.shape[1], image.shape[0]) == (144, 256)
        assert_upright(image, 256)


# ---------------------------------------------------------------- pixel aspect


@pytest.mark.parametrize("name,display,stored", [("pal_4x3", (768, 576), (768, 576)), ("pal_16x9", (1024, 576), (768, 432)),
                                                 ("dv", (768, 576), (768, 576))])
def test_non_square_pixels_are_stored_at_the_display_aspect(media, name, display, stored):
    info = probe(media[name])
    assert (info.width, info.height) == display and (info.coded_width, info.coded_height) == (720, 576)
    scanned = scan_video(media[name], [0.5], max_side=768)
    seeked = extract_frames(media[name], [0.5], 768, duration=info.duration, fps=info.fps)
    for fr in scanned.frames + seeked:
        image = gray(fr.jpeg)
        assert (fr.width, fr.height) == (image.shape[1], image.shape[0]) == stored
        bw, bh = white_box(image)
        assert bw == pytest.approx(bh, rel=0.06), (bw, bh)  # the box square on screen is square as stored


# ---------------------------------------------------------------- interlacing


def test_interlaced_mpeg2_is_stored_deinterlaced_in_every_path(media):
    path = media["mpeg2i"]
    info = probe(path)
    assert (info.width, info.height) == (768, 576) and info.interlaced
    # The source really is combed: every decoded frame has the box's edges torn between its two fields.
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "5", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, capture_output=True).stdout
    source = np.frombuffer(raw, np.uint8).reshape(-1, 576, 720)
    assert min(comb_pixels(f) for f in source) > 2000
    times = [0.0, 0.3, 0.9, 1.5]
    scanned = scan_video(path, times, max_side=768, margin=0.0)
    seeked = extract_frames(path, times, 768, duration=info.duration, fps=info.fps)
    # Both paths store the frame shown at each time (the box moves 24 px a frame). Seeking in an MPEG-PS by time
    # lands on a keyframe after the one asked for (0.54 s and 1.02 s for 0.0 s here): it must go back.
    for a, b in zip(scanned.frames, seeked, strict=True):
        assert np.abs(gray(a.jpeg).astype(float) - gray(b.jpeg)).mean() < 2, (a.time, b.time)
    for fr in scanned.frames + seeked:
        image = gray(fr.jpeg)
        assert image.shape == (576, 768)
        bw, bh = white_box(image)  # the picture is there (not black), the box whole
        assert 95 <= bw <= 140 and 140 <= bh <= 160, (fr.time, bw, bh)
        assert comb_pixels(image) < 100, (fr.time, comb_pixels(image))


def test_deinterlace_keeps_still_detail_and_thin_lines():
    # Where nothing moved between the fields, both fields are kept: a one-line stroke and a sharp edge stay.
    image = np.full((64, 64), 100, np.uint8)
    image[21, :] = 250  # a thin horizontal stroke (one line of the second field)
    image[40:, 10:30] = 0  # a still block
    assert np.array_equal(deinterlace(image), image)
    combed = image.copy()
    combed[1::2, 40:50] = 255  # the second field's lines differ from the first's: combing
    fixed = deinterlace(combed)
    assert comb_pixels(combed[:, 40:50]) > 100 and comb_pixels(fixed[:, 40:50]) == 0
    assert np.array_equal(fixed[:, :40], image[:, :40]) and (fixed[21, 50:] == 250).all()  # the rest untouched


# ---------------------------------------------------------------- Phase 1 through its CLI


@pytest.mark.parametrize("shots", ["auto", "off"])
def test_phase1_stores_what_a_viewer_sees(tmp_path, media, shots):
    names = ("phone_m90", "pal_16x9", "mpeg2i")
    cfg = write_config(tmp_path, [{"name": n, "path": str(media[n])} for n in names], shots=shots, ocr="off",
                       frame_max_side=256, window_length=10, window_overlap=2)
    proc = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = {n: load_phase1_data(tmp_path / "data", n) for n in names}
    assert (data["phone_m90"]["video"]["width"], data["phone_m90"]["video"]["height"]) == (180, 320)
    assert (data["pal_16x9"]["video"]["width"], data["pal_16x9"]["video"]["height"]) == (1024, 576)
    frames = {n: [f for w in d["windows"] for f in w["frames"]] for n, d in data.items()}
    assert all(frames.values())
    for f in frames["phone_m90"]:
        assert_upright(gray(f["jpeg"]), 256)
    for f in frames["pal_16x9"]:
        assert (f["width"], f["height"]) == (256, 144)
    for f in frames["mpeg2i"]:
        image = gray(f["jpeg"])
        assert image.shape == (192, 256) and image.max() > 200  # 4:3, and not black
