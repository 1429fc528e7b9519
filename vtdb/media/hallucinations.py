"""Speech Whisper likely invented: the reason a decoded segment is not to be indexed as plain speech.

Whisper writes text where there is none (silence, noise, music, a fraction of a word): its loops, its stock
phrases ("Thank you very much.", "Thanks for watching!", subtitle credits learnt from film subtitles), and
more words than the audio under them could hold. A flagged segment stays in the Phase 1 pickle with its
reason, and stays out of the searchable transcript (docs/PHASES.md, Phase 1). Real speech must pass: every rule but
the credits needs a second sign of invention besides the words themselves.
"""

from __future__ import annotations

import re
from typing import Sequence

# Whisper's own thresholds (its temperature fallback): a segment that compresses this well repeats itself;
# one decoded with this little confidence where it thinks there is no speech is invented.
MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.0
MAX_NO_SPEECH_PROB = 0.6
REPEAT_LOOKBACK = 4
# Letters per second of speech (VAD) that no speaker reaches: real speech measured 13-26 (en, de, es, fr).
MAX_LETTERS_PER_S = 40.0
MIN_LETTERS = 12
# A stock phrase is flagged with one of these signs: a word Whisper barely believed, doubtful audio, or
# speech too short for it.
STOCK_MIN_WORD_P = 0.3
STOCK_NO_SPEECH_P = 0.3
STOCK_LETTERS_PER_S = 28.0

# What Whisper is known to write over silence, noise and music, in the languages it was trained on most
# (normalized: lower case, letters and digits, single spaces). Matched against a whole segment.
STOCK_PHRASES = frozenset("""
you
thank you
thank you so much
thank you very much
thanks
thanks for watching
thank you for watching
thank you for watching and see you next time
thanks for watching and see you next time
please subscribe
please subscribe to my channel
subscribe to my channel
like and subscribe
dont forget to like and subscribe
see you next time
see you in the next video
bye
bye bye
so
music
applause
silence
blank audio
vielen dank
danke
danke schön
danke fürs zuschauen
vielen dank fürs zuschauen
bis zum nächsten mal
tschüss
gracias
muchas gracias
gracias por ver
gracias por ver el video
suscríbete
merci
merci beaucoup
merci davoir regardé
merci de votre attention
à bientôt
grazie
grazie mille
grazie per la visione
obrigado
obrigada
спасибо
спасибо за просмотр
спасибо за внимание
продолжение следует
подписывайтесь на канал
до свидания
рахмет
ご視聴ありがとうございました
视频就到这里
谢谢观看
시청해주셔서 감사합니다
""".strip().splitlines())

# Subtitle credits (Whisper learnt them from film subtitles): never speech, wherever they appear in a segment.
# Only in a short segment (a credit line, not a sentence that mentions subtitles).
CREDIT_PATTERNS = re.compile(
    r"amara\s*\.?\s*org|^\W*(subtitles|subtitled|captions|closed captioning) by|untertitel (im auftrag|von|der)"
    r"|sous-titr(es|age) (réalisés|par|fait)|subtítulos (realizados|por|hechos)|sottotitoli (creati|a cura)"
    r"|legendas (pela|por)|редактор субтитров|субтитры (сделал|подготовил|создавал)|字幕(由|提供|製作|制作)",
    re.IGNORECASE,
)
CREDIT_MAX_WORDS = 12


def normalized(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def hallucination(text: str, *, speech_s: float | None, word_probabilities: Sequence[float] = (),
                  avg_logprob: float = 0.0, no_speech_prob: float = 0.0, compression_ratio: float = 0.0,
                  recent: Sequence[str] = ()) -> str:
    """Why this decoded segment is likely invented ("" when it is taken as speech).

    speech_s: seconds of speech (VAD) under it, None when unknown; recent: the normalized texts of the last
    segments kept over the same stretch of audio (a loop repeats them)."""
    plain = normalized(text)
    if not plain:
        return "no words (only symbols or punctuation)"
    if compression_ratio > MAX_COMPRESSION_RATIO:
        return f"repeats itself (compression ratio {compression_ratio:.1f})"
    if avg_logprob < MIN_AVG_LOGPROB and no_speech_prob > MAX_NO_SPEECH_PROB:
        return f"decoded over likely silence (no-speech p={no_speech_prob:.2f}, avg log-p={avg_logprob:.2f})"
    if plain in recent[-REPEAT_LOOKBACK:]:
        return "repeats the sentence before it over the same audio"
    if CREDIT_PATTERNS.search(text) and len(plain.split()) <= CREDIT_MAX_WORDS:
        return "a subtitle credit"
    count = letters(text)
    rate = count / max(speech_s, 0.05) if speech_s is not None else 0.0
    if count >= MIN_LETTERS and rate > MAX_LETTERS_PER_S:
        return f"more words than its {speech_s:.1f} s of speech could hold ({rate:.0f} letters/s)"
    if plain in STOCK_PHRASES:
        signs = []
        if word_probabilities and min(word_probabilities) < STOCK_MIN_WORD_P:
            signs.append(f"a word at p={min(word_probabilities):.2f}")
        if no_speech_prob > STOCK_NO_SPEECH_P:
            signs.append(f"no-speech p={no_speech_prob:.2f}")
        if avg_logprob < MIN_AVG_LOGPROB:
            signs.append(f"avg log-p={avg_logprob:.2f}")
        if speech_s is not None and rate > STOCK_LETTERS_PER_S:
            signs.append(f"{speech_s:.1f} s of speech")
        if signs:
            return f"a phrase Whisper writes over silence and noise ({', '.join(signs)})"
    return ""
