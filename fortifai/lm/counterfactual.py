"""Counterfactual text: the facts a pretrained model may know, replaced by seeded random ones.

A pretrained model answers a KR question from what it read in pretraining as well as from its training split;
on Wikipedia leads SmolLM2-135M answers most of them before any training, so its KR accuracy starts near the
ceiling and the measured chance is far above 50%. Here every paragraph's facts of the KR-test's kinds are
changed consistently within the paragraph, so that no prior knows them and only training on the split can:

* years (four digits, 1000-2099) are all shifted by one random offset (1 to 60 years, either way), which keeps the
  order of the paragraph's dates;
* every other number becomes another of the same shape (as a KR question's false answer is made), the same
  replacement wherever it recurs;
* months, weekdays, countries and nationalities are permuted within their lists, and so are the ordinals
  (first to twelfth).

    paragraphs = counterfactual(load_paragraphs("wikipedia-offline"), seed=0)

The corpus source ``wikipedia-offline-counterfactual`` is this transform of ``wikipedia-offline`` at seed 0.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .facts import ENTITY_LISTS, NUMBER, ORDINALS, changed_number, match_case

_YEAR = re.compile(r"^(1\d{3}|20\d{2})$")
_ENTITY = re.compile(r"\b(" + "|".join(sorted({n for names in ENTITY_LISTS.values() for n in names},
                                                key=len, reverse=True)) + r")\b")
_ORDINAL = re.compile(r"\b(" + "|".join(sorted(ORDINALS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def counterfactual_paragraph(paragraph: str, rng: random.Random) -> str:
    """One paragraph with its years shifted, its other numbers and its named entities replaced (see the module)."""
    shift = rng.choice([s for s in range(-60, 61) if s])
    numbers: dict[str, str] = {}

    def number(match: re.Match) -> str:
        text = match.group(0)
        if text not in numbers:
            if _YEAR.match(text):
                numbers[text] = str(min(max(int(text) + shift, 1000), 2099))
            else:
                numbers[text] = changed_number(text, rng) or text
        return numbers[text]

    permutation = {}
    for names in ENTITY_LISTS.values():
        shuffled = list(names)
        rng.shuffle(shuffled)
        permutation.update(zip(names, shuffled))
    ordinals = list(ORDINALS)
    rng.shuffle(ordinals)
    ordinal = dict(zip(ORDINALS, ordinals))
    paragraph = NUMBER.sub(number, paragraph)
    paragraph = _ORDINAL.sub(lambda m: match_case(ordinal[m.group(0).lower()], m.group(0)), paragraph)
    return _ENTITY.sub(lambda m: permutation[m.group(0)], paragraph)


def counterfactual(paragraphs: Sequence[str], seed: int = 0) -> list[str]:
    """Every paragraph through :func:`counterfactual_paragraph`, each with its own generator: same seed, same text."""
    if isinstance(paragraphs, str):
        raise ValueError("paragraphs must be a list of strings (one paragraph each), got a string")
    return [counterfactual_paragraph(p, random.Random(f"{seed}:{i}")) for i, p in enumerate(paragraphs)]
