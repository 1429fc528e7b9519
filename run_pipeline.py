#!/usr/bin/env python3
"""Run every available phase in order, then print the status table.

Phases join this list as they land; today: Phases 1 to 4. Each phase is a separate process, exactly
as cron would run it, so a failure in one video never stops the others.
Exit code: the worst of the phases' exit codes (0 ok, 1 some videos failed, 2 bad config;
141 when the reader of its output went away, e.g. `| head`).

A thin shim: the command lives in vtdb/commands/pipeline.py (also `vtdb pipeline`).
"""

from vtdb.commands.pipeline import main

if __name__ == "__main__":
    main()
