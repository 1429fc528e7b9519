"""Search the moments: interactive (no --query) or one-shot for scripts (--query "..." [--json]).

Interactive commands: :filter KEY=VALUE (video, content_type, language, time_from, time_to,
keyword; `:filter clear`), :n N, :mode hybrid|vector|keyword, :json, :open N, :help, :quit.
Exit codes: 0 ok, 1 nothing found (one-shot), 2 bad query/filter/usage or database unreachable.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from typing import Any

from rich.markup import escape
from rich.panel import Panel

from vtdb.cli import EXIT_OK, EXIT_USAGE, TerminalSafeConsole, guarded_main, load_or_exit
from vtdb.commandline import prog
from vtdb.embedders import EmbedderError
from vtdb.search.filters import FILTER_FIELDS, QueryError, check_languages, check_videos, normalize_filters
from vtdb.search.moments import Moment, snippet_parts
from vtdb.search.searcher import MODES, searcher_for
from vtdb.search.similar import UnknownSegmentError, search_moments, similar_moments
from vtdb.search.videos import search_videos
from vtdb.sources import source_at
from vtdb.store import EmbedderMismatch, Store
from vtdb.text import json_safe, summary_of, terminal_safe
from vtdb.timefmt import clock, clock_span, duration, seconds

out = TerminalSafeConsole(highlight=False)


def time_range(moment: Moment) -> str:
    return clock_span(moment.start_time, moment.end_time)


def marked(text: str, query: str, width: int = 260) -> str:
    """The snippet of `text` around its first matched word (vtdb.search.moments.snippet_parts), matched words
    in bold, every part escaped for rich markup."""
    snip = snippet_parts(text, query, width)
    rendered = "".join(f"[bold yellow]{escape(p)}[/]" if hit else escape(p) for p, hit in zip(snip.parts, snip.matches))
    return ("…" if snip.cut_before else "") + rendered + ("…" if snip.cut_after else "")


def highlight(text: str, query: str, width: int = 260) -> str:
    """A transcript snippet around the first matched word, matched words in bold."""
    return marked(text, query, width) if text else "[dim](no speech)[/]"


def play_command(moment: Moment) -> str:
    path = moment.video_path
    start, end = seconds(moment.start_time), seconds(moment.end_time)
    hint = source_at(path).play_hint()  # "" for a local file, which mpv plays where it is
    if start is None or end is None or end < start:  # no usable time range: play the whole video
        if hint:
            return f"# {hint} (this moment has no time range)"
        return f"mpv {shlex.quote(path)}    # or: ffplay {shlex.quote(path)}    (this moment has no time range)"
    start = max(0.0, start)
    if hint:
        return f"# {hint} at {clock(start)}"
    return (f"mpv --start={start:.0f} --end={end:.0f} {shlex.quote(path)}    # or: "
            f"ffplay -ss {start:.0f} -t {end - start:.0f} {shlex.quote(path)}")


def show(moments: list[Moment], query: str) -> None:
    if not moments:
        out.print("[yellow]no matching moments[/]")
        return
    for i, m in enumerate(moments, 1):
        head = (f"[bold]{i}. {escape(m.title)}[/] [dim]({escape(m.video_name)})[/]  "
                f"[cyan]{time_range(m)}[/]  score {m.score:.4f}  [dim]{'+'.join(m.modes)}[/]")
        body = f"{escape(m.description)}\n[dim]“[/]{highlight(m.transcript, query)}[dim]”[/]"
        if m.on_screen_text.strip():
            body += f"\n[dim]on screen:[/] {marked(m.on_screen_text, query)}"
        if m.keywords:
            body += f"\n[dim]keywords: {escape(', '.join(m.keywords))} · {escape(m.content_type)} · {escape(m.language)}[/]"
        out.print(Panel(body, title=head, title_align="left", expand=True))


# The most results one search returns: the searcher gathers candidates for each, and the keyword index
# allocates per result up front (-n 100000000 asked tantivy for 36 GB and aborted the process).
MAX_RESULTS = 1000


def result_count(text: str) -> int:
    """A number of results: ASCII digits, 1 to MAX_RESULTS; QueryError (saying the range) otherwise."""
    shown = repr(text if len(text) <= 40 else text[:37] + "...")
    digits = text.strip()
    if not re.fullmatch(r"[0-9]+", digits, re.ASCII) or not digits.strip("0"):
        raise QueryError(f"must be a whole number >= 1 (at most {MAX_RESULTS}), got {shown}")
    if len(digits.lstrip("0")) > 6 or int(digits) > MAX_RESULTS:  # never int() of a 5000-digit string
        raise QueryError(f"at most {MAX_RESULTS} results at a time, got {shown}; narrow the search with filters instead")
    return int(digits)


def positive_int(text: str) -> int:
    """argparse type for -n: a whole number from 1 to MAX_RESULTS (0 or -5 is a usage error, not 'no matching
    moments'; 100000000 is a usage error, not an out-of-memory abort)."""
    try:
        return result_count(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)


def seconds_arg(text: str) -> float:
    """argparse type for --from/--to: a finite number of seconds written in ASCII digits."""
    value = float(text) if _NUMBER.fullmatch(text.strip()) else math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number of seconds such as 90 or 12.5, got {terminal_safe(repr(text[:40]))}")
    return value


class IndexProgress:
    """Draws the keyword index's build or update (`progress(what, done, total)` from the searcher) on stderr:
    a bar on a terminal, one line otherwise."""

    def __init__(self, console: TerminalSafeConsole):
        self.console = console
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, what: str, done: int, total: int) -> None:
        if self._bar is None:
            if not self.console.is_terminal:
                if done == 0:
                    self.console.print(f"{escape(what)} ({total} segments) …")
                return
            from rich.progress import Progress

            self._bar = Progress(console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(what, total=total)
        self._bar.update(self._task, completed=done, total=total, description=what)
        if done >= total:
            self._bar.stop()
            self._bar = None


def parse_filter(text: str, filters: dict, db: Store | None = None) -> None:
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
    if updated.get("language"):
        updated["language"] = check_languages(updated["language"])
    if db is not None and updated.get("video"):
        check_videos(db, updated["video"])
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


def _result_number(arg: str, last: list[Moment]) -> int:
    if not arg:
        return 1
    if not re.fullmatch(r"[0-9]{1,6}", arg, re.ASCII):
        raise QueryError(f"usage: :open N, with N the number of a result{f' (1 to {len(last)})' if last else ''}; got {arg!r}")
    k = int(arg)
    if not 1 <= k <= len(last):
        raise QueryError(f"no result {k}; search first" if not last else f"no result {k}; there are results 1 to {len(last)}")
    return k


def interactive(db: Store, n: int, filters: dict, mode: str) -> int:
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
        command, _, arg = line.partition(" ") if line.startswith(":") else ("", "", "")
        arg = arg.strip()
        try:
            if command in (":q", ":quit", ":exit"):
                return EXIT_OK
            if command == ":help":
                out.print(HELP)
            elif command == ":filter":
                parse_filter(arg, filters, db)
                out.print(f"filters: {escape(json.dumps(filters, ensure_ascii=False)) if filters else '(none)'}")
            elif command == ":n":
                try:
                    n = result_count(arg)
                except QueryError as exc:
                    rule = f"at most {MAX_RESULTS}" if str(exc).startswith("at most") else "a whole number >= 1"
                    raise QueryError(f"usage: :n N, with N {rule} (now {n})" + (f"; got {arg[:40]!r}" if arg else "")) from None
                out.print(f"showing {n} results")
            elif command == ":mode":
                if arg and arg not in MODES:
                    raise QueryError(f"usage: :mode {'|'.join(MODES)}; got {arg!r}")
                mode = arg or "hybrid"
                out.print(f"mode: {mode}")
            elif command == ":json":
                as_json = not as_json
                out.print(f"json output {'on' if as_json else 'off'}")
            elif command == ":open":
                k = _result_number(arg, last)
                out.print(play_command(last[k - 1]), markup=False)
            elif command:
                raise QueryError(f"unknown command {command}; :help lists them")
            else:
                last = search_moments(db, line, n, filters, mode)
                if as_json:
                    print(json_safe(json.dumps([m.to_dict() for m in last], ensure_ascii=False, indent=1)))
                else:
                    show(last, line)
        except (QueryError, ValueError) as exc:
            out.print(f"[red]{escape(str(exc))}[/]")


def show_similar(db: Store, segment_id: str, n: int, as_json: bool, include_retired: bool) -> int:
    """--similar: the moments nearest to a stored segment (vtdb.search.similar), in other videos and the same one."""
    found = similar_moments(db, segment_id, n, include_retired)
    if as_json:
        print(json_safe(json.dumps(found.to_dict(), ensure_ascii=False, indent=1)))
    else:
        src = found.source
        out.print(f"[bold]More like[/] {escape(segment_id)}: {escape(src.title)} [cyan]{time_range(src)}[/]")
        out.print(f"[dim]{escape(src.description)}[/]")
        out.print("\n[bold]In other videos[/]")
        show(found.other_videos, "")
        out.print("\n[bold]In the same video[/]")
        show(found.same_video, "")
    return EXIT_OK if found.other_videos or found.same_video else 1


def show_videos(db: Store, query: str, n: int, as_json: bool, include_retired: bool = False) -> int:
    """Whole-video search over the Phase 4 summaries in video_files (vtdb.search.videos)."""
    videos = search_videos(db, query, n)
    if not include_retired and videos:
        retired = db.retired_names()
        videos = [v for v in videos if v.name not in retired]
    if as_json:
        print(json_safe(json.dumps([v.to_dict() for v in videos], ensure_ascii=False, indent=1)))
    elif not videos:
        out.print("[yellow]no summarized videos match (Phase 4 fills them)[/]")
    for i, v in enumerate([] if as_json else videos, 1):
        out.print(Panel(f"{escape(v.summary)}\n[dim]{escape(', '.join(v.keywords))} · "
                        f"{escape(v.content_type)} · {duration(v.duration)}[/]",
                        title=f"[bold]{i}. {escape(v.title)}[/] [dim]({escape(v.name)})[/] score {v.score:.4f}",
                        title_align="left"))
    return EXIT_OK if videos else 1


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("search"), description=summary_of(__doc__))
    parser.add_argument("--config", default=None)
    parser.add_argument("--query", "-q", default=None, help="one-shot search (no prompt)")
    parser.add_argument("--json", action="store_true", help="print results as JSON (one-shot)")
    parser.add_argument("-n", type=positive_int, default=5, help=f"number of moments (default 5, at most {MAX_RESULTS})")
    parser.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
    parser.add_argument("--video", action="append", help="only these videos (repeatable)")
    parser.add_argument("--content-type", action="append", dest="content_type")
    parser.add_argument("--language", action="append")
    parser.add_argument("--from", dest="time_from", type=seconds_arg, help="moments ending after this second")
    parser.add_argument("--to", dest="time_to", type=seconds_arg, help="moments starting before this second")
    parser.add_argument("--keyword", help="segments whose keywords contain this exact keyword")
    parser.add_argument("--has-text", dest="has_text", action="store_const", const=True, default=None,
                        help="only windows with text read on screen (OCR); --no-text for those without")
    parser.add_argument("--no-text", dest="has_text", action="store_const", const=False, help=argparse.SUPPRESS)
    parser.add_argument("--videos", action="store_true", help="search whole videos (Phase 4 summaries) instead of moments")
    parser.add_argument("--similar", metavar="SEGMENT_ID", help="more like this: the moments nearest to this segment "
                        "(in other videos and in the same video), by its stored vector; ids are in --json's segment_ids")
    parser.add_argument("--include-retired", action="store_true", help="also search videos that left the library (retired)")
    args = parser.parse_args(argv)
    try:
        language = check_languages(args.language) if args.language else None
    except QueryError as exc:
        parser.error(f"argument --language: {exc}")  # exit 2, with the usage line
    config = load_or_exit(args.config, need_videos=False)
    db = Store(config)
    err = TerminalSafeConsole(stderr=True, soft_wrap=True)
    searcher_for(db, progress=IndexProgress(err))
    filters = {k: v for k, v in (("video", args.video), ("content_type", args.content_type), ("language", language),
                                 ("time_from", args.time_from), ("time_to", args.time_to), ("keyword", args.keyword),
                                 ("has_text", args.has_text)) if v is not None}
    try:
        if args.video:
            check_videos(db, args.video)
        if args.similar is not None:
            return show_similar(db, args.similar, args.n, args.json, args.include_retired)
        if args.query is None:
            if not sys.stdin.isatty() and not sys.stdin.readable():
                raise QueryError("no --query and no terminal to ask one from")
            return interactive(db, args.n, filters, args.mode)
        if args.videos:
            return show_videos(db, args.query, args.n, args.json, args.include_retired)
        moments = search_moments(db, args.query, args.n, filters, args.mode, args.include_retired)
    except (QueryError, EmbedderMismatch, EmbedderError, UnknownSegmentError) as exc:  # EmbedderError: unknown, or cannot load
        err.print(f"[red]{escape(str(exc))}[/]")
        return EXIT_USAGE
    if args.json:
        print(json_safe(json.dumps([m.to_dict() for m in moments], ensure_ascii=False, indent=1)))
    else:
        show(moments, args.query)
    return EXIT_OK if moments else 1



def main(argv: list[str] | None = None) -> None:
    """Console entry point (exit codes as documented)."""
    guarded_main(lambda: run(argv))


if __name__ == "__main__":
    main()
