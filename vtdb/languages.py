"""Whisper's language codes, and friendly suggestions for near misses ("rus" -> "ru")."""

from __future__ import annotations

import difflib

from vtdb.text import suggestion

# Same set as faster_whisper.tokenizer._LANGUAGE_CODES (a test keeps them in sync); kept here
# so that validating a config does not import the speech stack.
WHISPER_LANGUAGES: dict[str, str] = {
    "af": "afrikaans", "am": "amharic", "ar": "arabic", "as": "assamese", "az": "azerbaijani",
    "ba": "bashkir", "be": "belarusian", "bg": "bulgarian", "bn": "bengali", "bo": "tibetan",
    "br": "breton", "bs": "bosnian", "ca": "catalan", "cs": "czech", "cy": "welsh", "da": "danish",
    "de": "german", "el": "greek", "en": "english", "es": "spanish", "et": "estonian",
    "eu": "basque", "fa": "persian", "fi": "finnish", "fo": "faroese", "fr": "french",
    "gl": "galician", "gu": "gujarati", "ha": "hausa", "haw": "hawaiian", "he": "hebrew",
    "hi": "hindi", "hr": "croatian", "ht": "haitian creole", "hu": "hungarian", "hy": "armenian",
    "id": "indonesian", "is": "icelandic", "it": "italian", "ja": "japanese", "jw": "javanese",
    "ka": "georgian", "kk": "kazakh", "km": "khmer", "kn": "kannada", "ko": "korean",
    "la": "latin", "lb": "luxembourgish", "ln": "lingala", "lo": "lao", "lt": "lithuanian",
    "lv": "latvian", "mg": "malagasy", "mi": "maori", "mk": "macedonian", "ml": "malayalam",
    "mn": "mongolian", "mr": "marathi", "ms": "malay", "mt": "maltese", "my": "myanmar",
    "ne": "nepali", "nl": "dutch", "nn": "nynorsk", "no": "norwegian", "oc": "occitan",
    "pa": "punjabi", "pl": "polish", "ps": "pashto", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sa": "sanskrit", "sd": "sindhi", "si": "sinhala", "sk": "slovak",
    "sl": "slovenian", "sn": "shona", "so": "somali", "sq": "albanian", "sr": "serbian",
    "su": "sundanese", "sv": "swedish", "sw": "swahili", "ta": "tamil", "te": "telugu",
    "tg": "tajik", "th": "thai", "tk": "turkmen", "tl": "tagalog", "tr": "turkish", "tt": "tatar",
    "uk": "ukrainian", "ur": "urdu", "uz": "uzbek", "vi": "vietnamese", "yi": "yiddish",
    "yo": "yoruba", "zh": "chinese", "yue": "cantonese",
}

# Three-letter ISO 639-2/3 codes people often type instead of Whisper's two-letter ones.
_ISO3 = {
    "rus": "ru", "eng": "en", "kaz": "kk", "ukr": "uk", "deu": "de", "ger": "de", "fra": "fr",
    "fre": "fr", "spa": "es", "ita": "it", "por": "pt", "zho": "zh", "chi": "zh", "jpn": "ja",
    "kor": "ko", "ara": "ar", "tur": "tr", "pol": "pl", "nld": "nl", "dut": "nl", "swe": "sv",
    "fin": "fi", "ces": "cs", "cze": "cs", "ell": "el", "gre": "el", "heb": "he", "hin": "hi",
    "uzb": "uz", "kir": "ky", "tat": "tt", "bak": "ba", "bel": "be", "aze": "az", "hye": "hy",
    "arm": "hy", "kat": "ka", "geo": "ka", "fas": "fa", "per": "fa", "vie": "vi", "tha": "th",
}

# Country codes (and flags' letters) people type for a language: never accepted, only suggested.
_COUNTRY = {
    "kz": "kk", "ua": "uk", "jp": "ja", "cn": "zh", "gr": "el", "se": "sv", "dk": "da", "cz": "cs", "il": "he",
    "ir": "fa", "kr": "ko", "vn": "vi", "by": "be", "ge": "ka", "am": "hy", "rs": "sr", "ee": "et", "us": "en",
    "gb": "en", "uk": "uk", "at": "de", "br": "pt", "mx": "es", "kg": "ky", "tj": "tg", "in": "hi", "pk": "ur",
}

AUTO_VALUES = {"", "auto", "detect"}


def suggest_language(value: str) -> str | None:
    """The Whisper code the user probably meant, or None."""
    text = value.strip().lower().replace("_", "-")
    if text in WHISPER_LANGUAGES:
        return text
    base = text.split("-")[0]  # "ru-RU", "en-us"
    if base in WHISPER_LANGUAGES:
        return base
    if base in _ISO3 and _ISO3[base] in WHISPER_LANGUAGES:
        return _ISO3[base]
    if base in _COUNTRY and _COUNTRY[base] in WHISPER_LANGUAGES:
        return _COUNTRY[base]
    by_name = {name: code for code, name in WHISPER_LANGUAGES.items()}
    if text in by_name:
        return by_name[text]
    close = difflib.get_close_matches(text, list(by_name), n=1, cutoff=0.8)
    return by_name[close[0]] if close else None


def language_of_tag(tag: str) -> str:
    """The Whisper code of a stream's or a file's language tag ("en-US" → en, "ru-orig" → ru, "rus" → ru), ""
    when it names none. Strict (no fuzzy guesses): a tag that is not a language is not one."""
    base = tag.strip().lower().replace("_", "-").split("-")[0]
    if base in WHISPER_LANGUAGES:
        return base
    return _ISO3.get(base, "") if _ISO3.get(base, "") in WHISPER_LANGUAGES else ""


def validate_language(value: object) -> tuple[str | None, str | None]:
    """Return (code or None for auto-detect, error message or None).

    Case and surrounding spaces do not matter: "EN", " en" and "en" all give "en". Anything else
    that is not a Whisper code is an error that suggests the nearest code when there is one.
    Used for config entries and settings and for command-line options alike.
    """
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"must be a Whisper language code string such as 'en' or 'ru', got {type(value).__name__}"
    text = value.strip().lower()
    if text in AUTO_VALUES:
        return None, None
    if text in WHISPER_LANGUAGES:
        return text, None
    hint = suggest_language(value)
    msg = f"{value!r} is not a Whisper language code"
    msg += suggestion([hint]) if hint else "; use a code such as 'en', 'ru' or 'kk', or 'auto' to detect it"
    return None, msg
