"""Reading videos: probing (ffprobe), sampling frames as JPEG (OpenCV seeking), decoding every frame in
order (PyAV: `SequentialFrames`, for the shot pass), decoding audio (PyAV).

Every failure becomes a MediaError whose message names the file and says what is wrong, so
a phase can record it against that video and go on with the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from vtdb.errors import PermanentVideoError, RunAborted, VideoError

# OpenCV's FFmpeg backend prints every decoder complaint ("[h264 @ 0x…] error while decoding MB …") to
# stderr: dozens of lines for one damaged file. Quiet it (read once, before the first capture opens);
# what matters reaches the user as one MediaError naming the file.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class MediaError(VideoError, RuntimeError):
    """A video file that cannot be read as needed (the video's fault: recorded on it, the run goes on)."""


class TruncatedMediaError(MediaError):
    """Frames stop before the end the container declares (a truncated copy or download, a damaged stretch).
    `decodable_until` says how far the picture decodes: Phase 1 indexes the video up to there."""

    def __init__(self, path: Path | str, decodable_until: float, duration: float, why: str = "the file ends there"):
        self.decodable_until, self.duration = float(decodable_until), float(duration)
        super().__init__(f"{path}: frames stop at {decodable_until:.1f} s of {duration:.1f} s ({why}); the file looks "
                         "truncated or damaged (an incomplete copy or download?)")


class PermanentMediaError(MediaError, PermanentVideoError):
    """The file's own nature (not a video, empty, no video stream, nothing decodes): retrying cannot fix it,
    so the video is held at once (vtdb.state.error_kind). A changed file is reprocessed by the sync."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    video_codec: str
    audio_codec: str
    container: str
    video_stream_duration: float = 0.0  # 0 when the container does not say (then `duration` is used)
    # `width` x `height` is the picture a viewer sees: the coded size with the pixel aspect and the rotation applied.
    coded_width: int = 0
    coded_height: int = 0
    rotation: int = 0  # degrees counterclockwise the coded picture is turned for display (0, 90, 180, 270)
    sample_aspect: float = 1.0  # a pixel's width over its height (DV, DVD, broadcast SD: 16:15, 64:45, 8:9, ...)
    interlaced: bool = False  # the stream says its frames are two fields (field_order tt/bb/tb/bt)
    # False for an audio-only file (MP3, M4A, a podcast with a cover picture): indexed by its speech alone.
    has_video: bool = True
    audio_tracks: tuple["AudioTrack", ...] = ()
    cover_stream: int | None = None  # the file's attached picture (cover art), as a stream index; None = none


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a file, as the config's `audio_track` and the notes name it."""

    number: int  # 1-based among the file's audio streams, as players list them ("audio_track": 2)
    language: str  # an ISO 639-1 code when the stream's tag names a language ("" = not tagged)
    title: str = ""
    codec: str = ""
    channels: int = 0
    default: bool = False

    def label(self) -> str:
        named = ", ".join(x for x in (self.language, self.title) if x)
        return f"track {self.number}" + (f" ({named})" if named else "")


def audio_tracks_of(streams: list[dict]) -> tuple[AudioTrack, ...]:
    """The audio streams of ffprobe's stream list, numbered from 1, languages as ISO 639-1 where known."""
    from vtdb.languages import language_of_tag

    out: list[AudioTrack] = []
    for stream in (s for s in streams if s.get("codec_type") == "audio"):
        tags = stream.get("tags") or {}
        out.append(AudioTrack(len(out) + 1, language_of_tag(str(tags.get("language") or "")), str(tags.get("title") or "")[:80],
                              str(stream.get("codec_name") or ""), int(stream.get("channels") or 0),
                              bool((stream.get("disposition") or {}).get("default"))))
    return tuple(out)


@dataclass(frozen=True)
class Picture:
    """How a stream's decoded frames become the picture a viewer sees (what every decoding path here stores).

    Players turn the picture by the display matrix (phone videos: coded 1920x1080, shown 1080x1920), scale
    non-square pixels to the display aspect (720x576 at 16:15 is shown 768x576) and deinterlace. Rotation
    and pixel aspect are per stream; interlacing is checked per frame where the decoder says (PyAV)."""

    rotation: int = 0  # degrees counterclockwise (0, 90, 180, 270), as FFmpeg's display matrix reads
    sar: float = 1.0  # sample (pixel) aspect ratio
    interlaced: bool = False

    @property
    def square(self) -> bool:
        return abs(self.sar - 1.0) < 0.005

    def display_size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed size of a coded width x height frame (even width when scaled, turned sides)."""
        if not self.square:
            width = max(2, round(width * self.sar / 2) * 2)
        return (height, width) if self.rotation in (90, 270) else (width, height)


def _quarter_turns(degrees: object) -> int:
    """A display rotation (degrees counterclockwise, any sign) as 0, 90, 180 or 270; 0 when not near a right angle."""
    try:
        value = float(degrees)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    if value != value:  # NaN: no display matrix
        return 0
    turns = round(value / 90.0)
    return (turns % 4) * 90 if abs(value - turns * 90.0) < 1.0 else 0


def _fraction(value: object) -> float:
    """A ratio given as 'a:b', 'a/b', a Fraction or a number; 0 when unknown or invalid."""
    if value is None:
        return 0.0
    text = str(value).replace(":", "/")
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den) if float(den) and float(num) > 0 else 0.0
        return max(0.0, float(text))
    except ValueError:
        return 0.0


def _ffprobe() -> str:
    exe = shutil.which("ffprobe")
    if not exe:
        # An installation problem, the same for every video: the run stops instead of holding the library.
        raise RunAborted("ffprobe not found: install ffmpeg (scripts/setup.sh installs it with apt)")
    return exe


def _rate(text: str | None) -> float:
    if not text or text in {"0/0", "0"}:
        return 0.0
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den) if float(den) else 0.0
    return float(text)


def check_readable(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: file not found (check the path in videos_config.json)")
    if not path.is_file():
        raise PermanentMediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise PermanentMediaError(f"{path}: file is empty (0 bytes); a copy or download may have failed")


def _probe_failure(path: Path, stderr: str) -> str:
    """Why ffprobe could not read `path`, in words a user can act on."""
    detail = (stderr.strip().splitlines() or ["unknown error"])[-1].replace(f"{path}: ", "")
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" and "moov atom not found" in stderr:
        # An MP4/MOV whose index (written last unless +faststart) never made it to disk.
        return (f"{path}: truncated or unfinished MP4 (its index, the 'moov' atom, is missing): "
                "an incomplete copy or download, or a recording that was not stopped cleanly")
    return f"{path}: not a readable video file (ffprobe: {detail})"


def probe(path: Path) -> VideoInfo:
    """Duration, size, fps and streams of a video file."""
    path = Path(path)
    check_readable(path)
    cmd = [_ffprobe(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{path}: ffprobe timed out; the file may be on a stalled mount") from None
    if proc.returncode != 0:
        raise PermanentMediaError(_probe_failure(path, proc.stderr))
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    # Cover art in audio files shows up as a one-frame "video" stream: not a video.
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise PermanentMediaError(f"{path}: has no audio or video streams; nothing in it can be indexed")
    cover = next((s for s in streams if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic")), None)
    fmt = data.get("format", {})
    if video is None:
        return _audio_only_info(path, fmt, streams, audio or {}, cover)
    duration = 0.0
    for candidate in (fmt.get("duration"), video.get("duration")):
        try:
            duration = float(candidate)
        except (TypeError, ValueError):
            continue
        if duration > 0:
            break
    if duration <= 0:
        raise MediaError(f"{path}: cannot determine the video's duration (damaged or still being written?)")
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    coded_w, coded_h = int(video.get("width") or 0), int(video.get("height") or 0)
    # The display matrix (side data; FFmpeg >= 5 reports its counterclockwise rotation) or an old `rotate` tag
    # (clockwise degrees, as FFmpeg 4 reported it).
    matrix = next((d for d in video.get("side_data_list") or [] if "rotation" in d), None)
    rotation = (_quarter_turns(matrix["rotation"]) if matrix
                else (360 - _quarter_turns((video.get("tags") or {}).get("rotate"))) % 360)
    picture = Picture(rotation, _fraction(video.get("sample_aspect_ratio")) or 1.0)
    width, height = picture.display_size(coded_w, coded_h) if coded_w and coded_h else (coded_w, coded_h)
    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        fps=round(fps, 3),
        has_audio=audio is not None,
        video_codec=str(video.get("codec_name", "")),
        audio_codec=str(audio.get("codec_name", "")) if audio else "",
        container=str(fmt.get("format_name", "")),
        video_stream_duration=_float_or_zero(video.get("duration")),
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=picture.rotation,
        sample_aspect=picture.sar,
        interlaced=str(video.get("field_order", "")) in {"tt", "bb", "tb", "bt"},
        audio_tracks=audio_tracks_of(streams),
    )


def _audio_only_info(path: Path, fmt: dict, streams: list[dict], audio: dict, cover: dict | None) -> VideoInfo:
    """A file with audio and no moving picture: no size, no frame rate, its cover picture if it has one."""
    duration = 0.0
    for candidate in (fmt.get("duration"), audio.get("duration")):
        duration = _float_or_zero(candidate)
        if duration > 0:
            break
    if duration <= 0:
        raise MediaError(f"{path}: cannot determine the audio's duration (damaged or still being written?)")
    return VideoInfo(duration=duration, width=0, height=0, fps=0.0, has_audio=True, video_codec="",
                     audio_codec=str(audio.get("codec_name", "")), container=str(fmt.get("format_name", "")),
                     has_video=False, audio_tracks=audio_tracks_of(streams),
                     cover_stream=int(cover["index"]) if cover is not None and "index" in cover else None)


def cover_picture(path: Path, stream: int, max_side: int, quality: int) -> tuple[bytes, int, int] | None:
    """The attached picture (cover art) of an audio file as a JPEG no larger than max_side, or None when it does
    not decode (a cover is a nicety: a damaged one costs the file nothing)."""
    import cv2

    exe = shutil.which("ffmpeg")
    if not exe:
        return None
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-frames:v", "1",
           "-f", "image2pipe", "-c:v", "png", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0 or not proc.stdout:
        return None
    image = cv2.imdecode(np.frombuffer(proc.stdout, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return _encode(image, max_side, quality)


def _float_or_zero(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return out if out > 0 else 0.0


@dataclass
class Frame:
    time: float
    jpeg: bytes
    width: int
    height: int


def _encode(image: np.ndarray, max_side: int, quality: int, picture: Picture | None = None) -> tuple[bytes, int, int]:
    """A BGR frame (as decoded: coded orientation and pixels) as the JPEG a viewer would see, shrunk to max_side."""
    import cv2

    picture = picture or Picture()
    if picture.interlaced:
        image = deinterlace(image)
    h, w = image.shape[:2]
    dw, dh = picture.display_size(w, h)
    scale = min(1.0, max_side / float(max(dw, dh)))
    dw, dh = max(1, round(dw * scale)), max(1, round(dh * scale))
    size = (dh, dw) if picture.rotation in (90, 270) else (dw, dh)  # the size before turning
    if size != (w, h):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return encode_jpeg(turn(image, picture.rotation), quality)


def encode_jpeg(image: np.ndarray, quality: int) -> tuple[bytes, int, int]:
    """A BGR image as JPEG bytes, with its width and height."""
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise MediaError("JPEG encoding failed")
    return buf.tobytes(), image.shape[1], image.shape[0]


def extract_frames(
    path: Path,
    times: Sequence[float],
    max_side: int = 768,
    quality: int = 85,
    duration: float | None = None,
    fps: float = 0.0,
    picture: Picture | None = None,
) -> list[Frame]:
    """JPEG frames at the given times (seconds), in the order given.

    Seeks with OpenCV (the fastest exact-enough method measured here). A time past the last
    decodable frame near the very end (a rounding at the end, a video stream slightly shorter
    than the audio) reuses the nearest frame before it, so every window gets its frames.
    With `duration` (the video stream's length from the probe), a time well before the end
    that does not decode is an error: the file is truncated or damaged (a half-finished copy
    or download whose index still claims the full length). OpenCV then returns the last
    decodable frame again instead of failing, so the position actually reached is checked.
    A file with no decodable frame is an error.

    Frames are stored as a viewer sees them (`picture`, read from the file with PyAV when not given): turned
    by the display matrix, non-square pixels scaled to the display aspect, interlaced frames deinterlaced.
    """
    import cv2

    picture = picture or read_picture(path)
    # How far the frame actually read may lag the time asked for: OpenCV seeks are sometimes
    # a frame early, and sparse/variable frame rates have gaps between frames.
    tolerance = max(1.0, 2.0 / fps) if fps and fps > 0 else 2.0
    if picture.interlaced:
        # OpenCV 5's FFmpeg returns an all-black image for every interlaced frame (its converter logs "Cannot
        # convert interlaced to progressive frames"), and would not deinterlace: PyAV seeks instead.
        return _seek_frames_pyav(path, times, max_side, quality, duration, tolerance, picture)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise PermanentMediaError(f"{path}: OpenCV cannot open the video for frame extraction")
    # OpenCV would turn the picture itself; turned here after deinterlacing and scaling (which work on coded rows).
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    try:
        order = sorted(range(len(times)), key=lambda i: times[i])
        out: list[Frame | None] = [None] * len(times)
        last_good: Frame | None = None
        reached = 0.0  # the latest timestamp actually decoded
        for i in order:
            t = max(0.0, float(times[i]))
            cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
            ok, image = cap.read()
            if ok and image is not None:
                position = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                # position 0: the backend does not report one; trust the frame.
                if position <= 0.0 or position >= t - tolerance:
                    reached = max(reached, position if position > 0.0 else t)
                    jpeg, w, h = _encode(image, max_side, quality, picture)
                    last_good = Frame(t, jpeg, w, h)
                    out[i] = last_good
                    continue
                # A stale frame from far before t: the stream cannot be decoded up to t.
            if duration and t < duration - tolerance:
                raise TruncatedMediaError(path, reached, duration, f"no frame decodes at {t:.1f} s")
            if last_good is not None:
                out[i] = Frame(t, last_good.jpeg, last_good.width, last_good.height)
        return _filled(path, out, times)
    finally:
        cap.release()


def _seek_frames_pyav(path: Path, times: Sequence[float], max_side: int, quality: int, duration: float | None,
                      tolerance: float, picture: Picture) -> list[Frame]:
    """extract_frames with PyAV: seek to the keyframe before each time (or decode on when it is near), take the
    first frame at or after it; the same end-of-file and truncation rules as the OpenCV path."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise PermanentMediaError(f"{path}: the video cannot be opened for frame extraction ({exc})") from None
    try:
        streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            raise PermanentMediaError(f"{path}: no video stream")
        stream = streams[0]
        stream.thread_type = "SLICE"
        base = float(stream.time_base or 0) or 1e-6
        origin = float(stream.start_time * base) if stream.start_time is not None else 0.0
        half_frame = 0.5 / float(stream.average_rate or 25)
        out: list[Frame | None] = [None] * len(times)
        decoded: Iterator[Any] | None = None
        current: tuple[float, Any] | None = None  # the latest frame decoded: (time from the start, frame)
        last_good: Frame | None = None
        for i in sorted(range(len(times)), key=lambda k: times[k]):
            t = max(0.0, float(times[i]))
            if decoded is None or current is None or t - current[0] > 2.0:
                # Seeking by time lands on a keyframe, but not always on the one before t (MPEG-PS has no index:
                # FFmpeg searches the file for timestamps): when the first frame is past t, seek again further back.
                back = 0.0
                while True:
                    target = max(0, int((t - back + origin) / base))
                    try:
                        container.seek(target, stream=stream, backward=True)
                        decoded, current = container.decode(stream), None
                    except av.error.FFmpegError:  # not seekable: decode on from where it is (or from the start)
                        decoded = decoded or container.decode(stream)
                        break
                    current = _next_frame(decoded, origin)
                    if current is None or current[0] <= t + half_frame or target == 0:
                        break
                    back = max(1.0, back * 4)
            while current is None or current[0] < t - half_frame:
                following = _next_frame(decoded, origin)
                if following is None:
                    break
                current = following
            if current is not None and current[0] >= t - tolerance:
                jpeg, w, h = encode_jpeg(frame_to_bgr(current[1], *fit_within(*picture.display_size(
                    current[1].width, current[1].height), max_side), fine=True, picture=picture), quality)
                last_good = out[i] = Frame(t, jpeg, w, h)
                continue
            reached = current[0] if current is not None else 0.0
            if duration and t < duration - tolerance:
                raise TruncatedMediaError(path, reached, duration, f"no frame decodes at {t:.1f} s")
            if last_good is not None:
                out[i] = Frame(t, last_good.jpeg, last_good.width, last_good.height)
        return _filled(path, out, times)
    finally:
        container.close()


def _filled(path: Path, out: list[Frame | None], times: Sequence[float]) -> list[Frame]:
    """The frames of a seeking pass, every time served: times before the first decodable frame take the first
    good one (later gaps were filled with the last good one as they came)."""
    first_good = next((fr for fr in out if fr is not None), None)
    if first_good is None:
        raise PermanentMediaError(f"{path}: no frame could be decoded (damaged file or unsupported codec)")
    return [fr if fr is not None else Frame(float(times[i]), first_good.jpeg, first_good.width, first_good.height)
            for i, fr in enumerate(out)]


def _next_frame(decoded: Iterator[Any], origin: float) -> tuple[float, Any] | None:
    """The next decoded frame with a time, as (seconds from the stream's start, frame); None at the end."""
    import av

    while True:
        try:
            frame = next(decoded)
        except (StopIteration, av.error.FFmpegError):
            return None
        if frame.time is not None:
            return float(frame.time) - origin, frame


# While non-reference frames are skipped, the frames decoded are at most this far apart (x264's usual 2-3
# B-frames at 25 fps: 0.08-0.16 s). A wider gap (few frames a second, long B-frame runs) could place a cut
# too late, so skipping stops for the rest of that video.
SKIP_MAX_GAP = 0.17


class SequentialFrames:
    """Every frame of a video in presentation order, with its time (seconds from the stream's start).

    PyAV drives FFmpeg's decoder directly, which OpenCV cannot: with `skip_nonreference` the decoder
    drops the frames no other frame depends on (most B-frames; about half of an x264 encode), which
    halves the decoding (bench/shots.py, docs/BENCHMARKS.md). Frames stay in YUV until converted
    (`frame_to_bgr`), so only the frames used are, and only at the size used. The frames end at a
    packet the decoder rejects or where the file stops; the caller compares with the probed length.
    """

    def __init__(self, path: Path, *, skip_nonreference: bool = True):
        import av

        try:
            self._container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"{path}: the video cannot be opened for decoding ({exc})") from None
        streams = [s for s in self._container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            self._container.close()
            raise PermanentMediaError(f"{path}: no video stream")
        self._stream = stream = streams[0]
        stream.thread_type = "SLICE"  # frame threads cost ~60 % more CPU here for little wall time (docs/BENCHMARKS.md)
        self.fps = float(stream.average_rate or stream.guessed_rate or 0.0) or 25.0
        base = stream.time_base or 0
        self._origin = float(stream.start_time * base) if stream.start_time is not None and base else None
        length = float(stream.duration * base) if stream.duration and base else 0.0
        self.duration = length or (self._container.duration or 0) / 1_000_000
        self._skip = skip_nonreference
        if skip_nonreference:
            stream.codec_context.skip_frame = "NONREF"
        self.decoded = 0
        self.damaged = False  # decoding stopped at a packet the decoder rejected
        # Set from the first frame (its display matrix); pixel aspect as FFmpeg guesses it (container, then codec).
        self._sar = _fraction(stream.sample_aspect_ratio) or _fraction(stream.codec_context.sample_aspect_ratio) or 1.0
        self.picture = Picture(sar=self._sar)

    def __enter__(self) -> "SequentialFrames":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[tuple[float, Any]]:
        import av

        last: float | None = None
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError:
                return  # unreadable from here on (a truncated file): the frames end
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                # A packet the decoder rejects: the frames end here, as when seeking (extract_frames) or with
                # OpenCV, so a damaged file fails the same way with shots on or off (the caller checks the length).
                self.damaged = True
                return
            for frame in frames:
                t = float(frame.time) if frame.time is not None else (last + 1.0 / self.fps if last is not None else 0.0)
                if self._origin is None:
                    self._origin = t
                if not self.decoded:
                    self.picture = Picture(_quarter_turns(frame.rotation), self._sar, bool(frame.interlaced_frame))
                t = max(0.0, t - self._origin)
                if self._skip and last is not None and t - last > SKIP_MAX_GAP:
                    self._skip = False
                    self._stream.codec_context.skip_frame = "DEFAULT"
                last = t
                self.decoded += 1
                yield t, frame


def frame_to_bgr(frame: Any, width: int, height: int, *, fine: bool = False, picture: Picture | None = None) -> np.ndarray:
    """A decoded PyAV frame as a BGR image of width x height.

    Planar 4:2:0 (nearly every video) is shrunk plane by plane and converted to BGR at the small size:
    converting the full picture first costs several times more (bench/shots.py). `fine` shrinks with
    INTER_AREA (stored frames), else INTER_LINEAR (the detectors score means, aliasing does not matter).
    Other pixel formats go through FFmpeg's converter.

    With `picture` (stored frames), width x height is the displayed size: the frame is scaled to it (pixel
    aspect) in its coded orientation, then turned by the display matrix (cheap at the small size). A frame the
    decoder marks interlaced is deinterlaced: `fine`, by `deinterlace` before shrinking; else (the detectors)
    by keeping one field, which only lightens the shrink.
    """
    import cv2

    w, h = frame.width, frame.height
    rotation = picture.rotation if picture else 0
    if rotation in (90, 270):
        width, height = height, width  # the size before turning
    interlaced = bool(frame.interlaced_frame)
    interpolation = cv2.INTER_AREA if fine else cv2.INTER_LINEAR
    if frame.format.name == "yuv420p" and not (w | h | width | height) & 1:
        planes = [_plane(frame.planes[i], w >> (i > 0), h >> (i > 0)) for i in range(3)]
        if interlaced:
            planes = [deinterlace(p) if fine else p[::2] for p in planes]
        y, u, v = (
            p if p.shape == (ph, pw) else cv2.resize(p, (pw, ph), interpolation=interpolation)
            for p, pw, ph in zip(planes, (width, width // 2, width // 2), (height, height // 2, height // 2))
        )
        # I420 as OpenCV takes it: Y, then U and V at half size, in one (height * 3/2, width) array.
        yuv = np.concatenate([np.ascontiguousarray(y).reshape(-1), np.ascontiguousarray(u).reshape(-1),
                              np.ascontiguousarray(v).reshape(-1)]).reshape(height * 3 // 2, width)
        return turn(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), rotation)
    image = frame.to_ndarray(format="bgr24")
    if interlaced:
        image = deinterlace(image) if fine else image[::2]
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    return turn(image, rotation)


# Combing: a line of the second field that differs from both lines around it, in the same direction, by at least
# this much each (0-255): where something moved between the two fields. Noise and soft detail stay far below.
COMB_STEP = 20


def deinterlace(image: np.ndarray) -> np.ndarray:
    """An interlaced frame (grey, one plane or BGR) without combing, at its full size.

    Where the second field's line sticks out of the first field's lines above and below it, in the same
    direction (combing: the picture moved between the fields), it is replaced by their mean; elsewhere (still
    parts: on-screen text, backgrounds) both fields are kept, so nothing is lost where nothing moved. A lone
    such line (a thin horizontal stroke) is kept: combing spans several lines. A spatial-only cousin of
    FFmpeg's yadif, on the stored frames only (a few ms at 720x576, docs/PHASES.md "Shots")."""
    if image.shape[0] < 6:
        return image
    lines = image.astype(np.int16)
    above, mid, below = lines[0:-2:2], lines[1:-1:2], lines[2::2]
    up, down = mid - above, mid - below
    combed = (up.astype(np.int32) * down > COMB_STEP * COMB_STEP)
    # Only combing that spans two or more lines of the field.
    near = np.zeros_like(combed)
    near[1:] |= combed[:-1]
    near[:-1] |= combed[1:]
    combed &= near
    out = image.copy()
    out[1:-1:2] = np.where(combed, ((above + below + 1) >> 1).astype(np.uint8), image[1:-1:2])
    return out


def turn(image: np.ndarray, rotation: int) -> np.ndarray:
    """An image turned counterclockwise by rotation degrees (0, 90, 180, 270)."""
    if not rotation:
        return image
    import cv2

    codes = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    return cv2.rotate(image, codes[rotation])


def read_picture(path: Path) -> Picture:
    """The display rotation, pixel aspect and interlacing of a video's first frame (PyAV, ~10 ms); the
    default (upright, square, progressive) when PyAV cannot read it (the caller's own decoding reports why)."""
    try:
        with SequentialFrames(path, skip_nonreference=False) as video:
            for _t, _frame in video:
                return video.picture
    except Exception:  # noqa: BLE001 - any failure here is reported by the decoding that follows
        pass
    return Picture()


def _plane(plane: Any, width: int, height: int) -> np.ndarray:
    """A view of one picture plane (rows are padded to line_size bytes), without copying it."""
    return np.frombuffer(plane, np.uint8)[: plane.line_size * height].reshape(height, plane.line_size)[:, :width]


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size of a width x height picture shrunk to at most max_side on its longer side (even sides)."""
    scale = min(1.0, max_side / float(max(width, height)))
    if scale >= 1.0:
        return width, height
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def decode_audio(path: Path, sampling_rate: int = 16000) -> np.ndarray:
    """The whole audio track as mono float32 at `sampling_rate` (what Whisper expects)."""
    from faster_whisper.audio import decode_audio as fw_decode

    try:
        return fw_decode(str(path), sampling_rate=sampling_rate)
    except Exception as exc:  # PyAV raises many types for damaged streams
        raise MediaError(f"{path}: cannot decode the audio track: {exc}") from exc
