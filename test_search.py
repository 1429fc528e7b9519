#!/usr/bin/env python3
"""Search the moments: interactive (no --query) or one-shot for scripts (--query "..." [--json]).

Interactive commands: :filter KEY=VALUE (video, content_type, language, time_from, time_to,
keyword; `:filter clear`), :n N, :mode hybrid|vector|keyword, :json, :open N, :help, :quit.
Exit codes: 0 ok, 1 nothing found (one-shot), 2 bad query/filter/usage or database unreachable.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from vtdb.cli import EXIT_OK, EXIT_USAGE, guarded_main, load_or_exit
from vtdb.db import ChromaDBManager, EmbedderMismatch
from vtdb.embedders import UnknownEmbedderError
from vtdb.search import FILTER_FIELDS, Moment, QueryError, normalize_filters
from vtdb.status_table import fmt_duration
from vtdb.text import search_tokens, stem

out = Console(highlight=False)


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def highlight(text: str, query: str, width: int = 260) -> str:
    """A transcript snippet around the first matched word, matched words in bold."""
    stems = set(search_tokens(query))
    if not text:
        return "[dim](no speech)[/]"
    tokens = re.split(r"(\W+)", text)
    first = next((i for i, t in enumerate(tokens) if t and stem(t.lower()) in stems), 0)
    start = max(0, len("".join(tokens[:first])) - width // 3)
    snippet = text[start : start + width]
    parts = re.split(r"(\W+)", snippet)
    rendered = "".join(f"[bold yellow]{escape(p)}[/]" if p and stem(p.lower()) in stems else escape(p) for p in parts)
    return ("…" if start else "") + rendered + ("…" if start + width < len(text) else "")


def play_command(moment: Moment) -> str:
    path = moment.video_path
    if path.startswith("zim://"):
        return f"# {path} is inside a ZIM archive: open it in Kiwix at {clock(moment.start_time)}"
    return (f"mpv --start={moment.start_time:.0f} --end={moment.end_time:.0f} {shlex.quote(path)}    # or: "
            f"ffplay -ss {moment.start_time:.0f} -t {moment.end_time - moment.start_time:.0f} {shlex.quote(path)}")


def show(moments: list[Moment], query: str) -> None:
    if not moments:
        out.print("[yellow]no matching moments[/]")
        return
    for i, m in enumerate(moments, 1):
        head = (f"[bold]{i}. {escape(m.title)}[/] [dim]({escape(m.video_name)})[/]  "
                f"[cyan]{clock(m.start_time)}–{clock(m.end_time)}[/]  score {m.score:.4f}  [dim]{'+'.join(m.modes)}[/]")
        body = f"{escape(m.description)}\n[dim]“[/]{highlight(m.transcript, query)}[dim]”[/]"
        if m.keywords:
            body += f"\n[dim]keywords: {escape(', '.join(m.keywords))} · {escape(m.content_type)} · {escape(m.language)}[/]"
        out.print(Panel(body, title=head, title_align="left", expand=True))


def parse_filter(text: str, filters: dict) -> None:
    if text.strip() in {"clear", "none", ""}:
        filters.clear()
        return
    updated = dict(filters)
    for item in shlex.split(text):
        if "=" not in item:
            raise QueryError(f"filter {item!r}: use KEY=VALUE with KEY one of {', '.join(FILTER_FIELDS)}")
        key, value = item.split("=", 1)
        values = [v for v in value.split(",") if v]
        updated[key] = values if key in ("video", "content_type", "language") else value
    normalize_filters(updated)  # validate now, not at the next query; a rejected filter is not kept
    filters.clear()
    filters.update(updated)


HELP = """[bold]commands[/]
  any text            search
  :filter K=V [K=V]   video, content_type, language (comma lists), time_from, time_to (seconds), keyword
  :filter clear       remove filters
  :n N                number of results
  :mode M             hybrid (default), vector or keyword
  :json               toggle JSON output
  :open N             the mpv/ffplay command that plays result N
  :help, :quit"""


def interactive(db: ChromaDBManager, n: int, filters: dict, mode: str) -> int:
    as_json = False
    last: list[Moment] = []
    out.print(f"[bold]Video Tagging DB search[/] — {db.count_segments()} segments in {escape(db.location)}. :help for commands.")
    while True:
        try:
            line = input("search> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return EXIT_OK
        if not line:
            continue
        try:
            if line in (":q", ":quit", ":exit"):
                return EXIT_OK
            if line == ":help":
                out.print(HELP)
            elif line.startswith(":filter"):
                parse_filter(line[len(":filter"):], filters)
                out.print(f"filters: {escape(json.dumps(filters, ensure_ascii=False)) if filters else '(none)'}")
            elif line == ":n" or line.startswith(":n "):
                n = max(1, int(line[2:].strip()))
                out.print(f"showing {n} results")
            elif line.startswith(":mode"):
                mode = line[5:].strip() or "hybrid"
                out.print(f"mode: {mode}")
            elif line == ":json":
                as_json = not as_json
                out.print(f"json output {'on' if as_json else 'off'}")
            elif line.startswith(":open"):
                k = int(line[5:].strip() or "1")
                if not 1 <= k <= len(last):
                    raise QueryError(f"no result {k}; search first")
                out.print(play_command(last[k - 1]), markup=False)
            elif line.startswith(":"):
                raise QueryError(f"unknown command {line.split()[0]}; :help lists them")
            else:
                last = db.search(line, n_results=n, filters=filters, mode=mode)
                if as_json:
                    print(json.dumps([m.to_dict() for m in last], ensure_ascii=False, indent=1))
                else:
                    show(last, line)
        except (QueryError, ValueError) as exc:
            out.print(f"[red]{escape(str(exc))}[/]")


def search_videos(db: ChromaDBManager, query: str, n: int, as_json: bool) -> int:
    """Whole-video search over the Phase 4 summaries in video_files."""
    from vtdb.search import Searcher

    searcher = Searcher(db)
    searcher.check_query(query)
    vector = searcher.embedder.embed_queries([query])[0]
    videos = db.search_videos(vector.tolist(), n)
    if as_json:
        print(json.dumps([{"name": v["name"], "score": v["score"], "title": v["metadata"].get("title"),
                           "summary": v["metadata"].get("summary"), "keywords": v["metadata"].get("keywords"),
                           "content_type": v["metadata"].get("content_type")} for v in videos], ensure_ascii=False, indent=1))
    elif not videos:
        out.print("[yellow]no summarized videos match (Phase 4 fills them)[/]")
    for i, v in enumerate([] if as_json else videos, 1):
        m = v["metadata"]
        out.print(Panel(f"{escape(str(m.get('summary') or ''))}\n[dim]{escape(', '.join(m.get('keywords') or []))} · "
                        f"{escape(str(m.get('content_type') or ''))} · {fmt_duration(float(m.get('video_duration') or 0))}[/]",
                        title=f"[bold]{i}. {escape(str(m.get('title') or v['name']))}[/] [dim]({escape(v['name'])})[/] score {v['score']:.4f}",
                        title_align="left"))
    return EXIT_OK if videos else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="test_search.py", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--query", "-q", default=None, help="one-shot search (no prompt)")
    parser.add_argument("--json", action="store_true", help="print results as JSON (one-shot)")
    parser.add_argument("-n", type=int, default=5, help="number of moments (default 5)")
    parser.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    parser.add_argument("--video", action="append", help="only these videos (repeatable)")
    parser.add_argument("--content-type", action="append", dest="content_type")
    parser.add_argument("--language", action="append")
    parser.add_argument("--from", dest="time_from", type=float, help="moments ending after this second")
    parser.add_argument("--to", dest="time_to", type=float, help="moments starting before this second")
    parser.add_argument("--keyword", help="segments whose keywords contain this exact keyword")
    parser.add_argument("--videos", action="store_true", help="search whole videos (Phase 4 summaries) instead of moments")
    args = parser.parse_args()
    config = load_or_exit(args.config, need_videos=False)
    db = ChromaDBManager(config)
    filters = {k: v for k, v in (("video", args.video), ("content_type", args.content_type), ("language", args.language),
                                 ("time_from", args.time_from), ("time_to", args.time_to), ("keyword", args.keyword)) if v is not None}
    err = Console(stderr=True, soft_wrap=True)
    try:
        if args.query is None:
            if not sys.stdin.isatty() and not sys.stdin.readable():
                raise QueryError("no --query and no terminal to ask one from")
            return interactive(db, args.n, filters, args.mode)
        if args.videos:
            return search_videos(db, args.query, args.n, args.json)
        moments = db.search(args.query, n_results=args.n, filters=filters, mode=args.mode)
    except (QueryError, EmbedderMismatch, UnknownEmbedderError) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        return EXIT_USAGE
    if args.json:
        print(json.dumps([m.to_dict() for m in moments], ensure_ascii=False, indent=1))
    else:
        show(moments, args.query)
    return EXIT_OK if moments else 1


if __name__ == "__main__":
    guarded_main(main)
