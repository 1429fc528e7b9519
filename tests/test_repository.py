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


def _markdown_pages():
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans, where a Markdown link is a link."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+).*?\1", "", text, flags=re.S)


def _anchors(path) -> set[str]:
    """GitHub's heading anchors: the heading's text without markup, lower case, punctuation dropped,
    spaces to '-', a repeated anchor numbered -1, -2, …"""
    seen: dict[str, int] = {}
    for line in re.sub(r"^```.*?^```[^\n]*$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).replace("`", "").lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            if count:
                slug = f"{slug}-{count}"
            seen.setdefault(slug, 1)
    return set(seen)


def test_every_relative_link_in_the_docs_points_to_a_file_and_heading_that_exist():
    broken = []
    for page in _markdown_pages():
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _prose(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            if not linked.exists():
                broken.append(f"{where}: no file {linked}")
            elif anchor and (linked.suffix != ".md" or anchor not in _anchors(linked)):
                broken.append(f"{where}: no heading with the anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"docs pages the README's 'Where to go next' does not link: {unlinked}"


def test_ci_runs_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    two_commands = readme.split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^bash scripts/\S+$", two_commands, flags=re.M)
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"], commands
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.startswith("bash ")]
    assert ci == ["bash scripts/test.sh"], ci
