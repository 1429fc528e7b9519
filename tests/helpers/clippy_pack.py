"""The disaster-clippy source folder, checked: `validate_export` holds an export to every rule of the
spec in issue 5 (and our own per-segment fields), `clippy_checks` to what disaster-clippy itself checks
before it loads or submits a pack (re-implemented from its code, in our words):

- light validation: _manifest.json, _metadata.json, _vectors_768.json and an HTML backup (pages/*.html);
  schema_version 3; source_id = the folder's name; document_count > 0; a license on its allowlist;
  language English (its submission gate requires it);
- deep validation: every 768-d vector finite, not all zeros; the metadata's ids are the vectors' ids.

Both return the broken rules (empty: valid), so a test can also show that they catch a broken pack.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from helpers.library import Vid

HOWTO_TYPES = {"tutorial", "cooking", "repair"}  # -> disaster-clippy's "guide"; every other type -> "article"
CLIPPY_DOC_TYPES = {"guide", "article", "product", "academic"}  # the types disaster-clippy knows
MAX_WORDS = 300
HEADER_WINDOW = 2000
# disaster-clippy's license allowlist and its loose matching (version numbers and spaces do not matter).
CLIPPY_LICENSES = ["CC0", "CC-BY", "CC-BY-SA", "CC-BY-NC", "CC-BY-NC-SA", "Public Domain", "MIT", "Apache-2.0", "GPL",
                   "GFDL", "ODbL"]


def clippy_license_ok(text: str) -> bool:
    norm = text.strip().lower()
    bare = re.sub(r"\s*\d+(\.\d+)?\s*$", "", norm)
    cc = bare.replace(" ", "-").replace("--", "-")
    return any(x.lower() in (norm, bare, cc) or (x.lower().startswith("cc") and x.lower() in cc) for x in CLIPPY_LICENSES)


def _words(text: str) -> str:
    """The words of a text, lower case, space-delimited (a containment test matches whole words)."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def zim_source(path: str) -> str:
    """disaster-clippy's default source id of the archive in a zim://{archive}#{entry} path: its file's stem,
    lower case, spaces to '-'."""
    return Path(path[len("zim://"):].split("#", 1)[0]).stem.lower().replace(" ", "-")


def clippy_checks(pack: Path) -> list[str]:
    """disaster-clippy's light and deep validation of a source folder; the broken rules (empty: it loads)."""
    problems: list[str] = []
    files = ("_manifest.json", "_metadata.json", "_vectors_768.json")
    missing = [f for f in files if not (pack / f).is_file()]
    if missing or not list((pack / "pages").glob("*.html")):
        return [f"light: files {missing or 'pages/*.html'} missing"]
    man, meta = load_json(pack / "_manifest.json"), load_json(pack / "_metadata.json")
    vectors = load_json(pack / "_vectors_768.json")["vectors"]
    if not (man.get("schema_version") == 3 and man.get("source_id") == pack.name and (man.get("total_docs") or 0) > 0):
        problems.append(f"light: header {man.get('schema_version')}, {man.get('source_id')!r}, {man.get('total_docs')}")
    if not clippy_license_ok(str(man.get("license") or "")):
        problems.append(f"light: license {man.get('license')!r} is not on its allowlist")
    if man.get("language") not in ("en", "english", "eng"):
        problems.append(f"light: language {man.get('language')!r} (it submits English packs only)")
    for i, vec in vectors.items():
        if not (len(vec) == 768 and all(math.isfinite(x) for x in vec) and any(x != 0 for x in vec)):
            problems.append(f"deep: vector {i}")
    if set(meta.get("documents") or {}) != set(vectors):
        problems.append("deep: the metadata's ids are not the vectors' ids")
    return problems


def load_json(path: Path) -> dict:
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"{path.name}: duplicate keys {sorted(dupes)}")
        return dict(pairs)

    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def mss(seconds: int) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


MANIFEST_KEYS = ["schema_version", "source_id", "name", "description", "license", "attribution", "language", "tags",
                 "total_docs", "created_at"]
HEADERS = {
    "_metadata.json": (["schema_version", "source_id", "document_count", "total_chars", "last_updated"], "documents"),
    "_index.json": (["schema_version", "source_id", "document_count", "created_at"], "documents"),
    "_vectors_768.json": (["schema_version", "source_id", "embedding_model", "dimensions", "document_count", "created_at"], "vectors"),
}
FILES = ["_manifest.json", *HEADERS]


def page_url(source_id: str, name: str, t: int) -> str:
    return f"/backup/{source_id}/pages/{quote(name)}.html#t={t}"


