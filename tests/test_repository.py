"""A clone alone runs the suite: the data the tests and benchmarks read is inside the repository (issue 23)."""

from __future__ import annotations

import re
import subprocess

import pytest

from bench._common import TEST_DATA, speech_dir, speech_rows, test_data
from conftest import ROOT

LANGUAGES = ["en", "de", "es", "fr"]


def test_no_test_benchmark_or_script_reads_outside_the_clone():
    # The pattern is assembled so that this file does not match itself.
    outside = re.compile(r"\.\./" + "shared" + r"|ROOT\.parent\s*/|parent\.parent\.parent")
    offenders = []
    for folder in ("tests", "bench", "scripts", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".sh", ""} and "data" not in path.relative_to(ROOT).parts:
                for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if outside.search(line):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "reads a folder beside the clone, which a user's clone does not have:\n" + "\n".join(offenders)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_recording_listed_is_there_and_every_recording_is_listed(language):
    folder = speech_dir(language)
    listed = [name for name, _text in speech_rows(language)]
    assert len(listed) == len(set(listed)) >= 20
    assert sorted(listed) == sorted(p.name for p in folder.glob("*.flac"))
    assert all(text.strip() for _name, text in speech_rows(language))


def test_recordings_are_16_khz_mono_speech_of_a_few_seconds():
    for language in LANGUAGES:
        name = speech_rows(language)[0][0]
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=sample_rate,channels:format=duration",
                              "-of", "default=nw=1", str(speech_dir(language) / name)], capture_output=True, text=True, check=True)
        fields = dict(line.split("=", 1) for line in out.stdout.split())
        assert fields["sample_rate"] == "16000" and fields["channels"] == "1", (language, fields)
        assert 0.5 <= float(fields["duration"]) <= 6, (language, fields)


def test_face_photographs_are_there():
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "README.md"):
        assert test_data("faces", name).stat().st_size > 0


def test_missing_data_is_an_error_that_names_the_file():
    with pytest.raises(FileNotFoundError, match=re.escape(str(TEST_DATA / "speech" / "xx" / "transcripts.tsv"))):
        speech_dir("xx")


def test_the_data_is_tracked_and_small():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked archive): nothing says which files are tracked")
    tracked = subprocess.run(["git", "ls-files", "-z", "tests/data"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = [f for f in tracked.stdout.split("\0") if f]
    on_disk = [str(p.relative_to(ROOT)) for p in TEST_DATA.rglob("*") if p.is_file()]
    assert sorted(on_disk) == sorted(files), "tests/data holds files git does not track (they would not reach a clone)"
    assert sum((ROOT / f).stat().st_size for f in files) < 12 * 2**20
