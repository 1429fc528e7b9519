"""A damaged H.264 file gets one clear line, not dozens of `[h264 @ …]` decoder complaints (issue #9)."""

from __future__ import annotations

import random
import subprocess

from conftest import run_cli, write_config


def _damaged_h264(folder):
    good = folder / "good.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi",
                    "-i", "sine=frequency=440", "-t", "20", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(good)], check=True)
    data = bytearray(good.read_bytes())
    rng = random.Random(1)
    for _ in range(300):  # scribble over the middle of the stream, keep the header and index intact
        at = rng.randrange(len(data) // 5, len(data) * 9 // 10)
        data[at:at + 20] = bytes(rng.randrange(256) for _ in range(20))
    bad = folder / "damaged.mp4"
    bad.write_bytes(bytes(data))
    return bad


def test_damaged_h264_gives_one_clear_line_and_no_decoder_flood(tmp_path):
    bad = _damaged_h264(tmp_path)
    cfg = write_config(tmp_path, [{"name": "damaged", "path": str(bad), "language": "en"}])
    proc = run_cli("phase1_whisper_frames.py", "--config", str(cfg), cwd=tmp_path, timeout=300)
    out = proc.stdout + proc.stderr
    # Indexed as far as it decodes (issue 25), said once, without the decoder's own flood of messages.
    assert proc.returncode == 0, out[-3000:]
    assert "h264 @" not in out and "error while decoding" not in out, out[-3000:]
    assert "Traceback" not in out
    done = [line for line in out.splitlines() if line.startswith("✓ damaged:")]
    assert len(done) == 1 and "partial:" in done[0] and "decodable" in done[0], out[-3000:]
