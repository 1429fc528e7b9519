#!/usr/bin/env python3
"""Phase 2: describe every window of every video whose Phase 1 is completed, with a vision-language
model (vllm in process, any OpenAI-compatible server) or the CPU transcript analyzer, into
{work_dir}/{name}_phase2_vllm_analysis.json.

Work comes from the video_files status collection, not from the config's video list.
Exit codes: 0 all good or nothing to do, 1 some videos failed, 2 bad config/usage or the
analyzer cannot run here (no GPU, endpoint down).

A thin shim: the command lives in vtdb/commands/phase2.py (also `vtdb phase2`).
"""

from vtdb.commands.phase2 import main

if __name__ == "__main__":
    main()
