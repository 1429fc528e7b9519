#!/usr/bin/env python3
"""Phase 1: transcribe each configured video once (faster-whisper), cut overlapping windows and
sample JPEG frames per window into {work_dir}/{name}_phase1_data.pkl.

Re-runnable and cron-safe: each run does only the work that is left. Exit codes: 0 all good or
nothing to do, 1 some videos failed (or config entries are invalid), 2 bad config/usage.

A thin shim: the command lives in vtdb/commands/phase1.py (also `vtdb phase1`).
"""

from vtdb.commands.phase1 import main

if __name__ == "__main__":
    main()
