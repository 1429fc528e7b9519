#!/usr/bin/env python3
"""Phase 4: a whole-video summary, keywords, content type and chapters for every video whose
segments are loaded (db_load completed); stored in video_files (embedded, for whole-video
search) and as a Markdown report {work_dir}/reports/{name}.md.

Summarizers (--summarizer / the summarizer setting): extractive (CPU default), openai (any
OpenAI-compatible server, map-reduce for long videos), vllm (in process on a GPU).
Exit codes: 0 ok or nothing to do, 1 some videos failed, 2 bad config/usage or backend unavailable.

A thin shim: the command lives in vtdb/commands/phase4.py (also `vtdb phase4`).
"""

from vtdb.commands.phase4 import main

if __name__ == "__main__":
    main()
