"""On-screen text (tesseract OCR): binding speed, recall against text size, false words on frames
with no text, and how often the same-frame skip fires.

    python bench/ocr.py [--quick] [--parts fp,recall,speed,languages]

Frames are made here with ffmpeg (drawtext with DejaVu Sans over lavfi test patterns and
natural-ish sources: mandelbrot, life, cellauto, gradients, testsrc2), rendered at 1280x720 (a
720p video) and at 1920x1080, stored the way Phase 1 stores them (<= 768 px, JPEG q85), then
read with vtdb.media.ocr. Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from _common import loadavg, log  # noqa: E402

from vtdb.media import ocr  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXTS = {
    "eng": ["Weather forecast for tomorrow", "Mountain roads closed tonight", "Library opens seven days"],
    "rus": ["Прогноз погоды на завтра", "Горные дороги закрыты ночью", "Библиотека работает каждый день"],
    "kaz": ["Қазақстан әлемі ғылым", "Өнер мен мәдениет үйі", "Ұлттық құндылықтар һәм білім"],
}
BACKGROUNDS = {
    "testsrc2": "testsrc2=s={s}:r=5",
    "mandelbrot": "mandelbrot=s={s}:r=5",
    "life": "life=s={s}:r=5:mold=10:ratio=0.2:death_color=#303030:life_color=#a0c0ff",
    "cellauto": "cellauto=s={s}:r=5:rule=110",
    "gradients": "gradients=s={s}:r=5:speed=0.05",
    "noise": "color=c=0x506070:s={s}:r=5,noise=alls=30:allf=t",
}
# testsrc2 draws a real clock and frame counter: never a "no text" frame.
BLANK = ["mandelbrot", "life", "cellauto", "gradients", "noise"]


def render(bg: str, size: str, seconds: float, text: str | None, fontsize: int, out_dir: Path, tag: str) -> list[Path]:
    """PNG frames (1 per second) of a background with optional text (white, black outline, lower third)."""
    vf = []
    if text is not None:
        text_file = out_dir / f"{tag}.txt"
        text_file.write_text(text, encoding="utf-8")
        vf.append(f"drawtext=fontfile={FONT}:textfile={text_file}:fontsize={fontsize}:fontcolor=white:borderw=2:bordercolor=black:"
                  f"x=(w-text_w)/2:y=h*0.78")
    vf.append("fps=1")
    pattern = out_dir / f"{tag}_%03d.png"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", BACKGROUNDS[bg].format(s=size), "-t", str(seconds),
           "-vf", ",".join(vf), "-y", str(pattern)]
    subprocess.run(cmd, check=True)
    return sorted(out_dir.glob(f"{tag}_*.png"))


def stored_jpeg(png: Path, max_side: int = 768, quality: int = 85) -> bytes:
    """The frame as Phase 1 stores it (vtdb.media.video._encode: INTER_AREA down to max_side, JPEG)."""
    image = cv2.imread(str(png))
    h, w = image.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    assert ok
    return buf.tobytes()


def norm(word: str) -> str:
    return ocr._EDGE_PUNCT.sub("", word.lower())


def recall(read_words: list[str], truth: str) -> float:
    want = [norm(w) for w in truth.split()]
    got = {norm(w) for w in read_words}
    return sum(w in got for w in want) / len(want)


def bench_bindings(frames: list[bytes], languages: list[str]) -> dict:
    """Per-frame time: tesserocr (engine loaded once) vs pytesseract (a tesseract process per call)."""
    out: dict = {"frames": len(frames)}
    reader = ocr.OcrReader(languages)
    t0 = time.perf_counter()
    for jpeg in frames:
        reader.read(jpeg)
    out["tesserocr_ms"] = round(1000 * (time.perf_counter() - t0) / len(frames), 1)
    reader.close()
    try:
        import pytesseract
        from PIL import Image
    except ImportError:
        out["pytesseract_ms"] = None
        return out
    t0 = time.perf_counter()
    for jpeg in frames:
        gray = ocr.decode_gray(jpeg)
        gray = cv2.resize(gray, None, fx=ocr.READ_MIN_SIDE / max(gray.shape), fy=ocr.READ_MIN_SIDE / max(gray.shape), interpolation=cv2.INTER_CUBIC)
        pytesseract.image_to_data(Image.fromarray(gray), lang="+".join(languages), config="--psm 11 --oem 1",
                                  output_type=pytesseract.Output.DICT)
    out["pytesseract_ms"] = round(1000 * (time.perf_counter() - t0) / len(frames), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames per case")
    ap.add_argument("--sizes", default="16,24,32,48")
    ap.add_argument("--read-sides", default="768,1280", help="read_min_side values to compare")
    ap.add_argument("--parts", default="fp,recall,speed,languages", help="comma list of fp, recall, speed, languages")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    seconds = 1 if args.quick else 3
    sizes = [int(x) for x in args.sizes.split(",")]
    sides = [int(x) for x in args.read_sides.split(",")]
    log(f"load {loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # False words: frames with no text at all.
        blank: list[bytes] = []
        for bg in BLANK if "fp" in parts else []:
            blank += [stored_jpeg(p) for p in render(bg, "1280x720", 20 if not args.quick else 8, None, 0, work, f"blank_{bg}")]
        # Every raw word once per frame; the thresholds are applied afterwards (one tesseract read per frame).
        for side in sides if blank else []:
            reader = ocr.OcrReader(["kaz", "rus", "eng"], read_min_side=side)
            raws = [reader.raw_lines(ocr.decode_gray(jpeg)) for jpeg in blank]
            reader.close()
            for conf in (60.0, 70.0, 80.0, 85.0, 90.0):
                for letters in (2, 3, 4):
                    false_words = [w.text for raw, scale in raws
                                   for line in ocr.filter_lines(raw, scale, conf, max(conf, ocr.MIN_SHORT_WORD_CONFIDENCE), letters)
                                   for w in line.words]
                    print(json.dumps({"measure": "false_words", "frames": len(blank), "read_min_side": side, "min_conf": conf,
                                      "min_letters": letters, "false_words": len(false_words),
                                      "per_100_frames": round(100 * len(false_words) / len(blank), 2), "examples": false_words[:8]},
                                     ensure_ascii=False), flush=True)
            strongest = sorted(((c, t) for raw, _ in raws for line in raw for t, c, _ in line if ocr._letters(t) >= 3), reverse=True)[:10]
            print(json.dumps({"measure": "most_confident_raw_words_on_blank", "read_min_side": side,
                              "words": [[t, round(c)] for c, t in strongest]}, ensure_ascii=False), flush=True)
        # Recall against text size, per language: 720p and 1080p sources, read as stored (768 px), stored and
        # upscaled to read_min_side, or at the source's full resolution (what Phase 1 would have to pass).
        variants = [("stored768", 768, side) for side in sides] + [("full", 0, 0)]
        for source in ("1280x720", "1920x1080") if "recall" in parts else ():
            for lang, lines in TEXTS.items():
                for size in sizes:
                    pngs = []
                    for k, (bg, text) in enumerate(zip(["testsrc2", "mandelbrot", "noise"], lines)):
                        pngs += [(p, text) for p in render(bg, source, seconds, text, size, work, f"{lang}_{size}_{k}_{source}")]
                    for label, stored, side in variants:
                        reader = ocr.OcrReader(ocr.tesseract_languages({"eng": "en", "rus": "ru", "kaz": "kk"}[lang]), read_min_side=side)
                        scores = [recall([w.text for line in reader.read(stored_jpeg(p, stored or 10000, 95 if not stored else 85))
                                          for w in line.words], t) for p, t in pngs]
                        reader.close()
                        print(json.dumps({"measure": "recall", "source": source, "lang": lang, "fontsize_px": size, "frame": label,
                                          "read_min_side": side, "frames": len(pngs), "word_recall": round(float(np.mean(scores)), 3)}),
                              flush=True)
        if "languages" in parts:
            # The cost of reading a Russian video's frames in its region's language too (ocr_languages auto:
            # rus+eng before issue 24, rus+kaz+eng now; a Kazakh line is read a second time, Kazakh first).
            for lang in ("rus", "kaz"):
                frames = [stored_jpeg(p) for text in TEXTS[lang]
                          for p in render("testsrc2", "1280x720", 2, text, 32, work, f"lang_{lang}_{len(text)}")]
                row = {}
                for langs in (["rus", "eng"], ["rus", "kaz", "eng"]):
                    with ocr.OcrReader(langs) as reader:
                        reader.read(frames[0])  # warm
                        t0 = time.perf_counter()
                        words = [w.text for jpeg in frames for line in reader.read(jpeg) for w in line.words]
                        row["+".join(langs)] = {"ms_per_frame": round((time.perf_counter() - t0) / len(frames) * 1000, 1),
                                                "word_recall": round(float(np.mean([recall(words, t) for t in TEXTS[lang]])), 3)}
                print(json.dumps({"measure": "ocr_languages_cost", "text": lang, "frames": len(frames), **row,
                                  "ratio": round(row["rus+kaz+eng"]["ms_per_frame"] / row["rus+eng"]["ms_per_frame"], 2),
                                  "load": loadavg()}), flush=True)
        if "speed" not in parts:
            return
        # Binding speed on 720p stored frames with text.
        frames = [stored_jpeg(p) for p in render("testsrc2", "1280x720", 10, TEXTS["rus"][0], 32, work, "speed")]
        print(json.dumps({"measure": "binding_ms_per_frame", "langs": "rus+eng", **bench_bindings(frames, ["rus", "eng"])}), flush=True)
        # Same-frame skip: differences between consecutive frames of a static slide vs a caption change.
        slide = [stored_jpeg(p) for p in render("gradients", "1280x720", 1, TEXTS["eng"][0], 40, work, "slide_a")]
        other = [stored_jpeg(p) for p in render("gradients", "1280x720", 1, TEXTS["eng"][1], 40, work, "slide_b")]
        a, b = (ocr.thumbnail(ocr.decode_color(x[0])) for x in (slide, other))
        jitter = ocr.thumbnail(ocr.decode_color(cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(slide[0], np.uint8), 1),
                                                             [int(cv2.IMWRITE_JPEG_QUALITY), 70])[1].tobytes()))
        print(json.dumps({"measure": "frame_difference", "same_slide_reencoded": round(ocr.frame_difference(a, jitter), 2),
                          "caption_changed": round(ocr.frame_difference(a, b), 2), "threshold": ocr.SAME_FRAME_DIFF}), flush=True)
    log(f"done, load {loadavg()}")


if __name__ == "__main__":
    main()
