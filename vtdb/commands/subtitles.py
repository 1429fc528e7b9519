"""Subtitles of the videos Phase 1 has done, as WebVTT or SRT: one track printed, or files into a folder.

    vtdb subtitles NAME                         the English track (else the spoken one) as WebVTT on stdout
    vtdb subtitles NAME --lang ru --format srt  the Russian track as SRT
    vtdb subtitles NAME --out DIR               every track of NAME, WebVTT and SRT, into DIR
    vtdb subtitles --all --out DIR              every track of every video into DIR (NAME.en.vtt, NAME.ru.srt, ...)

Read from Phase 1's work files (no database needed, so it runs beside a cron run). Phase 4 writes the same files
into {work_dir}/subtitles/. Exit codes: 0 done, 1 some videos' work files could not be read (the others are
written), 2 bad options (unknown video or language, nothing to write).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.markup import escape

from vtdb.cli import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, check_output_dir, console, guarded_main, load_or_exit
from vtdb.commandline import command, prog
from vtdb.formats.subtitles import FORMATS, SubtitleCue, render, subtitle_tracks, write_subtitle_files
from vtdb.languages import validate_language
from vtdb.text import did_you_mean, summary_of
from vtdb.workfiles import PHASE1_SUFFIX, WorkFileError, read_phase1


def phase1_names(work_dir: Path) -> list[str]:
    """The videos with a Phase 1 work file in work_dir."""
    if not work_dir.is_dir():
        return []
    return sorted(p.name[: -len(PHASE1_SUFFIX)] for p in work_dir.glob(f"*{PHASE1_SUFFIX}") if p.is_file())


def _pick_language(tracks: dict[str, list[SubtitleCue]], wanted: str | None, output_language: str) -> str | None:
    if wanted:
        return wanted if wanted in tracks else None
    return output_language if output_language in tracks else next(iter(tracks), None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog("subtitles"), description=summary_of(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join((__doc__ or "").strip().splitlines()[2:7]))
    parser.add_argument("name", nargs="?", help="the video (its config name)")
    parser.add_argument("--all", action="store_true", help="every video with Phase 1 data (needs --out)")
    parser.add_argument("--lang", default=None, help="the track's language code (default: output_language, else the spoken one)")
    parser.add_argument("--format", choices=[*FORMATS, "both"], default=None,
                        help="vtt or srt (default: vtt on stdout, both into --out)")
    parser.add_argument("--out", default=None, help="a folder for NAME.LANG.FORMAT files (or, with NAME and --lang, a file)")
    parser.add_argument("--config", default=None)
    return parser


class _Refused(Exception):
    """Options that cannot work (exit 2); the argument is the line to print (rich markup, escaped)."""


def _language(lang: str | None) -> str | None:
    """--lang as a Whisper code, None when not given."""
    if not lang:
        return None
    language, problem = validate_language(lang)
    if problem or not language:
        raise _Refused(f"[bold red]subtitles refused:[/] --lang {escape(problem or 'needs a language code such as en')}")
    return language


def _videos(name: str | None, work_dir: Path) -> list[str]:
    """NAME, or every video with Phase 1 data (--all)."""
    names = phase1_names(work_dir)
    if name and name not in names:
        hint = did_you_mean(name, names, n=3) or (
            f"; run {command('phase1')} first" if not names else f"; videos with Phase 1 data: {', '.join(names[:10])}")
        raise _Refused(f"[bold red]subtitles refused:[/] no Phase 1 data for {escape(repr(name))} in {escape(str(work_dir))}{escape(hint)}")
    chosen = [name] if name else names
    if not chosen:
        raise _Refused(f"[bold red]nothing to write:[/] no video has Phase 1 data in {escape(str(work_dir))}")
    return chosen


def _tracks(work_dir: Path, name: str, language: str | None) -> dict[str, list[SubtitleCue]] | None:
    """The video's tracks (only `language`'s when given; {} when it has none, said); None when its work file
    cannot be read (said)."""
    try:
        data = read_phase1(work_dir, name)
    except WorkFileError as exc:
        console.print(f"[yellow]skip {escape(name)}:[/] {escape(str(exc))}")
        return None
    every = subtitle_tracks(data.transcript, data.shots)
    tracks = every if language is None else {language: every[language]} if language in every else {}
    if not tracks:
        have = ", ".join(every) or "none (no speech)"
        console.print(f"[yellow]{escape(name)}:[/] no {escape(language or '')} subtitles (tracks: {escape(have)})")
    return tracks


def _write_file(out: Path, cues: list[SubtitleCue], fmt: str) -> int:
    check_output_dir(out.parent, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(cues, fmt), encoding="utf-8")
    console.print(f"wrote {escape(str(out))}")
    return EXIT_OK


def run(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.name) == bool(args.all):
        parser.error("name a video, or give --all (with --out)")
    if args.all and not args.out:
        parser.error("--all writes files: give --out DIR")
    config = load_or_exit(args.config, need_videos=False)
    work_dir = Path(config.work_dir)
    try:
        language = _language(args.lang)
        chosen = _videos(args.name, work_dir)
    except _Refused as refused:
        console.print(refused.args[0])
        return EXIT_USAGE
    formats = list(FORMATS) if args.format in (None, "both") else [args.format]
    out = Path(args.out) if args.out else None
    single_file = out is not None and args.name and language and args.format and out.suffix == f".{args.format}"
    failed = written = 0
    for name in chosen:
        tracks = _tracks(work_dir, name, language)
        if tracks is None:
            failed += 1
            continue
        if not tracks:
            if args.name:
                return EXIT_USAGE
            continue
        if out is None:  # one track on stdout
            picked = _pick_language(tracks, language, config.settings.output_language)
            assert picked is not None
            sys.stdout.write(render(tracks[picked], formats[0] if args.format else "vtt"))
            return EXIT_OK
        if single_file:
            return _write_file(out, next(iter(tracks.values())), args.format)
        files = write_subtitle_files(check_output_dir(out, "--out"), name, tracks, formats)
        written += len(files)
        console.print(f"{escape(name)}: {', '.join(escape(p.name) for p in files)}")
    if out is not None:
        console.print(f"{written} files in {escape(str(out))}" + (f"; {failed} videos skipped" if failed else ""))
    return EXIT_FAILURES if failed else EXIT_OK


def main(argv: list[str] | None = None) -> None:
    guarded_main(lambda: run(argv))