def validate_export(folder: Path, source_id: str, videos: dict[str, Vid], summaries: dict[str, str], base_url: str = "",
                    media: frozenset[str] | set[str] = frozenset(), language: str = "en") -> list[str]:
    """Every rule of the disaster-clippy source folder spec; returns the broken rules (empty: valid).
    `videos`/`summaries` are what was exported, to check the documents against their source; `media`:
    the videos exported with their file (--include-media: a media/ folder, their pages play from it)."""
    problems: list[str] = []

    def check(rule: str, ok: bool, detail: object = "") -> bool:
        if not ok:
            problems.append(f"{rule}: {detail}"[:400])
        return ok

    # 1. the file set
    if not check("files", all((folder / f).is_file() for f in FILES) and (folder / "pages").is_dir(),
                 sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "no folder"):
        return problems
    check("files: nothing but the spec's files",
          sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "pages", *(["media"] if media else [])]),
          sorted(p.name for p in folder.iterdir()))
    check("files: no temp folders left", not [p for p in folder.parent.iterdir() if p.name.startswith(".")],
          [p.name for p in folder.parent.iterdir()])
    try:
        data = {f: load_json(folder / f) for f in FILES}
    except ValueError as exc:
        check("json", False, exc)
        return problems
    man, meta, index, vecs = (data[f] for f in FILES)

    # 2. header keys first, within the first 2,000 characters
    for name, (keys, big) in HEADERS.items():
        head = (folder / name).read_text(encoding="utf-8")[:HEADER_WINDOW]
        pos = {k: head.find(f'"{k}":') for k in [*keys, big]}
        check(f"header {name}: keys within the first {HEADER_WINDOW} chars", all(pos[k] >= 0 for k in keys), pos)
        check(f"header {name}: keys before {big!r}", pos[big] < 0 or all(0 <= pos[k] < pos[big] for k in keys), pos)
        check(f"header {name}: {big!r} is the last key", list(data[name])[-1] == big and list(data[name])[:len(keys)] == keys,
              list(data[name]))
    mhead = (folder / "_manifest.json").read_text(encoding="utf-8")[:HEADER_WINDOW]
    check("header _manifest.json: keys within the first 2,000 chars", all(f'"{k}":' in mhead for k in MANIFEST_KEYS))

    # 3. manifest keys, schema_version 3, source ids
    check("manifest keys", list(man) == MANIFEST_KEYS, list(man))
    for name, obj in data.items():
        check(f"{name}: schema_version 3", obj.get("schema_version") == 3 and type(obj.get("schema_version")) is int,
              obj.get("schema_version"))
        check(f"{name}: source_id", obj.get("source_id") == source_id, obj.get("source_id"))
    check("manifest: tags is a list of strings", isinstance(man.get("tags"), list) and all(isinstance(t, str) for t in man["tags"]))
    for key in ("name", "description", "attribution", "language", "created_at"):
        check(f"manifest: {key} is a string", isinstance(man.get(key), str), man.get(key))
    for name, key in (("_manifest.json", "created_at"), ("_metadata.json", "last_updated"), ("_index.json", "created_at"),
                      ("_vectors_768.json", "created_at")):
        try:
            datetime.fromisoformat(str(data[name].get(key)))
        except ValueError:
            check(f"{name}: {key} is ISO 8601", False, data[name].get(key))

    # 4. license
    lic = man.get("license")
    check("license present", isinstance(lic, str) and lic.strip() != "" and lic.strip().lower() != "unknown", lic)

    # 5. counts
    docs, idocs, vectors = meta.get("documents") or {}, index.get("documents") or {}, vecs.get("vectors") or {}
    counts = [meta.get("document_count"), index.get("document_count"), vecs.get("document_count"), man.get("total_docs")]
    check("document_count > 0", isinstance(counts[0], int) and counts[0] > 0, counts)
    check("document_count equal across files", len(set(counts)) == 1, counts)
    check("document_count == number of documents/vectors", counts[0] == len(docs) == len(idocs) == len(vectors),
          (counts[0], len(docs), len(idocs), len(vectors)))

    # 6. total_chars, char_count, content_hash
    contents = {i: d.get("content") for i, d in idocs.items()}
    check("content is a string", all(isinstance(c, str) and c for c in contents.values()))
    check("total_chars", meta.get("total_chars") == sum(len(c or "") for c in contents.values()),
          (meta.get("total_chars"), sum(len(c or "") for c in contents.values())))
    for i, d in docs.items():
        c = contents.get(i) or ""
        check(f"{i}: char_count", d.get("char_count") == len(c), (d.get("char_count"), len(c)))
        check(f"{i}: content_hash", d.get("content_hash") == hashlib.sha256(c.encode("utf-8")).hexdigest())

    # 7. the same ids everywhere
    check("ids equal across _metadata/_index/_vectors", list(docs) == list(idocs) == list(vectors),
          (set(docs) ^ set(idocs), set(docs) ^ set(vectors)))
    check("vectors header", vecs.get("embedding_model") == "all-mpnet-base-v2" and vecs.get("dimensions") == 768,
          (vecs.get("embedding_model"), vecs.get("dimensions")))

    # per document
    per_video: dict[str, list[int]] = {}
    for i, d in docs.items():
        ix = idocs.get(i, {})
        check(f"{i}: metadata fields", set(d) - {"on_screen_text"} == {"title", "url", "local_url", "content_hash", "char_count",
                                                                      "categories", "doc_type", "scraped_at", "video_name", "start_sec",
                                                                      "end_sec"}, sorted(d))
        check(f"{i}: index fields", set(ix) == {"title", "url", "local_url", "content", "categories", "doc_type"}, sorted(ix))
        for key in ("title", "url", "local_url", "categories", "doc_type"):
            check(f"{i}: {key} equal in _metadata and _index", d.get(key) == ix.get(key), (d.get(key), ix.get(key)))
        # 10. title and url are strings
        check(f"{i}: title and url are strings", isinstance(d.get("title"), str) and isinstance(d.get("url"), str)
              and isinstance(d.get("local_url"), str), (d.get("title"), d.get("url")))
        v = videos.get(d.get("video_name"))
        if not check(f"{i}: video_name is an exported video", v is not None, d.get("video_name")):
            continue
        start, end = d.get("start_sec"), d.get("end_sec")
        check(f"{i}: start_sec/end_sec integers", isinstance(start, int) and isinstance(end, int) and 0 <= start < end, (start, end))
        seg = next((s for s in v.segments if int(s.start) == start), None)
        if not check(f"{i}: a segment starts at start_sec", seg is not None, start):
            continue
        check(f"{i}: end_sec", abs(end - seg.end) <= 1, (end, seg.end))
        # 8. id format {source_id}_{video}_seg_{n}
        m = re.fullmatch(re.escape(f"{source_id}_{v.name}_seg_") + r"(\d+)", i)
        if check(f"{i}: id format", m is not None):
            per_video.setdefault(v.name, []).append(int(m.group(1)))
        # 9. title "Video title (m:ss–m:ss)"
        check(f"{i}: title format", d.get("title") == f"{v.title} ({mss(start)}–{mss(end)})", d.get("title"))
        # 11. links disaster-clippy's app opens: http(s), /backup/{source_id}/…, /zim/…; never file://
        url, local = str(d.get("url")), str(d.get("local_url"))
        zim = v.path.startswith("zim://")
        check(f"{i}: links its app opens", all(u.startswith(("https://", "http://", f"/backup/{source_id}/", "/zim/"))
                                                 for u in (url, local)), (url, local))
        zim_link = f"/zim/{zim_source(v.path)}/{v.path.rsplit('#', 1)[1]}#t={start}" if zim else ""
        page = page_url(source_id, v.name, start)
        # 12. local_url: the pack's page at the moment; a ZIM video whose file is not in the pack: its archive item
        check(f"{i}: local_url", local == (zim_link if zim and v.name not in media else page), local)
        if v.youtube_id:
            check(f"{i}: YouTube url", url == f"https://www.youtube.com/watch?v={v.youtube_id}&t={start}s", url)
        elif base_url and not zim:
            check(f"{i}: base url", url.startswith(base_url.rstrip("/") + "/") and url.endswith(f"#t={start}"), url)
        else:
            check(f"{i}: url is local_url", url == local, url)
        # 13. doc_type: one of disaster-clippy's
        check(f"{i}: doc_type", d.get("doc_type") in CLIPPY_DOC_TYPES
              and d.get("doc_type") == ("guide" if seg.content_type in HOWTO_TYPES else "article"), (d.get("doc_type"), seg.content_type))
        # 14. categories from the keywords and the content type
        cats = d.get("categories")
        allowed = {seg.content_type, *(k.lower() for k in seg.keywords)}
        check(f"{i}: categories", isinstance(cats, list) and seg.content_type in cats and set(cats) <= allowed
              and len(set(cats) & {k.lower() for k in seg.keywords}) >= 1 and len(cats) == len(set(cats)), cats)
        # 15. content: title first, then description, dialogue, on-screen text, keywords; under ~300 words
        c = contents.get(i) or ""
        # on_screen_text (ours): the segment's lines read on screen, there only when it has some in the pack's script
        readable = [ln for ln in seg.on_screen if re.search(r"[A-Za-z]", ln)] if language == "en" else list(seg.on_screen)
        if check(f"{i}: on_screen_text when the window has some", ("on_screen_text" in d) == bool(readable),
                 (d.get("on_screen_text"), seg.on_screen)) and readable:
            check(f"{i}: on_screen_text", d["on_screen_text"] == " | ".join(readable), (d["on_screen_text"], readable))
        # the content says it, once: an "On screen: …" line holds the lines the description and dialogue do not say
        said = _words(f"{seg.description} {seg.dialogue}")
        fresh = [ln for ln in readable if _words(ln) not in said]
        shown = [ln for ln in c.split("\n") if ln.startswith("On screen: ")]
        check(f"{i}: content has the on-screen text", all(_words(ln) in _words(c) for ln in readable), c[:400])
        check(f"{i}: content's on-screen line: what is not said already", shown == ([f"On screen: {' | '.join(fresh)}"] if fresh else []),
              (shown, fresh))
        check(f"{i}: content starts with the video title", c.startswith(v.title), c[:80])
        check(f"{i}: content under ~{MAX_WORDS} words", len(c.split()) <= MAX_WORDS + 1, len(c.split()))
        check(f"{i}: content has the description", " ".join(seg.description.split()) in " ".join(c.split()), c[:200])
        lines = [ln for ln in c.split("\n") if ln.strip()]
        check(f"{i}: content does not repeat itself", len(lines) == len(set(lines))
              and " ".join(c.split()).count(" ".join(seg.description.split())) == 1, c[:300])
        if " ".join(seg.dialogue.lower().split()) == " ".join(seg.description.lower().split()):
            check(f"{i}: a dialogue that repeats the description is left out", " ".join(c.split()).count(" ".join(seg.dialogue.split())) == 1, c[:300])
        elif len(seg.dialogue.split()) < 100:
            order = [c.find(seg.description), c.find(seg.dialogue), c.find("Keywords: " + ", ".join(seg.keywords))]
            check(f"{i}: content = title, description, dialogue, keywords", len(v.title) <= order[0] < order[1] < order[2], order)
        else:
            words = c.split()
            check(f"{i}: a long dialogue is cut, its start kept", " ".join(seg.dialogue.split()[:20]) in " ".join(words), c[:300])
    # 8. ids unique (no duplicate keys: checked when loading) and numbered per video
    for name, ns in per_video.items():
        check(f"{name}: one document per segment, numbered 0..n-1", sorted(ns) == list(range(len(videos[name].segments))), sorted(ns))
    check("every exported video has documents", set(per_video) == set(videos), (sorted(per_video), sorted(videos)))

    # 16. pages/: one HTML page per video with title, summary, moments, transcript
    pages = sorted(p.name for p in (folder / "pages").iterdir())
    check("pages: one per video", pages == sorted(f"{n}.html" for n in videos), pages)
    for name, v in videos.items():
        path = folder / "pages" / f"{name}.html"
        if not path.is_file():
            continue
        page = path.read_text(encoding="utf-8")
        check(f"page {name}: html", page.lstrip().lower().startswith("<!doctype html") and page.rstrip().endswith("</html>"))
        check(f"page {name}: title", f"<title>{html.escape(v.title)}</title>" in page and f"<h1>{html.escape(v.title)}</h1>" in page)
        summary = summaries.get(name, "")
        first = summary.split("\n")[0][:60]
        check(f"page {name}: summary", bool(first) and html.escape(first) in page, first)
        for s in v.segments:
            stamp = f"{mss(int(s.start))}–{mss(int(round(s.end)))}"
            check(f"page {name}: moment {stamp}", f'<a class="moment" href="#t={int(s.start)}">{stamp}</a>' in page, stamp)
        check(f"page {name}: no file:// links", "file://" not in page)
        check(f"page {name}: seeks its player to #t=", all(k in page for k in ("hashchange", "currentTime", "location.hash")))
        # The backup server rewrites href="/…" and src="/…" to /backup/{source_id}/…: none may be written.
        check(f"page {name}: no absolute href/src", re.search(r'(href|src)="/', page) is None)
        if name in media:
            check(f"page {name}: plays from media/", re.search(r'<video id="player"[^>]* src="\.\./media/' + re.escape(quote(name)), page)
                  is not None)
        elif v.path.startswith("zim://"):
            check(f"page {name}: plays the ZIM item", f'data-zim="/zim/{zim_source(v.path)}/' in page)
        # the transcript: every window's speech, in order
        positions = [page.find(html.escape(" ".join(s.transcript.split()[:6]))) for s in v.segments if s.transcript]
        check(f"page {name}: transcript", all(p >= 0 for p in positions) and positions == sorted(positions), positions)
    return problems
