"""Shot boundaries with the real PySceneDetect detectors on a video ffmpeg makes here: four lavfi
sources, hard cuts at 4 s and 8 s (concat) and a 1 s crossfade from 11 s to 12 s (xfade)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("scenedetect")
pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is needed")

from vtdb.media import shots  # noqa: E402
from vtdb.media.video import SequentialFrames, extract_frames, frame_to_bgr  # noqa: E402

CUTS = [4.0, 8.0]
FADE = (11.0, 12.0)


def make_cut_video(path: Path, size: str = "426x240", preset: str = "ultrafast") -> Path:
    # gradients picks random colours and positions unless both are given: the crossfade's change then
    # ranged 21-63 on the fade measure's scale (the threshold is 24) and the test failed now and then; these give 44.
    sources = ["testsrc2", "mandelbrot", "smptebars", "gradients=speed=0.02:c0=0x203060:c1=0xd0a040:seed=1"]
    args = []
    for src in sources:
        name, _, opts = src.partition("=")
        args += ["-t", "4", "-f", "lavfi", "-i", f"{name}=s={size}:r=25" + (f":{opts}" if opts else "")]
    norm = ",".join(["format=yuv420p", "setsar=1", "fps=25", "settb=1/25"])
    graph = (";".join(f"[{i}:v]{norm}[s{i}]" for i in range(4)) +
             f";[s0][s1][s2]concat=n=3:v=1:a=0,settb=1/25[abc];[abc][s3]xfade=transition=fade:duration=1:offset={FADE[0]}[v]")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *args, "-filter_complex", graph, "-map", "[v]",
                    "-c:v", "libx264", "-preset", preset, "-g", "50", "-y", str(path)], check=True)
    return path


# ultrafast has no B-frames: every frame is decoded. veryfast has B-frames (x264's usual 3, in a pyramid):
# the decoder skips the non-reference ones, and the cuts and the fade must still be where they are.
@pytest.fixture(scope="module", params=["ultrafast", "veryfast"])
def cut_video(request, tmp_path_factory) -> Path:
    return make_cut_video(tmp_path_factory.mktemp("shots") / f"cuts_{request.param}.mp4", preset=request.param)


@pytest.fixture(scope="module")
def scan(cut_video):
    # Sample times on purpose on the cuts and inside the fade.
    return shots.scan_video(cut_video, [2.0, 4.0, 7.95, 11.5, 14.0], margin=0.3)


def test_hard_cuts_found_within_0_2_s_and_the_fade_once(scan):
    cuts = [tr for tr in scan.transitions if tr.kind == "cut"]
    fades = [tr for tr in scan.transitions if tr.kind == "fade"]
    assert len(cuts) == 2, scan.transitions
    for found, want in zip(cuts, CUTS):
        assert abs(found.time - want) <= 0.2, scan.transitions
    assert len(fades) == 1, scan.transitions
    fade = fades[0]
    assert FADE[0] - 0.2 <= fade.time <= FADE[1] + 0.2
    assert fade.start <= FADE[0] + 0.3 and fade.end >= FADE[1] - 0.3  # its extent, for the sampling
    # Nothing else: no boundary inside the still shots.
    assert len(scan.transitions) == 3
    assert [s.start for s in scan.shots] == pytest.approx([0.0, 4.0, 8.0, 11.5], abs=0.3)
    assert scan.shots[-1].end == pytest.approx(15.0, abs=0.1)


def test_one_pass_frames_avoid_cuts_and_fades(scan, cut_video):
    assert len(scan.frames) == 5
    for fr in scan.frames:
        assert shots.distance_to_transitions(fr.time, scan.transitions) >= 0.3 - 1e-6, (fr.time, scan.transitions)
        image = cv2.imdecode(np.frombuffer(fr.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] == fr.width
    assert scan.frames[0].time == 2.0 and scan.frames[-1].time == 14.0  # clear times stay where they were
    # The frame kept for a time is the frame at the time it reports (compare with OpenCV seeking).
    seek = extract_frames(cut_video, [scan.frames[1].time])[0]
    a = cv2.imdecode(np.frombuffer(seek.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    b = cv2.imdecode(np.frombuffer(scan.frames[1].jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    assert np.abs(a - b).mean() < 12


def test_non_reference_frames_are_skipped_only_where_b_frames_exist(scan, cut_video):
    total = 376  # 15 s at 25 fps (xfade adds one)
    if "veryfast" in cut_video.name:
        assert scan.frames_decoded < 0.7 * total  # about half: B-frames nothing refers to are not decoded
        every = shots.scan_video(cut_video, (), skip_nonreference=False)
        assert every.frames_decoded == total
        assert [tr.kind for tr in every.transitions] == [tr.kind for tr in scan.transitions]
        for a, b in zip(every.transitions, scan.transitions):
            assert abs(a.time - b.time) <= 0.2
    else:
        assert scan.frames_decoded == total


def test_skipping_stops_where_it_would_leave_wide_gaps(tmp_path):
    # 8 fps with 3 B-frames: skipping them leaves 0.25-0.5 s between frames, too coarse to place a cut.
    video = tmp_path / "slow.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=8", "-t", "6",
                    "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-y", str(video)], check=True)
    with SequentialFrames(video) as frames:
        times = [t for t, _frame in frames]
    assert len(times) >= 46  # 48 frames; at most the few before the first wide gap was seen are skipped
    assert max(np.diff(times[8:])) <= 0.13 + 1e-6


@pytest.mark.parametrize("pix_fmt,size,codec", [("yuv420p", "320x240", "libx264"), ("yuv444p", "320x240", "libx264"),
                                                ("yuv420p", "321x241", "ffv1")])
def test_frame_conversion_matches_ffmpegs(tmp_path, pix_fmt, size, codec):
    # The plane-by-plane shrink and conversion (4:2:0, even sizes) against FFmpeg's own, and the fallback
    # (other pixel formats, odd sizes). testsrc2's saturated colour edges are a worst case for 4:2:0.
    video = tmp_path / "one.mkv"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25", "-frames:v", "1",
                    "-vf", f"scale={size.replace('x', ':')}", "-c:v", codec, "-pix_fmt", pix_fmt, "-y", str(video)], check=True)
    with SequentialFrames(video) as frames:
        _t, frame = next(iter(frames))
        w, h = frame.width, frame.height
        assert (w, h) == tuple(int(x) for x in size.split("x")) and frame.format.name == pix_fmt
        same = frame_to_bgr(frame, w, h).astype(float)
        small = frame_to_bgr(frame, 160, 120, fine=True).astype(float)
        reference = frame.to_ndarray(format="bgr24").astype(float)
        reference_small = frame.reformat(width=160, height=120, format="bgr24", interpolation="AREA").to_ndarray().astype(float)
    assert same.shape == (h, w, 3) and np.abs(same - reference).mean() < 2
    assert small.shape == (120, 160, 3) and np.abs(small - reference_small).mean() < 5


def test_content_detector_finds_the_same_cuts(cut_video):
    found = shots.detect_shots(cut_video, detector="content")
    starts = [s.start for s in found][1:]
    for want in CUTS:
        assert any(abs(b - want) <= 0.2 for b in starts), found
    assert sum(FADE[0] - 0.3 <= b <= FADE[1] + 0.3 for b in starts) == 1, found


def test_sample_times_off_transitions_moves_only_what_it_must():
    cut_shots = [[0.0, 4.0], [4.0, 8.0], [8.0, 12.0]]
    moved = shots.sample_times_off_transitions([1.0, 3.9, 4.1, 7.0], cut_shots, margin=0.5)
    assert moved == [1.0, 3.5, 4.5, 7.0]
    # A window that ends at the cut: the time moves back inside it.
    assert shots.sample_times_off_transitions([3.8], cut_shots, margin=0.5, bounds=(0.0, 4.0)) == [3.5]
    # A fade keeps its extent: samples leave the whole of it.
    fade = [shots.Transition(11.5, 11.0, 12.0, "fade")]
    assert shots.sample_times_off_transitions([11.4, 11.6], fade, margin=0.25) == [10.75, 12.25]
    # No shots: nothing moves.
    assert shots.sample_times_off_transitions([1.0, 2.0], [[0.0, 10.0]], margin=0.5) == [1.0, 2.0]


def test_cut_inside_a_window_is_its_scene_change():
    cut_shots = [shots.Shot(0.0, 4.0), shots.Shot(4.0, 8.0)]
    assert shots.cut_inside(cut_shots, 0.0, 5.0)
    assert not shots.cut_inside(cut_shots, 4.5, 8.0)
    assert not shots.cut_inside([[0.0, 8.0]], 0.0, 8.0)
    assert shots.shots_as_lists(cut_shots) == [[0.0, 4.0], [4.0, 8.0]]


def test_unreadable_video_is_a_media_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    from vtdb.media.video import MediaError

    with pytest.raises(MediaError, match="bad.mp4"):
        shots.scan_video(bad)


def _segments(n: int, length: float = 20.0, step: float = 15.0):
    from vtdb.summarize import SegmentText

    return [SegmentText(i, i * step, i * step + length, f"moment {i}", [f"topic{i // 3}"], "tutorial") for i in range(n)]


def test_chapters_snap_to_shot_boundaries():
    from vtdb.summarize import make_chapters, snap_chapters

    segments = _segments(6)
    # Two topics: windows 0-2 alike, 3-5 alike; the change between windows 2 and 3 (starts 30 and 45).
    vectors = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    plain = make_chapters(segments, vectors)
    assert [c["start"] for c in plain] == [0.0, 45.0]
    snapped = make_chapters(segments, vectors, shots=[[0.0, 41.2], [41.2, 90.0]])
    assert [c["start"] for c in snapped] == [0.0, 41.2] and snapped[0]["end"] == 41.2
    # A boundary farther than half a window step away: the chapter keeps its start.
    far = make_chapters(segments, vectors, shots=[[0.0, 20.0], [20.0, 90.0]])
    assert [c["start"] for c in far] == [0.0, 45.0]
    # Creator chapters are used as they are; malformed shot entries are ignored.
    given = [{"start": 0, "end": 50, "title": "Intro"}]
    assert make_chapters(segments, vectors, given, shots=[[0.0, 41.2], [41.2, 90.0]])[0]["start"] == 0.0
    assert snap_chapters(plain, [["x", 1], [44.0, 90.0], None], max_shift=7.5)[1]["start"] == 44.0  # type: ignore[list-item]


def test_phase4_reads_shots_from_the_phase1_pickle_and_tolerates_their_absence(tmp_path):
    from vtdb.phases.phase4 import phase1_shots
    from vtdb.safe_pickle import dump_plain
    from vtdb.workfiles import PHASE1_FORMAT, PHASE1_VERSION, phase1_data_path

    assert phase1_shots(tmp_path, "clip") == []  # no pickle
    base = {"format": PHASE1_FORMAT, "version": PHASE1_VERSION, "windows": []}
    dump_plain(phase1_data_path(tmp_path, "clip"), base)
    assert phase1_shots(tmp_path, "clip") == []  # a pickle from before shots
    dump_plain(phase1_data_path(tmp_path, "clip"), {**base, "shots": [[0.0, 4.0], [4.0, 9.5], ["bad"]]})
    assert phase1_shots(tmp_path, "clip") == [[0.0, 4.0], [4.0, 9.5]]
    phase1_data_path(tmp_path, "clip").write_bytes(b"garbage")
    warnings: list[str] = []
    assert phase1_shots(tmp_path, "clip", warnings.append) == []
    assert warnings and "not snapped" in warnings[0]


def test_the_fade_measure_keeps_only_the_thumbnails_it_compares():
    # A 10-hour file analysed at 12 fps is 432,000 thumbnails: only the last `lag` + 1 may be held (issue 25).
    rng = np.random.default_rng(7)
    thumbs = [rng.uniform(0, 255, (36, 64)).astype(np.float32) for _ in range(300)]
    fades = shots.FadeMeasure(25.0)
    for k, thumb in enumerate(thumbs):
        fades.add(k / 12.0, thumb)
    fades.finish()
    assert fades.lag == 6 and len(fades._recent) == fades.lag + 1  # 0.5 s at 12 frames a second
    brute = [float(np.abs(thumbs[i] - thumbs[i - fades.lag]).mean()) for i in range(fades.lag, len(thumbs))]
    assert np.allclose(fades.changes[fades.lag:], brute) and np.isnan(fades.changes[: fades.lag]).all()
    assert np.allclose(fades.steps[1:], [float(np.abs(b - a).mean()) for a, b in zip(thumbs, thumbs[1:])])


def test_alternate_candidates_are_released_early_and_the_frames_chosen_do_not_change(cut_video, monkeypatch):
    # A sample keeps five candidate JPEGs until the transitions near it are known; holding them all to the end of
    # the pass took ~5 JPEGs x 6,000 samples for a 10-hour film (issue 25). Released early, the choice is the same.
    times = [t / 4 for t in range(1, 60)]  # every 0.25 s, many on or near the cuts and the fade
    dropped: list[int] = []
    release = shots._release_alternates

    def counting(by_time, released, now, offsets, got, cuts, fades):
        before = len(got)
        out = release(by_time, released, now, offsets, got, cuts, fades)
        dropped.append(before - len(got))
        return out

    monkeypatch.setattr(shots, "SETTLE_S", 2.0)
    monkeypatch.setattr(shots, "_release_alternates", counting)
    early = shots.scan_video(cut_video, times, margin=0.3)
    released_early = sum(dropped)
    monkeypatch.setattr(shots, "SETTLE_S", 1e9)  # never settled: every candidate kept to the end, as before
    late = shots.scan_video(cut_video, times, margin=0.3)
    assert released_early >= 8 and sum(dropped) == released_early  # the alternates of samples away from every transition
    assert [(f.time, f.jpeg) for f in early.frames] == [(f.time, f.jpeg) for f in late.frames]
    assert early.transitions == late.transitions
