"""The facts a KR question or a counterfactual lead changes: numbers, the closed lists of entities (months,
weekdays, countries, nationalities) and ordinals, and how one is changed. Shared by the KR-test's false sentences
(:mod:`fortifai.krtest.generate`) and the counterfactual corpus (:mod:`fortifai.lm.counterfactual`)."""

from __future__ import annotations

import random
import re

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_COUNTRIES = """Afghanistan Albania Algeria Argentina Armenia Australia Austria Bangladesh Belgium Bolivia Brazil
Bulgaria Cambodia Cameroon Canada Chile China Colombia Croatia Cuba Denmark Egypt England Ethiopia Finland France
Germany Ghana Greece Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Jamaica Japan Kenya Korea
Lebanon Libya Malaysia Mexico Mongolia Morocco Nepal Netherlands Nigeria Norway Pakistan Peru Philippines Poland
Portugal Romania Russia Scotland Serbia Singapore Somalia Spain Sudan Sweden Switzerland Syria Taiwan Tanzania
Thailand Tunisia Turkey Uganda Ukraine Venezuela Vietnam Wales Yemen Zimbabwe""".split()
_NATIONALITIES = """African American Arab Argentine Armenian Asian Australian Austrian Belgian Brazilian British Canadian
Chinese Cuban Danish Dutch Egyptian English European Finnish French German Greek Hungarian Indian Indonesian Iranian
Irish Israeli Italian Japanese Korean Mexican Norwegian Persian Polish Portuguese Roman Russian Scottish Spanish
Swedish Swiss Turkish Ukrainian Vietnamese Welsh""".split()
ENTITY_LISTS = {"month": _MONTHS, "weekday": _WEEKDAYS, "country": _COUNTRIES, "nationality": _NATIONALITIES}
ENTITY_OF = {name: kind for kind, names in ENTITY_LISTS.items() for name in names}

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w/]|[.,]\d|-\d|–\d)")


def match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def changed_number(text: str, rng: random.Random) -> str | None:
    digits = text.replace(",", "")
    if "." in digits:  # change the last decimal
        head, _, tail = digits.rpartition(".")
        last = int(tail[-1])
        new_last = rng.choice([d for d in range(10) if d != last and (d or len(tail) == 1)])
        return f"{head}.{tail[:-1]}{new_last}"
    value = int(digits)
    if value < 13:
        new = rng.choice([v for v in range(2, 13) if v != value])
    else:
        magnitude = 10 ** max(len(digits) - 2, 0)  # keep the two leading digits' scale
        candidates = [v for v in (round(value * f / magnitude) * magnitude for f in (0.5, 0.6, 0.7, 0.8, 1.25, 1.5, 1.75, 2.0))
                      if v != value and v > 0]
        new = rng.choice(candidates)
    return f"{new:,}" if "," in text else str(new)
