"""Sidecar lookup reads each folder once (issue 31): N videos in one folder cost one listing, not N, and each
video still gets exactly the sidecars it got when every lookup listed the folder; a folder changed since it was
read is read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vtdb.sources.local import LISTINGS, FolderListings, sidecar_tracks, subtitles_fingerprint
from vtdb.sources.subtitles import FORMATS

PAST = (1_600_000_000, 1_600_000_000)  # a folder time long ago: its listing may be kept
PAST_2 = (1_600_000_100, 1_600_000_100)
PAST_3 = (1_600_000_200, 1_600_000_200)


@pytest.fixture
def listings_of(monkeypatch):
    """Counts os.listdir calls per folder."""
    counts: dict[str, int] = {}
    real = os.listdir

    def counting(path="."):
        counts[str(path)] = counts.get(str(path), 0) + 1
        return real(path)

    monkeypatch.setattr(os, "listdir", counting)
    return counts


def trusting(size: int | None = 16) -> FolderListings:
    """Listings kept however recently their folder changed: the files of a test are seconds old (the time check
    has its own test)."""
    listings = FolderListings(size)
    listings.RACY_NS = -1
    return listings


def old_lookup(video: Path) -> list[str]:
    """The names the lookup found before issue 31 (the whole folder listed for each video)."""
    return sorted(p.name for p in video.parent.iterdir() if p.name.startswith(video.stem + ".") and p != video)


def library(folder: Path, n: int) -> list[Path]:
    """n videos with sidecars, names that share prefixes ("Talk.part1" and "Talk.part10"), dots in stems,
    case variants and names that are no sidecars."""
    videos = []
    for i in range(n):
        plain = folder / f"v{i}.mp4"
        dotted = folder / f"Talk.part{i}.mkv"
        videos += [plain, dotted]
        names = [plain.name, f"v{i}.srt", f"v{i}.ru.vtt", f"v{i} (2).ru.srt", f"v{i}.info.json", dotted.name,
                 f"Talk.part{i}.en-US.SRT", f"Talk.part{i}.kk-orig.ass", f"Talk.part{i}.final.srt"]
        if i % 3 == 0:
            names += [f"v{i}.EN.Vtt", f"v{i}.en_GB.ssa"]
        for name in names:
            (folder / name).write_text("x")
    os.utime(folder, PAST)
    return videos


def test_one_listing_for_many_videos_and_each_gets_its_own_sidecars(tmp_path, listings_of):
    videos = library(tmp_path, 100)
    expected = {v: old_lookup(v) for v in videos}
    listings_of.clear()
    listings = trusting()
    for video in videos:
        notes: list[str] = []
        tracks = sidecar_tracks(video, notes.append, listings)
        found = [Path(t.location).name for t in tracks]
        assert found == [n for n in expected[video] if Path(n).suffix.lower() in FORMATS and ".final." not in n
                         and "(2)" not in n]
        assert all(Path(t.location).parent == tmp_path and t.origin == "sidecar" for t in tracks)
        assert len(notes) == (1 if video.suffix == ".mkv" else 0)  # "final" is not a language tag
    assert listings_of == {str(tmp_path): 1}
    v3 = {Path(t.location).name: t for t in sidecar_tracks(tmp_path / "v3.mp4", listings=listings)}
    assert sorted(v3) == ["v3.EN.Vtt", "v3.en_GB.ssa", "v3.ru.vtt", "v3.srt"]
    assert v3["v3.srt"].video_language and (v3["v3.EN.Vtt"].language, v3["v3.EN.Vtt"].format) == ("en", "vtt")
    talk = {Path(t.location).name: t for t in sidecar_tracks(tmp_path / "Talk.part1.mkv", listings=listings)}
    assert sorted(talk) == ["Talk.part1.en-US.SRT", "Talk.part1.kk-orig.ass"] and talk["Talk.part1.kk-orig.ass"].original


def test_the_sync_fingerprint_lists_a_folder_once(tmp_path, listings_of):
    videos = library(tmp_path, 60)
    (tmp_path / "lonely.mp4").write_text("x")
    os.utime(tmp_path, PAST)
    listings_of.clear()
    folders = trusting(size=None)  # as the sync's
    prints = {v: subtitles_fingerprint(v, {}, folders) for v in videos}
    assert subtitles_fingerprint(tmp_path / "lonely.mp4", {}, folders) == ""
    assert listings_of == {str(tmp_path): 1}
    assert len(set(prints.values())) == len(videos) and "" not in prints.values()
    (tmp_path / "v0.ru.vtt").write_text("changed")  # content: the fingerprint changes, the listing holds
    assert subtitles_fingerprint(videos[0], {}, folders) != prints[videos[0]]


def test_a_changed_folder_is_read_again(tmp_path, listings_of):
    video = tmp_path / "Talk.mp4"
    video.write_text("x")
    (tmp_path / "Talk.ru.srt").write_text("x")
    os.utime(tmp_path, PAST)
    listings = trusting()
    assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["Talk.ru.srt"]
    assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["Talk.ru.srt"]
    assert listings_of[str(tmp_path)] == 1
    (tmp_path / "Talk.en.vtt").write_text("x")  # added: the folder's times change
    os.utime(tmp_path, PAST_2)  # (times set apart: a coarse clock could give two changes one time)
    assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["Talk.en.vtt", "Talk.ru.srt"]
    (tmp_path / "Talk.ru.srt").unlink()  # removed
    os.utime(tmp_path, PAST_3)
    assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["Talk.en.vtt"]
    assert listings_of[str(tmp_path)] == 3


def test_a_folder_changed_moments_ago_is_not_kept(tmp_path, listings_of):
    video = tmp_path / "Talk.mp4"
    video.write_text("x")
    (tmp_path / "Talk.ru.srt").write_text("x")  # just now: a coarse clock could give the next change this time
    listings = FolderListings()
    for _ in range(3):
        assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["Talk.ru.srt"]
    assert listings_of[str(tmp_path)] == 3


def test_at_most_size_folders_are_kept_and_a_missing_folder_has_none(tmp_path, listings_of):
    videos = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        videos.append(tmp_path / name / "v.mp4")
        videos[-1].write_text("x")
        (tmp_path / name / "v.srt").write_text("x")
        os.utime(tmp_path / name, PAST)
    listings = trusting(size=2)
    for video in videos + videos[:1]:  # a, b, c, then a again: dropped for c
        assert [Path(t.location).name for t in sidecar_tracks(video, listings=listings)] == ["v.srt"]
    assert [listings_of[str(tmp_path / n)] for n in "abc"] == [2, 1, 1]
    assert sidecar_tracks(tmp_path / "gone" / "v.mp4", listings=listings) == []


def test_the_default_listings_serve_phase1(tmp_path):
    video = tmp_path / "Talk.mp4"
    video.write_text("x")
    (tmp_path / "Talk.srt").write_text("x")
    assert [Path(t.location).name for t in sidecar_tracks(video)] == ["Talk.srt"]
    assert LISTINGS.siblings(video) == ["Talk.srt"]
