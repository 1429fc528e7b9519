"""Content types that can say "don't know" (issue 24): how the transcript analyzer's labels fall on known text.

    python bench/content_types.py

For each text: the label nearest by the default embedder, its lead over the runner-up, how many standard
deviations it stands above the other labels, and what the analyzer now says (`nearest_label`: a label only when
it is clearly the nearest, else "other"). Texts: every scene of the demo library (its own language: the analyzer
embeds the speech, or its English translation where there is one) with the label a person would give, topical
lines for other labels, and off-topic lines where "other" is the right answer (Whisper's stock phrases on
silence, voice commands from tests/data/speech, the empty-window text). Prints a table and the accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _common import loadavg, speech_rows  # noqa: E402

from vtdb.analyzers.transcript import nearest_label  # noqa: E402
from vtdb.config import Settings  # noqa: E402
from vtdb.demo import DEMO_VIDEOS  # noqa: E402
from vtdb.embedders import load_embedder  # noqa: E402

DEMO_LABELS = {"cooking_pasta": "cooking", "bicycle_repair": "repair", "russian_tea": "cooking", "russian_garden": "nature"}
TOPICAL = [
    ("news", "The government announced today that the elections will take place in March, the minister said in a statement."),
    ("sports", "The striker scored in the ninetieth minute and the team won the championship final two to one."),
    ("lecture", "In today's lecture we derive the equations of motion from Newton's second law and solve them."),
    ("interview", "Thank you for joining us. Tell me, when did you first decide to become a doctor? I was twelve."),
]
OFF_TOPIC = ["Thank you very much.", "Thanks for watching!", "Hello.", "pause", "No speech in this window.",
             "What is the weather in Moscow? You turn on the starting lamp. What is today's hour?"]


def main() -> None:
    settings = Settings()
    labels = list(settings.content_types)
    embedder = load_embedder(settings.embedder)
    label_vectors = embedder.embed_queries([f"a {label} video" for label in labels])
    cases = [(DEMO_LABELS.get(v.name, "?"), f"demo {v.name}", s.text) for v in DEMO_VIDEOS for s in v.scenes if s.text]
    cases += [(want, "topical", text) for want, text in TOPICAL]
    commands = " ".join(text for _, text in speech_rows("en")[:6])
    cases += [("other", "off-topic", text) for text in [*OFF_TOPIC, commands]]
    vectors = embedder.embed_passages([text for _, _, text in cases])
    right = right_before = 0
    print(f"load {loadavg()}; {len(labels)} labels; embedder {settings.embedder}")
    print("| want | got | nearest | lead | deviations | source | text |\n|---|---|---|---|---|---|---|")
    for (want, source, text), vector in zip(cases, vectors):
        scores = label_vectors @ vector
        order = np.argsort(-scores)
        rest = np.delete(scores, order[0])
        got = nearest_label(scores, labels)
        right += got == want
        right_before += labels[order[0]] == want  # before issue 24: always the nearest label
        print(f"| {want} | {got} | {labels[order[0]]} | {scores[order[0]] - scores[order[1]]:.3f} | "
              f"{(scores[order[0]] - rest.mean()) / rest.std():.1f} | {source} | {text[:48]} |")
    print(f"\nright {right} of {len(cases)} (a person's label, or other for off-topic text); "
          f"always the nearest label (before): {right_before}")


if __name__ == "__main__":
    main()
