"""Export the loaded moments as a disaster-clippy source folder: {out}/{source_id}/ with
_manifest.json, _metadata.json, _index.json, _vectors_768.json (all-mpnet-base-v2, bundled)
and pages/ (one HTML page per video).

Exit codes: 0 exported, 2 bad options (no license, unsafe source id, nothing to export) or
database unreachable.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.markup import escape

from vtdb.cli import EXIT_OK, EXIT_USAGE, check_database_dir, check_output_dir, console, guarded_main, load_or_exit
from vtdb.config import ConfigError
from vtdb.export.clippy import ExportError, ExportOptions, check_options, export
from vtdb.search.searcher import segment_span
from vtdb.store import ChromaDBManager
from vtdb.workfiles import WorkFileError, load_phase1_data


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_clippy.py", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--source-id", required=True, help="folder and id prefix, e.g. cooking_videos (a-z, 0-9, '-', '_')")
    parser.add_argument("--name", default=None, help="human name of the source (default: the source id)")
    parser.add_argument("--license", required=True, help="e.g. 'CC BY 4.0' (required; 'Unknown' is refused)")
    parser.add_argument("--attribution", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--language", default=None, help="language of the documents (default: output_language)")
    parser.add_argument("--tag", action="append", dest="tags", default=[], help="a tag (repeatable)")
    parser.add_argument("--videos", nargs="+", default=None, metavar="NAME", help="export only these videos")
    parser.add_argument("--base-url", default="", help="where the video files are served, for document URLs (default: file:// URLs)")
    parser.add_argument("--out", default="clippy_export", help="output folder (default: ./clippy_export)")
    args = parser.parse_args(argv)
    config = load_or_exit(args.config, need_videos=False)
    opts = ExportOptions(source_id=args.source_id, name=args.name or args.source_id, license=args.license, out=Path(args.out),
                         attribution=args.attribution, description=args.description,
                         language=args.language or config.settings.output_language, tags=args.tags, videos=args.videos,
                         base_url=args.base_url)
    try:
        # Options and the output folder first: a refusal must come before minutes of embedding.
        check_options(opts)
        try:
            check_output_dir(opts.out, "--out")
        except ConfigError as exc:
            raise ExportError(str(exc)) from None
        check_database_dir(config, writable=False)
        db = ChromaDBManager(config)
        records = db.list_videos({"db_load_status": "completed"}, with_flags=False)
        if args.videos:
            known = {r["name"] for r in records}
            missing = [v for v in args.videos if v not in known]
            if missing:
                raise ExportError(f"not loaded (or unknown): {', '.join(missing)}; run phase3_load.py for them first")
            records = [r for r in records if r["name"] in set(args.videos)]
            empty = [r["name"] for r in records if not db.count_segments(r["name"])]
            if empty:  # asked for by name: do not skip it silently
                raise ExportError(f"no segments in video_segments for: {', '.join(empty)}; run phase3_load.py for them "
                                  "(python db_manager.py reset NAME --phase 3), or leave them out of --videos")
        if config.settings.output_language != "en":
            console.print("[yellow]note: disaster-clippy searches English; these descriptions are in "
                          f"{escape(config.settings.output_language)}[/]")

        def segments_of(name: str) -> list[dict]:
            got = db.video_segments.get(where={"video_name": name}, include=["metadatas"])
            return [m or {} for m in got["metadatas"]]

        def transcript_of(name: str) -> str:
            try:
                return str(load_phase1_data(config.work_dir, name)["transcript"].get("text") or "")
            except (WorkFileError, KeyError):
                ordered = sorted(segments_of(name), key=lambda m: (segment_span(m) or (math.inf,))[0])
                return " ".join(dict.fromkeys(str(m.get("transcript") or "") for m in ordered))

        def mpnet():
            from vtdb.embedders import load_embedder

            return load_embedder("all-mpnet-base-v2")  # loaded once, on first use

        def embed(texts: list[str]):
            console.print(f"embedding {len(texts)} documents with all-mpnet-base-v2 …")
            return mpnet().embed_passages(texts)

        def fits(text: str) -> bool:
            """Does the model read the whole text (no silent cut at max_seq_length)?"""
            model = getattr(mpnet(), "_model", None)
            if model is None:
                return True
            return len(model.tokenizer(text)["input_ids"]) <= model.max_seq_length

        export(opts, records, segments_of, transcript_of, embed, log=lambda m: console.print(escape(m)), fits=fits)
    except ExportError as exc:
        console.print(f"[bold red]export refused:[/] {escape(str(exc))}")
        return EXIT_USAGE
    return EXIT_OK



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
