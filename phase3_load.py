#!/usr/bin/env python3
"""Phase 3: embed the window descriptions of every video whose Phase 2 is completed and load them
into the ChromaDB collection video_segments (ids {name}_seg_{i}; a video's segments are replaced).

Work comes from the video_files status collection. --reembed rebuilds every segment with the
configured embedder (after changing `embedder`). Exit codes: 0 ok or nothing to do, 1 some videos
failed, 2 bad config/usage, database unreachable, or embedder mismatch.

A thin shim: the command lives in vtdb/commands/phase3.py (also `vtdb phase3`).
"""

from vtdb.commands.phase3 import main

if __name__ == "__main__":
    main()
