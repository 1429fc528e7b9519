"""Shot counts on grainy footage as HEVC, VP9 and H.264 encode it (issue 25: an archivist saw a false cut at
every keyframe in HEVC and VP9). Two grey (black-and-white film-like) scenes with moving content and film
grain, a hard cut between them; keyframes every 48 frames, as the encoders make them by default or close.

Before the fix (vtdb.media.shots._core_chroma) the hue of grey pixels, pure grain, drove the detector: in
H.264 and HEVC the real cut did not stand out of the grain (1 shot for 2), in VP9 keyframes scored as cuts
(4 shots for 2; 6 for the clip with no cut at all)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("scenedetect")
pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is needed")

from vtdb.media import shots  # noqa: E402

CUT = 10.0  # seconds: the one real cut
LENGTH = 20.0
SIZE = "320x180"
# Black-and-white film: no colour, grain that changes every frame (temporal + uniform), as in a scan.
GRAIN = "hue=s=0,noise=alls=20:allf=t+u,format=yuv420p,setsar=1"

ENCODERS = {
    "h264": ("mp4", ["-c:v", "libx264", "-preset", "veryfast", "-g", "48"]),
    # x265 at its default CRF, 10-bit as archives keep it; keyint 48 puts a keyframe every 1.92 s.
    # One thread: x265's thread pools wait on each other on a busy machine (10x the wall time of its CPU time).
    "hevc10": ("mkv", ["-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "keyint=48:pools=1:frame-threads=1:log-level=error"]),
    # Real-time VP9 (live streams, screen recorders) at a low bitrate: each keyframe brings back detail and a fresh
    # grain pattern that the frames before it had lost.
    "vp9": ("webm", ["-c:v", "libvpx-vp9", "-b:v", "100k", "-g", "48", "-deadline", "realtime", "-cpu-used", "8"]),
}


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shot_codecs")


@pytest.fixture(scope="module")
def master(folder) -> Path:
    """Lossless: a moving test card, then (hard cut at CUT) a zooming fractal, both grey with grain."""
    path = folder / "master.mkv"
    half = f"{CUT:g}"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r=25:d={half}", "-f", "lavfi", "-i", f"mandelbrot=s={SIZE}:r=25",
            "-filter_complex", f"[0:v]{GRAIN}[a];[1:v]trim=duration={LENGTH - CUT:g},setpts=PTS-STARTPTS,{GRAIN}[b];"
            "[a][b]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "ffv1", str(path))
    return path


@pytest.mark.parametrize("codec", list(ENCODERS))
def test_each_codec_gives_the_two_real_shots(folder, master, codec):
    ext, args = ENCODERS[codec]
    video = folder / f"clip_{codec}.{ext}"
    _ffmpeg("-i", str(master), *args, str(video))
    scan = shots.scan_video(video)
    assert len(scan.shots) == 2, scan.transitions
    assert abs(scan.shots[1].start - CUT) <= 0.5, scan.transitions
    assert scan.shots[-1].end == pytest.approx(LENGTH, abs=0.1)


def test_grain_without_a_cut_is_one_shot(folder):
    # One slowly zooming fractal, mostly dark: only the keyframes change anything beyond the grain, and none is a cut.
    video = folder / "no_cut_vp9.webm"
    _ffmpeg("-f", "lavfi", "-i", f"mandelbrot=s={SIZE}:r=25", "-t", "12", "-vf", GRAIN, *ENCODERS["vp9"][1], str(video))
    scan = shots.scan_video(video)
    assert len(scan.shots) == 1, scan.transitions
