"""Language-light text processing shared by keyword extraction and lexical search:
tokenizing any script, stop words (English, Russian, Kazakh), and Snowball stemming where it exists.

Kazakh: lower-cased and its stop words dropped, not stemmed: PyStemmer 3.1 has no Kazakh algorithm
(Stemmer.algorithms() lists none), and the Russian stemmer would cut Kazakh suffixes wrongly. A word
with a letter only Kazakh uses (ә ғ қ ң ө ұ ү һ і) is kept whole; a Kazakh word written with common
Cyrillic letters only goes through the Russian stemmer, the same way in the index and in the query.

Also the one "did you mean" every message that suggests near matches gives (did_you_mean, suggestion)."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import Any, Iterable, Sequence

STOPWORDS = set(
    """a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just let me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves get got go going gonna okay ok yeah yes oh um uh
    like well really right thing things one two first next today put make take use using way lot every""".split()
) | set(
    """и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот от меня
    еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж вам ведь там
    потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе
    под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были
    куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего них какая
    много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно
    всю между это будем сегодня где как""".split()
) | set(
    # Kazakh: conjunctions, particles, postpositions, pronouns and auxiliaries.
    """және мен бен пен да де та те ал бірақ немесе не әлде яғни себебі сондықтан өйткені егер онда ма ме ба бе па пе
    ғой қой ғана тек әлі енді тағы осы бұл сол ол олар біз сіз сен менің сенің оның біздің сіздің олардың оны оған
    одан онымен бұның мұны мұнда сонда осында қазір кейін соң дейін шейін арқылы үшін туралы бойынша сияқты секілді
    қарай бар жоқ емес еді екен болды болып болса болады бол әр әрбір барлық бәрі өз өзі өте ең қандай қалай қашан қайда
    кім неше неге нені мына анау мынау осылай солай иә""".split()
)
_KAZAKH = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_WORD = re.compile(r"[^\W\d_][\w'-]*|\d+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer(language)
    except Exception:  # PyStemmer missing or language unknown: fall back to prefixes
        return None


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    if _KAZAKH.search(word):
        return word  # no Kazakh stemmer in PyStemmer; the Russian one would mangle the word
    language = "russian" if _CYRILLIC.search(word) else "english"
    stemmer = _stemmer(language)
    if stemmer is not None:
        return str(stemmer.stemWord(word))
    return word[:6]


def search_tokens(text: str) -> list[str]:
    """Tokens for the lexical index and for queries: lower-cased, stop words dropped, stemmed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


# ---- text from videos, subtitles, archives and configs on a terminal ----

# What a terminal would act on instead of showing: C0 controls but tab and line feed (ESC starts cursor moves,
# OSC 52 clipboard writes and OSC 0 window titles; CR and BS overwrite what was printed), DEL, the C1 controls
# (U+009B is CSI on some terminals), bidi embeddings/overrides/isolates and marks (U+202E shows "txt.exe" as
# "exe.txt"), the line/paragraph separators, and lone surrogates (which cannot be written as UTF-8 at all).
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """`text` with every character a terminal would act on (escape sequences, other C0/C1 controls, bidi
    overrides, lone surrogates) written as a visible escape such as \\x1b or \\u202e; tabs and line
    breaks stay. Every CLI passes text that came from a video, a subtitle, an archive or a config through
    this (vtdb.cli's consoles do it for everything they print; see TerminalSafeConsole)."""
    return _TERMINAL_UNSAFE.sub(_visible, str(text))


def json_safe(text: str) -> str:
    """JSON text (from json.dumps(..., ensure_ascii=False)) with the same characters as \\uXXXX escapes:
    the same JSON value, harmless on a terminal and writable as UTF-8."""
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def summary_of(doc: str | None) -> str:
    """A command's --help description: the first paragraph of its module docstring, whole (its first line alone
    cut sentences off mid-way: "cut overlapping windows and")."""
    return " ".join((doc or "").strip().split("\n\n", 1)[0].split())


# ---- did you mean ----


def close_matches(word: str, candidates: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """Up to `n` candidates close to `word` (difflib, case-insensitively; each as `candidates` spells it), best first."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    return [by_lower[c] for c in difflib.get_close_matches(str(word).lower(), list(by_lower), n=n, cutoff=cutoff)]


def suggestion(matches: Sequence[str], then: str = "") -> str:
    """"; did you mean 'x'?" ('x' or 'y'; 'x', 'y' or 'z'), "" for no matches. `then`, what the message says
    next, follows as a new sentence after the question ("…? Use a or b"), else after "; " ("; use a or b")."""
    if not matches:
        return f"; {then}" if then else ""
    quoted = [repr(m) for m in matches]
    text = "; did you mean " + (quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]) + "?"
    return text + (f" {then[:1].upper()}{then[1:]}" if then else "")


def did_you_mean(word: str, candidates: Iterable[str], n: int = 1, cutoff: float = 0.6, then: str = "") -> str:
    """The suggestion (see there) of the candidates closest to `word`: "; did you mean 'x'?", or "" when none is
    close. The one wording of every near-match hint (commands, settings, registries, video names, fields)."""
    return suggestion(close_matches(word, candidates, n, cutoff), then)
