"""Files of the kinds real archives hold, made small with ffmpeg (issue 25): every container, codec and flaw a
user brings, each with a few seconds of real speech from tests/data/speech where it has sound.

`make_archive(folder)` writes them and returns one `ArchiveFile` per file: where it is, what it is, and what the
pipeline must make of it (`indexed`: every phase completes and its speech is searchable; `held`: Phase 1 holds it
at once with a reason that names the problem; `refused`: it never becomes a video, with a message that says why).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench._common import speech_dir

SPEECH = [("de", "de_002.flac"), ("es", "es_003.flac"), ("fr", "fr_004.flac"), ("en", "en_081.flac")]


@dataclass(frozen=True)
class ArchiveFile:
    name: str  # the config name ("" = none: taken from the file name)
    path: Path
    kind: str  # what it is, in words
    expect: str  # "indexed" | "held" | "refused"
    why: str = ""  # a fragment of the reason (held/refused)
    language: str = "en"
    extra: tuple[tuple[str, str], ...] = ()  # more keys of its config entry


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _speech_wav(folder: Path, language: str, lead: float = 0.5, tail: float = 1.0) -> Path:
    """One recording with silence around it, as 16 kHz mono WAV."""
    file_name = dict(SPEECH)[language]
    out = folder / f"speech_{language}_{lead:g}.wav"
    if not out.exists():
        _ffmpeg("-i", str(speech_dir(language) / file_name), "-af", f"adelay={int(lead * 1000)}:all=1,apad=pad_dur={tail}",
                "-ar", "16000", "-ac", "1", str(out))
    return out


def _video_with(folder: Path, out: Path, audio: Path | None, video_args: list[str], size: str = "320x240", rate: str = "10",
                extra_input: list[str] | None = None, audio_args: list[str] | None = None, pattern: str = "testsrc2",
                seconds: float = 6.0) -> Path:
    cmd = ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}:duration={seconds}"]
    if audio is not None:
        cmd += ["-i", str(audio)]
    cmd += extra_input or []
    maps = ["-map", "0:v"] + (["-map", "1:a"] if audio is not None else [])
    _ffmpeg(*cmd, *maps, *video_args, *(audio_args or (["-c:a", "aac"] if audio is not None else [])), "-shortest", str(out))
    return out


def make_archive(folder: Path) -> list[ArchiveFile]:
    folder.mkdir(parents=True, exist_ok=True)
    de, es, fr, en = (_speech_wav(folder, lang) for lang in ("de", "es", "fr", "en"))
    files: list[ArchiveFile] = []

    def add(name: str, path: Path, kind: str, expect: str, why: str = "", language: str = "en", **extra: str) -> None:
        files.append(ArchiveFile(name, path, kind, expect, why, language, tuple(extra.items())))

    add("webm_vp9", _video_with(folder, folder / "youtube.webm", de, ["-c:v", "libvpx-vp9", "-b:v", "200k", "-deadline", "realtime", "-cpu-used", "8"],
                                audio_args=["-c:a", "libopus"]), "YouTube WebM, VP9 + Opus", "indexed", language="de")
    add("av1", _video_with(folder, folder / "av1.mp4", es, ["-c:v", "libsvtav1", "-preset", "12"]), "AV1 in MP4", "indexed", language="es")
    add("hevc10", _video_with(folder, folder / "hevc10.mkv", fr, ["-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-preset", "ultrafast",
                                                                   "-x265-params", "log-level=error"]), "HEVC 10-bit in MKV", "indexed", language="fr")
    add("h264_444", _video_with(folder, folder / "h264_444.mp4", en, ["-c:v", "libx264", "-pix_fmt", "yuv444p", "-profile:v", "high444"]),
        "H.264 4:4:4", "indexed")
    add("mpeg2_interlaced", _video_with(folder, folder / "tv.mpg", de, ["-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-b:v", "2M",
                                                                         "-vf", "setsar=16/15"], size="720x576", rate="25",
                                        audio_args=["-c:a", "mp2"]), "interlaced MPEG-2 PS (an old TV tape)", "indexed", language="de")
    add("dv", _video_with(folder, folder / "tape.avi", es, ["-c:v", "dvvideo", "-pix_fmt", "yuv420p"], size="720x576", rate="25",
                          audio_args=["-c:a", "pcm_s16le", "-ar", "48000"]), "DV in AVI", "indexed", language="es")
    phone = folder / "phone.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=15:duration=6", "-i", str(en), "-map", "0:v", "-map", "1:a",
            "-vf", "setpts='PTS+0.02*sin(N)/TB'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35",
            "-c:a", "aac", "-shortest", str(folder / "phone_raw.mp4"))
    # A phone stores the picture sideways (1920x1080 coded) and a display matrix that turns it upright: 1080x1920 shown.
    _ffmpeg("-i", str(folder / "phone_raw.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(phone))
    add("phone_portrait", phone, "portrait phone video, rotation flag, variable frame rate", "indexed")
    add("no_audio", _video_with(folder, folder / "silent.mp4", None, ["-c:v", "libx264"]), "no audio track", "indexed")
    _ffmpeg("-i", str(fr), "-c:a", "libmp3lame", "-b:a", "64k", str(folder / "radio.mp3"))
    add("audio_mp3", folder / "radio.mp3", "audio only (MP3)", "indexed", language="fr")
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=240x240:duration=1", "-frames:v", "1", str(folder / "album.png"))
    _ffmpeg("-i", str(es), "-i", str(folder / "album.png"), "-map", "0:a", "-map", "1:v", "-c:a", "aac", "-b:a", "48k",
            "-c:v", "png", "-disposition:v:0", "attached_pic", str(folder / "interview.m4a"))
    add("audio_m4a_cover", folder / "interview.m4a", "audio only (M4A) with a cover picture", "indexed", language="es")
    two = folder / "two_tracks.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=6", "-i", str(de), "-i", str(en), "-map", "0:v", "-map", "1:a",
            "-map", "2:a", "-c:v", "libx264", "-c:a", "aac", "-metadata:s:a:0", "language=ger", "-metadata:s:a:1", "language=eng",
            "-shortest", str(two))
    add("two_tracks", two, "two audio tracks (German, English)", "indexed", language="de")
    untagged = folder / "untagged_tracks.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=6", "-i", str(es), "-i", str(en), "-map", "0:v",
            "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(untagged))
    add("second_track_chosen", untagged, "two untagged audio tracks, the config chooses the second", "indexed",
        audio_track="2")
    no_third = folder / "two_tracks_copy.mkv"
    _ffmpeg("-i", str(untagged), "-map", "0", "-c", "copy", "-metadata", "title=another copy", str(no_third))
    add("third_track_wanted", no_third, "audio_track 3 of a file with two", "held", "audio_track 3: the file has 2 audio tracks",
        audio_track="3")
    add("uhd", _video_with(folder, folder / "uhd.mp4", en, ["-c:v", "libx264", "-preset", "ultrafast"], size="3840x2160", rate="2"),
        "4K", "indexed")
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.5", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5",
            "-c:v", "libx264", "-c:a", "aac", "-shortest", str(folder / "blink.mp4"))
    add("half_second", folder / "blink.mp4", "a 0.5 s clip", "indexed")
    cover = folder / "podcast.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x320:duration=1", "-frames:v", "1", str(folder / "cover.png"))
    _ffmpeg("-loop", "1", "-framerate", "1", "-t", "5", "-i", str(folder / "cover.png"), "-i", str(es), "-c:v", "libx264",
            "-tune", "stillimage", "-c:a", "aac", "-shortest", str(cover))
    add("podcast", cover, "podcast: one cover picture and speech", "indexed", language="es")
    full = _video_with(folder, folder / "full.mkv", en, ["-c:v", "libx264"])
    data = full.read_bytes()
    (folder / "truncated.mkv").write_bytes(data[: len(data) // 2])
    add("truncated_mkv", folder / "truncated.mkv", "MKV cut off half-way", "indexed")
    mp4 = _video_with(folder, folder / "full_for_cut.mp4", en, ["-c:v", "libx264"])
    mp4_bytes = mp4.read_bytes()
    (folder / "no_index.mp4").write_bytes(mp4_bytes[: len(mp4_bytes) // 2])  # moov atom at the end: gone
    add("truncated_mp4", folder / "no_index.mp4", "MP4 cut off before its index", "held", "the 'moov' atom, is missing")
    (folder / "empty.mp4").write_bytes(b"")
    add("zero_bytes", folder / "empty.mp4", "a 0-byte file", "held", "empty")
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    add("text_as_mp4", folder / "notes.mp4", "a text file named .mp4", "held", "not a readable video file")
    link = folder / "gone.mp4"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(folder / "moved_away.mp4", link)
    add("dangling_link", link, "a symbolic link whose target is gone", "refused", "symbolic link")
    odd = folder / "Интерв'ю 1986.mp4"
    _video_with(folder, odd, en, ["-c:v", "libx264"])
    add("", odd, "a Cyrillic file name with an apostrophe, no name in the config", "indexed")
    sweep = folder / "sweep_then_speech.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=200:duration=40", "-i", str(en), "-filter_complex",
            "[0:a]volume=0.3,aformat=sample_rates=16000:channel_layouts=mono[s];[1:a]aformat=sample_rates=16000:channel_layouts=mono[e];"
            "[s][e]concat=n=2:v=0:a=1[a]", "-map", "[a]", str(sweep))
    add("sweep_then_speech", _video_with(folder, folder / "sweep.mp4", sweep, ["-c:v", "libx264"], rate="2", seconds=46.0),
        "40 s of a tone before the speech", "indexed")
    return files
