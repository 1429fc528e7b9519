"""A video item inside a Kiwix/openZIM archive (the archive itself is read by vtdb.sources.zim)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from vtdb.media.video import MediaError
from vtdb.sources.base import SOURCES, VideoSource


@SOURCES.register("zim")
class ZimEntrySource(VideoSource):
    """One video item inside a ZIM archive, streamed to a temp file in work_dir while Phase 1 runs;
    its other items (subtitle tracks) are readable with `read_entry`."""

    kind = "zim"
    has_entries = True

    def __init__(self, uri: str):
        from vtdb.sources.zim import parse_zim_uri

        self.location = uri
        self.archive, self.entry = parse_zim_uri(uri)

    def fingerprint(self) -> str | None:
        from vtdb.sources.zim import archive_fingerprint, entry_fingerprint

        fp = archive_fingerprint(self.archive)
        return entry_fingerprint(fp, self.entry) if fp else None

    @contextlib.contextmanager
    def open_local(self, work_dir: Path) -> Iterator[Path]:
        from vtdb.sources.zim import extract_to, remove_quietly

        # A ZimError (ZimEntryMissing, ZimArchiveCorrupt, ...) goes up as it is: its class says whether retrying helps.
        path = extract_to(self.archive, self.entry, Path(work_dir))
        try:
            yield path
        except MediaError as exc:
            # Name the archive item, not the temp file (which is gone once this block ends). The same exception goes
            # on, so its class (PermanentMediaError: held at once) and fields (TruncatedMediaError's) are kept.
            text = str(exc)
            if str(path) in text:
                exc.args = (text.replace(str(path), self.location),)
            raise
        finally:
            remove_quietly(path)

    def read_entry(self, entry: str) -> bytes:
        from vtdb.sources.zim import open_archive, read_entry

        with open_archive(self.archive) as archive:
            return read_entry(archive, entry)
