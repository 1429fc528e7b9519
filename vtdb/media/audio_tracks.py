"""Which audio track is transcribed, and which (if any) gives the English text.

A file with several audio tracks (a film with its original and a dubbed track, a conference recording with the
interpreter on a second track) was transcribed from its first track only, and nothing said the others existed.
The choice, in order: the config's `audio_track` (a number as players list them, or a language); the track
tagged with the video's configured `language`; the track flagged default; the first. A second track in
`output_language` is a translation made by people: it becomes the English text (transcribed, not translated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vtdb.errors import PermanentVideoError
from vtdb.media.video import AudioTrack

# A Translation's source when its text is another audio track's speech (transcribed).
SOURCE_AUDIO_TRACK = "audio-track"


class AudioTrackError(PermanentVideoError):
    """The config's `audio_track` names a track the file does not have (fix the config: nothing to retry)."""


@dataclass(frozen=True)
class AudioChoice:
    speech: AudioTrack | None  # the track transcribed (None: the file has no audio)
    english: AudioTrack | None  # another track in output_language, transcribed as the translation
    how: str  # why `speech` was chosen: "config" | "language" | "default" | "first" | "only"
    all: tuple[AudioTrack, ...] = ()

    def note(self) -> str:
        """One line naming every track and what each is used for ("" for a file with one track or none)."""
        if self.speech is None or (self.english is None and self.how == "only"):
            return ""
        parts = []
        for track in self.all:
            use = ("transcribed" if track == self.speech else "used as the English text" if track == self.english
                   else "not used")
            parts.append(f"{track.label()}: {use}")
        hint = "" if self.how == "config" else "; choose another with \"audio_track\" in videos_config.json"
        return f"{len(self.all)} audio tracks: " + "; ".join(parts) + hint


def choose_audio_tracks(tracks: Sequence[AudioTrack], requested: str, language: str | None,
                        output_language: str, translate: str = "auto") -> AudioChoice:
    """The track to transcribe and the one (if any) whose speech is the English text; `requested` is the stored
    `audio_track` ("" = choose), `language` the video's configured language (None = detect), `translate` the
    whisper translate setting (never: no English track either)."""
    tracks = tuple(tracks)
    if not tracks:
        return AudioChoice(None, None, "", tracks)
    listed = ", ".join(t.label() for t in tracks)
    speech: AudioTrack | None = None
    how = ""
    if requested.isdigit():
        number = int(requested)
        if number > len(tracks):
            raise AudioTrackError(f"audio_track {number}: the file has {len(tracks)} audio track"
                                  f"{'s' if len(tracks) != 1 else ''} ({listed}); set audio_track to one of them")
        speech, how = tracks[number - 1], "config"
    elif requested:
        found = [t for t in tracks if t.language == requested]
        if not found:
            raise AudioTrackError(f"audio_track {requested!r}: no audio track is tagged {requested} ({listed}); "
                                  "set audio_track to a track number instead")
        speech, how = found[0], "config"
    elif len(tracks) == 1:
        speech, how = tracks[0], "only"
    elif language and any(t.language == language for t in tracks):
        speech, how = next(t for t in tracks if t.language == language), "language"
    elif any(t.default for t in tracks):
        speech, how = next(t for t in tracks if t.default), "default"
    else:
        speech, how = tracks[0], "first"
    english = english_track(tracks, speech, speech.language or language or "", output_language) if translate != "never" else None
    return AudioChoice(speech, english, how, tracks)


def english_track(tracks: Sequence[AudioTrack], speech: AudioTrack, spoken: str, output_language: str) -> AudioTrack | None:
    """Another track tagged `output_language` when the speech (`spoken`, "" = unknown) is in another language."""
    if not spoken or spoken == output_language:
        return None
    return next((t for t in tracks if t != speech and t.language == output_language), None)
