#!/usr/bin/env python3
"""Search the moments: interactive (no --query) or one-shot for scripts (--query "..." [--json]).

Interactive commands: :filter KEY=VALUE (video, content_type, language, time_from, time_to,
keyword; `:filter clear`), :n N, :mode hybrid|vector|keyword, :json, :open N, :help, :quit.
Exit codes: 0 ok, 1 nothing found (one-shot), 2 bad query/filter/usage or database unreachable.

A thin shim: the command lives in vtdb/commands/search.py (also `vtdb search`).
"""

from vtdb.commands.search import main

if __name__ == "__main__":
    main()
