"""Export the loaded moments as a disaster-clippy source folder: {out}/{source_id}/ with
_manifest.json, _metadata.json, _index.json, _vectors_768.json (all-mpnet-base-v2, bundled),
pages/ (one HTML page per video) and, with --include-media, media/ (the videos).

Exit codes: 0 exported, 2 bad options (no license, unsafe source id, nothing to export) or
database unreachable.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from rich.markup import escape

from vtdb.cli import EXIT_OK, EXIT_USAGE, check_database_dir, check_output_dir, console, guarded_main, load_or_exit
from vtdb.commandline import prog
from vtdb.config import ConfigError
from vtdb.export import ExportError
from vtdb.export.clippy import ExportOptions, check_options, export
from vtdb.export.select import ExportEmbedder, loaded_videos, segments_of, transcript_of
from vtdb.languages import validate_language
from vtdb.store import Store
from vtdb.text import summary_of


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog("export"), description=summary_of(__doc__))
    parser.add_argument("--config", default=None)
    parser.add_argument("--source-id", required=True, help="folder and id prefix, e.g. cooking_videos (a-z, 0-9, '-', '_')")
    parser.add_argument("--name", default=None, help="human name of the source (default: the source id)")
    parser.add_argument("--license", required=True, help="e.g. 'CC BY 4.0' (required; 'Unknown' is refused)")
    parser.add_argument("--attribution", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--language", default="en",
                        help="the pack's language: segments whose text is in another one are left out (default: en, "
                             "what disaster-clippy searches)")
    parser.add_argument("--tag", action="append", dest="tags", default=[], help="a tag (repeatable)")
    parser.add_argument("--videos", nargs="+", default=None, metavar="NAME", help="export only these videos")
    parser.add_argument("--base-url", default="",
                        help="where the video files are served online, for document URLs (default: the pack's own pages)")
    parser.add_argument("--include-media", action="store_true",
                        help="put the videos into {source_id}/media/ (hard links where possible) so the pages play them")
    parser.add_argument("--include-retired", action="store_true", help="export retired videos too")
    parser.add_argument("--zim-source", action="append", default=[], metavar="ARCHIVE=ID",
                        help="the disaster-clippy source id of a ZIM archive (stem or path; default: its stem, lower case)")
    parser.add_argument("--out", default="clippy_export", help="output folder (default: ./clippy_export)")
    return parser


def _zim_sources(items: list[str]) -> dict[str, str] | None:
    """--zim-source ARCHIVE=ID options as {archive: id}; None (said) when one is malformed."""
    zim_sources = {}
    for item in items:
        archive, sep, sid = item.partition("=")
        if not sep or not archive.strip() or not sid.strip():
            console.print(f"[bold red]export refused:[/] --zim-source {escape(item)!r}: write ARCHIVE=ID, e.g. "
                          "--zim-source my_channel_2024-05=my_channel")
            return None
        zim_sources[archive.strip()] = sid.strip()
    return zim_sources


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = load_or_exit(args.config, need_videos=False)
    language, problem = validate_language(args.language)
    if problem or language is None:
        console.print(f"[bold red]export refused:[/] --language {escape(problem or 'needs a language code such as en')}")
        return EXIT_USAGE
    zim_sources = _zim_sources(args.zim_source)
    if zim_sources is None:
        return EXIT_USAGE
    opts = ExportOptions(source_id=args.source_id, name=args.name or args.source_id, license=args.license, out=Path(args.out),
                         attribution=args.attribution, description=args.description,
                         language=language, tags=args.tags, videos=args.videos,
                         base_url=args.base_url, include_media=args.include_media, work_dir=Path(config.work_dir),
                         zim_sources=zim_sources)
    try:
        # Options and the output folder first: a refusal must come before minutes of embedding.
        check_options(opts)
        try:
            check_output_dir(opts.out, "--out")
        except ConfigError as exc:
            raise ExportError(str(exc)) from None
        check_database_dir(config, writable=False)
        db = Store(config)
        records = loaded_videos(db, args.videos, include_retired=args.include_retired,
                                log=lambda m: console.print(escape(m)))
        if opts.language != "en":
            console.print(f"[yellow]note: a {escape(opts.language)} pack: disaster-clippy embeds queries with the "
                          "English-only all-mpnet-base-v2 and submits English packs only[/]")

        model = ExportEmbedder(log=console.print)
        export(opts, records, partial(segments_of, db), partial(transcript_of, db, config.work_dir), model.embed,
               log=lambda m: console.print(escape(m)), fits=model.fits)
    except ExportError as exc:
        console.print(f"[bold red]export refused:[/] {escape(str(exc))}")
        return EXIT_USAGE
    return EXIT_OK



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
