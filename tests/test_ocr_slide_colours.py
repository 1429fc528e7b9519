"""On-screen text belongs to its own frame (issue 24): a silent slide video, 12 s a slide, white text in the same
place on navy, dark green and maroon, in a Russian-language video. Each slide's own words are stored in its own
windows: the Kazakh slide with its Kazakh letters (Қ, Ә, І), the English slide read at all.

Before: the same-frame skip compared thumbnails of the channel OCR reads (the minimum of B, G, R), where all
three backgrounds are black, so the English slide was taken for the Kazakh one and given its text; and the
Russian model alone read "ҚАЗАҚСТАН" as "КАЗАКСТАН". Real parts: Pillow draws, ffmpeg encodes, real tesseract
reads through the real Phase 1 (no audio, so Whisper never runs: whisper_model points nowhere)."""

from __future__ import annotations

import pytest
from helpers.slides import slide_image, slides_video

from conftest import run_cli, write_config
from vtdb.config import load_config
from vtdb.media import ocr
from vtdb.workfiles import load_phase1_data

NAVY, DARK_GREEN, MAROON = (0, 0, 128), (0, 100, 0), (128, 0, 0)
SLIDES = [(["ВОДОПРОВОДНАЯ", "СТАНЦИЯ"], NAVY), (["ҚАЗАҚСТАН", "ТӘУЕЛСІЗДІГІ"], DARK_GREEN),
          (["LIGHTHOUSE", "MAINTENANCE"], MAROON)]

pytestmark = pytest.mark.skipif(ocr.ocr_available(["rus", "kaz", "eng"])[1] is not None,
                                reason="tesseract with Russian, Kazakh and English data is not installed (scripts/setup.sh installs it)")


def _words(lines: list[str]) -> set[str]:
    return {w.strip(".,:;!?").upper() for line in lines for w in line.split()}


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide_colours")
    video = slides_video(folder / "slides.mp4", SLIDES, seconds=12.0, size=(960, 540), font_size=40)
    cfg = write_config(folder, [{"name": "slides", "path": str(video), "language": "ru"}], analyzer="transcript",
                       whisper_model="/nonexistent/whisper", window_length=12, window_overlap=0, frames_per_window=3,
                       shots="off")
    res = run_cli("phase1_whisper_frames.py", "--config", str(cfg))
    assert res.returncode == 0, res.stdout + res.stderr
    return load_phase1_data(load_config(cfg, env={}).work_dir, "slides")["windows"]


def test_each_slide_has_its_own_text_in_its_own_window(windows):
    assert len(windows) == 3, [(w["start_time"], w["end_time"]) for w in windows]
    for window, (lines, _background) in zip(windows, SLIDES):
        got = _words(window["on_screen_text"])
        assert set(lines) <= got, (window["start_time"], window["on_screen_text"], lines)
        others = {w for other, _ in SLIDES if other != lines for w in other}
        assert not (got & others), (window["start_time"], window["on_screen_text"])  # never another slide's words


def test_kazakh_letters_are_read_as_themselves(windows):
    text = " ".join(windows[1]["on_screen_text"])
    assert "ҚАЗАҚСТАН" in text and "ТӘУЕЛСІЗДІГІ" in text, text
    assert "КАЗАКСТАН" not in text


def test_the_skip_tells_the_slides_apart_by_colour(tmp_path):
    """The skip's own measure on the stored frames (768 px JPEGs): the Kazakh and the English slide are alike in
    the channel OCR reads (the old signature: below the threshold, so the English slide was skipped) and far
    apart in colour."""
    import cv2

    colour, grey = [], []
    for k, (lines, background) in enumerate(SLIDES[1:]):
        png = tmp_path / f"slide{k}.png"
        slide_image(png, lines, background, (960, 540), 40)
        stored = cv2.resize(cv2.imread(str(png)), (768, 432), interpolation=cv2.INTER_AREA)
        image = ocr.decode_color(cv2.imencode(".jpg", stored, [int(cv2.IMWRITE_JPEG_QUALITY), 85])[1].tobytes())
        colour.append(ocr.thumbnail(image))
        grey.append(ocr.thumbnail(ocr.min_channel(image)))
    assert ocr.frame_difference(*grey) < ocr.SAME_FRAME_DIFF
    assert ocr.frame_difference(*colour) > 4 * ocr.SAME_FRAME_DIFF
