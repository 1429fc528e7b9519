#!/usr/bin/env python3
"""Export the loaded moments as a disaster-clippy source folder: {out}/{source_id}/ with
_manifest.json, _metadata.json, _index.json, _vectors_768.json (all-mpnet-base-v2, bundled),
pages/ (one HTML page per video) and, with --include-media, media/ (the videos).

Exit codes: 0 exported, 2 bad options (no license, unsafe source id, nothing to export) or
database unreachable.

A thin shim: the command lives in vtdb/commands/export.py (also `vtdb export`).
"""

from vtdb.commands.export import main

if __name__ == "__main__":
    main()
