"""The per-window output schema, strict validation, and the one-shot repair of bad answers."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from vtdb.errors import VtdbError
from vtdb.workfiles import ANALYSIS_FIELDS

CONFIDENCE = ("high", "medium", "low")

WINDOW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "description": "What is seen and said in this window, 1-3 sentences."},
        "dialogue_translation": {"type": "string", "description": "The speech translated into the output language; empty if none."},
        "keywords": {"type": "array", "items": {"type": "string"}, "maxItems": 12},
        "content_type": {"type": "string"},
        "mood_atmosphere": {"type": "string"},
        "confidence": {"type": "string", "enum": list(CONFIDENCE)},
        "scene_change": {"type": "boolean"},
    },
    "required": list(ANALYSIS_FIELDS),
    "additionalProperties": False,
}

# llama-cpp-python turns the schema into a grammar, which then allows exactly what the schema allows: without
# minLength it lets a small model answer an empty description, which validate() rejects (SmolLM2-135M did so in
# about a third of its answers). Only that dialect gets the extra keyword (the transport's grammar_schema);
# strict json_schema servers get WINDOW_SCHEMA as it is.
GRAMMAR_SCHEMA: dict[str, Any] = copy.deepcopy(WINDOW_SCHEMA)
GRAMMAR_SCHEMA["properties"]["description"]["minLength"] = 1

MAX_TEXT = 4000
MAX_KEYWORDS = 12


class SchemaError(VtdbError, ValueError):
    pass


def validate(obj: Any) -> dict:
    """Return a clean copy of a schema-valid answer, or raise SchemaError saying what is wrong."""
    if not isinstance(obj, dict):
        raise SchemaError(f"answer is a {type(obj).__name__}, not a JSON object")
    missing = [f for f in ANALYSIS_FIELDS if f not in obj]
    if missing:
        raise SchemaError(f"missing fields: {', '.join(missing)}")
    for key in ("description", "dialogue_translation", "content_type", "mood_atmosphere", "confidence"):
        if not isinstance(obj[key], str):
            raise SchemaError(f"{key} must be a string, got {type(obj[key]).__name__}")
    if not isinstance(obj["keywords"], list) or not all(isinstance(k, str) for k in obj["keywords"]):
        raise SchemaError("keywords must be a list of strings")
    if not isinstance(obj["scene_change"], bool):
        raise SchemaError(f"scene_change must be true or false, got {obj['scene_change']!r}")
    if obj["confidence"] not in CONFIDENCE:
        raise SchemaError(f"confidence must be one of {CONFIDENCE}, got {obj['confidence']!r}")
    if not obj["description"].strip():
        raise SchemaError("description is empty")
    return normalize(obj)


def normalize(obj: dict) -> dict:
    keywords: list[str] = []
    for k in obj["keywords"]:
        k = " ".join(k.split()).strip(" .,;#")[:80].strip(" .,;#")
        if k and k.lower() not in {x.lower() for x in keywords}:
            keywords.append(k)
    return {
        # Cut, then strip again: a cut that ends in a space would make normalize() not idempotent.
        "description": obj["description"].strip()[:MAX_TEXT].rstrip(),
        "dialogue_translation": obj["dialogue_translation"].strip()[:MAX_TEXT].rstrip(),
        "keywords": keywords[:MAX_KEYWORDS],
        "content_type": obj["content_type"].strip().lower()[:60].rstrip() or "other",
        "mood_atmosphere": obj["mood_atmosphere"].strip()[:120].rstrip() or "unknown",
        "confidence": obj["confidence"],
        "scene_change": obj["scene_change"],
    }


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json_object(text: str) -> dict | None:
    """The first JSON object in a chatty answer (code fences, prose around it), or None."""
    if not isinstance(text, str):
        return None
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            depth, in_str, escape = 0, False, False
            for i in range(start, len(candidate)):
                ch = candidate[i]
                if in_str:
                    if escape:
                        escape = False
                    elif ch == "\\":
                        escape = True
                    elif ch == '"':
                        in_str = False
                elif ch == '"':
                    in_str = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        try:
                            # strict=False: small models put raw line breaks inside strings.
                            obj = json.loads(candidate[start : i + 1], strict=False)
                        except json.JSONDecodeError:
                            break
                        if isinstance(obj, dict):
                            return obj
                        break
            start = candidate.find("{", start + 1)
    return None


def close_truncated_json(text: str, max_tries: int = 200) -> dict | None:
    """The complete part of a JSON object that was cut off (e.g. at the answer limit), closed; or None.

    Keeps every finished member and a string value cut mid-way; drops a cut key or literal.
    A complete (or over-closed) object is not this function's business: None.
    """
    if not isinstance(text, str):
        return None
    start = text.find("{")
    if start == -1:
        return None
    s = text[start:]
    stack: list[str] = []
    in_str = escape = False
    cuts: list[tuple[str, str]] = []  # (text up to a point where a value is complete, closers needed there)
    for i, ch in enumerate(s):
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
                cuts.append((s[: i + 1], "".join(reversed(stack))))
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            cuts.append((s[: i + 1], "".join(reversed(stack))))
        elif ch in "}]":
            stack.pop()
            if not stack:
                return None
            cuts.append((s[: i + 1], "".join(reversed(stack))))
        elif ch == ",":
            cuts.append((s[:i], "".join(reversed(stack))))
    tail = s[:-1] if escape else s  # a dangling backslash cannot be closed
    cuts.append((tail + ('"' if in_str else ""), "".join(reversed(stack))))
    for head, closers in list(reversed(cuts))[:max_tries]:
        try:
            obj = json.loads(head.rstrip().rstrip(",") + closers, strict=False)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in {"true", "yes", "1", "y"}:
            return True
        if v in {"false", "no", "0", "n", ""}:
            return False
    return None


def repair(text: str) -> tuple[dict | None, list[str]]:
    """Best effort: pull out the JSON object, coerce types, fill defaults, mark confidence low.

    Returns (fields or None when nothing usable was found, notes on what was repaired).
    """
    obj = extract_json_object(text)
    notes: list[str] = []
    if obj is None:
        obj = close_truncated_json(text)
        if obj is None:
            return None, ["no JSON object in the answer"]
        notes.append("the answer was cut off: kept its complete part")
    out: dict[str, Any] = {}
    for key in ("description", "dialogue_translation", "content_type", "mood_atmosphere"):
        value = obj.get(key)
        if isinstance(value, str):
            out[key] = value
        elif value is None:
            out[key] = ""
            notes.append(f"{key} missing")
        elif isinstance(value, list):
            out[key] = " ".join(str(v) for v in value)
            notes.append(f"{key} coerced from list")
        else:
            out[key] = str(value)
            notes.append(f"{key} coerced from {type(value).__name__}")
    keywords = obj.get("keywords")
    if isinstance(keywords, str):
        out["keywords"] = [k for k in re.split(r"[,;\n]", keywords) if k.strip()]
        notes.append("keywords split from a string")
    elif isinstance(keywords, list):
        out["keywords"] = [str(k) for k in keywords if isinstance(k, (str, int, float)) and str(k).strip()]
    else:
        out["keywords"] = []
        notes.append("keywords missing")
    flag = _as_bool(obj.get("scene_change"))
    if flag is None:
        notes.append("scene_change missing or invalid")
    out["scene_change"] = bool(flag)
    out["confidence"] = "low"  # a repaired answer is never trusted more than that
    if not out["description"].strip():
        return None, notes + ["description empty"]
    return normalize(out), notes
