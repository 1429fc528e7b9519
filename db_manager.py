#!/usr/bin/env python3
"""ChromaDBManager and a small CLI over the video database.

From a Python shell:
    from db_manager import ChromaDBManager
    db = ChromaDBManager()                      # reads ./videos_config.json when present
    db.get_video_status("news")
    db.list_videos(status_filter={"phase1_status": "completed", "phase2_status": ["pending", "processing"]})
    db.search("boiling pasta"); db.similar("news_seg_3"); db.reset("news", phase=2); db.release("news")
    (help(ChromaDBManager) lists the rest; the phases' operations are on db.store, a vtdb.store.Store)

From the shell (--config PATH goes before or after the command):
    python db_manager.py status [--json] [--filter phase2_status=pending,processing]
    python db_manager.py show NAME
    python db_manager.py reset NAME --phase N      # N = 1, 2, 3 (load) or 4; resets downstream too
    python db_manager.py release NAME [--phase N]  # retry a video held after max_attempts
    python db_manager.py delete NAME               # forget a video and its segments
    python db_manager.py prune [NAME ...] [--yes]  # delete retired videos (asks first; --yes for scripts)

A thin shim: the commands live in vtdb/commands/manage.py (also `vtdb status`, `vtdb reset`, …).
"""

from vtdb.commands.manage import main
from vtdb.manager import ChromaDBManager  # noqa: F401  (public API, used from a Python shell)
from vtdb.store import UnknownVideoError  # noqa: F401  (reset, release and hold raise it for an unknown name)

__all__ = ["ChromaDBManager", "UnknownVideoError"]

if __name__ == "__main__":
    main()
