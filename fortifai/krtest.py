"""The Knowledge Retention test (KR-test, Sec. 4.2.1 and Appendix B of the paper): format, generator, scorer, statistics.

A KR question is a ``context``, a true continuation and a false one that differs in a key fact; the model
answers correctly when it gives the true continuation the higher log-probability. The file format is the
authors' release: a JSON list of objects

    {"context": "...", "sentence_true": "...", "sentence_false": "...", "location": 51}

(``location``: index of the paragraph of the source text the question was made from). Our generator adds
``kind`` (what was changed) and ``change`` (``start``, ``true``, ``false``: the character offset in the true
sentence and the two spans); other keys are kept as they are.

    questions = generate_questions(paragraphs, per_paragraph=5, seed=0)     # offline, rule based
    write_questions(questions, "kr.json"); questions = load_questions("kr.json")
    scores = score_questions(model, tokenizer, questions)                   # (n, 2): [true, false]
    correct = scores[:, 0] > scores[:, 1]
    report = accuracy_report(correct, [q.location for q in questions], n_splits=3)
    mcnemar(correct_a, correct_b)                                           # two models, same questions
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

REQUIRED_FIELDS = ("context", "sentence_true", "sentence_false", "location")
KINDS = ("number", "year", "entity", "ordinal", "antonym", "negation")
# what the generator makes unless told: measured on text a model never trained on (the committed cpu-tier runs,
# M0 on its unseen splits), an antonym swap is answered right 64-71% of the time from word frequency alone and
# an added "not" 14-49% (a model that likes the extra token); both are left out. Numbers, years, entities and
# ordinals were within 45-62% for the scratch model. A pretrained model knows many of the facts of Wikipedia
# text, so its chance is far above 50%: it is measured per run (kr_chance, shown by kind in the results chapter).
DEFAULT_KINDS = ("number", "year", "entity", "ordinal")
NORMALIZATIONS = ("mean", "first_k")
SHARINGS = ("tree", "none")


class KRFormatError(ValueError):
    """A KR-test file or list that does not follow the format."""


@dataclass
class KRQuestion:
    context: str
    sentence_true: str
    sentence_false: str
    location: int
    kind: str | None = None
    change: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other keys of the file, written back as they were

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {**out, **self.extra}


# ---------------------------------------------------------------------------------------------------- format

DUPLICATES = ("error", "keep", "drop")


class KRQuestions(list):
    """A list of :class:`KRQuestion` that also tells how many repeated questions it met (``duplicates``)."""

    duplicates: int = 0


def validate_questions(items: Any, duplicates: str = "error") -> KRQuestions:
    """Check a list of question dicts (or :class:`KRQuestion`) and return them as :class:`KRQuestion`.

    Raises :class:`KRFormatError` naming the item and the field: not a list, missing field, empty text,
    a location that is not an int >= 0, or true equal to false. A question repeated (same context, true and
    false sentence) is, by ``duplicates``: an ``"error"``, kept (``"keep"``, scored as often as it occurs) or
    dropped (``"drop"``, first occurrence kept); the returned list's ``.duplicates`` counts the repeats.
    """
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, got {duplicates!r}")
    if not isinstance(items, (list, tuple)):
        raise KRFormatError(f"KR questions must be a JSON list of objects, got {type(items).__name__}")
    out, seen, repeats = KRQuestions(), {}, 0
    for i, item in enumerate(items):
        if isinstance(item, KRQuestion):
            item = item.to_dict()
        if not isinstance(item, dict):
            raise KRFormatError(f"question {i}: must be an object with {', '.join(REQUIRED_FIELDS)}, got {type(item).__name__}")
        missing = [f for f in REQUIRED_FIELDS if f not in item]
        if missing:
            raise KRFormatError(f"question {i}: missing field(s) {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)})")
        for name in REQUIRED_FIELDS[:3]:
            if not isinstance(item[name], str) or not item[name].strip():
                raise KRFormatError(f"question {i}: field {name!r} must be a non-empty string, got {item[name]!r}")
        location = item["location"]
        if isinstance(location, bool) or not isinstance(location, int) or location < 0:
            raise KRFormatError(f"question {i}: field 'location' must be an int >= 0, got {location!r}")
        if item["sentence_true"].strip() == item["sentence_false"].strip():
            raise KRFormatError(f"question {i}: 'sentence_true' and 'sentence_false' are the same text")
        key = (item["context"].strip(), item["sentence_true"].strip(), item["sentence_false"].strip())
        if key in seen:
            if duplicates == "error":
                raise KRFormatError(f"question {i}: duplicate of question {seen[key]} (same context, true and false "
                                    "sentence); load with duplicates='keep' or 'drop'")
            repeats += 1
            if duplicates == "drop":
                continue
        seen.setdefault(key, i)
        extra = {k: v for k, v in item.items() if k not in REQUIRED_FIELDS + ("kind", "change")}
        out.append(KRQuestion(item["context"], item["sentence_true"], item["sentence_false"], location,
                              item.get("kind"), item.get("change"), extra))
    out.duplicates = repeats
    return out


def load_questions(path: str | os.PathLike, duplicates: str = "keep") -> KRQuestions:
    """Read and validate a KR-test JSON file (the authors' format; extra keys are kept).

    The authors' released files repeat questions (their WikiText file holds each several times); by default
    they are kept, as the authors scored them; ``duplicates="drop"`` keeps each once, ``"error"`` refuses the
    file. The result's ``.duplicates`` says how many repeats there were.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KR-test file not found: {path}")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise KRFormatError(f"{path}: not valid JSON ({err})") from None
    return validate_questions(items, duplicates)


def write_questions(questions: Iterable[KRQuestion | dict], path: str | os.PathLike) -> Path:
    """Validate and write questions as an indented JSON list (atomically)."""
    from .results import atomic_path

    questions = validate_questions(list(questions))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps([q.to_dict() for q in questions], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- generator

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "no", "inc", "co", "ltd", "mt", "ft", "gen", "col",
                  "lt", "sgt", "capt", "gov", "sen", "rev", "prof", "e.g", "i.e", "etc", "approx", "c", "ca", "u.s",
                  "u.k", "fig", "vol", "pp", "jan", "feb", "aug", "sept", "oct", "nov", "dec", "est", "b", "d"}
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences at ``. ! ?`` followed by a capital, except after abbreviations/initials."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start:match.start() + 1]
        last_word = before.rsplit(None, 1)[-1].rstrip(".").lower() if before.split() else ""
        if paragraph[match.start()] == "." and (last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)
                                                 or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last_word)):
            continue
        sentences.append(paragraph[start:match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


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
_LANGUAGES = """Arabic Bengali Chinese English French German Greek Hebrew Hindi Italian Japanese Korean Latin Persian
Portuguese Russian Sanskrit Spanish Turkish""".split()
_ENTITY_LISTS = {"month": _MONTHS, "weekday": _WEEKDAYS, "country": _COUNTRIES, "nationality": _NATIONALITIES}
_ENTITY_OF = {name: kind for kind, names in _ENTITY_LISTS.items() for name in names}

_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth"]
_NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_ANTONYM_PAIRS = [
    ("largest", "smallest"), ("larger", "smaller"), ("large", "small"), ("highest", "lowest"), ("higher", "lower"),
    ("longest", "shortest"), ("longer", "shorter"), ("oldest", "youngest"), ("older", "younger"),
    ("earliest", "latest"), ("earlier", "later"), ("early", "late"), ("before", "after"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("northeast", "southwest"),
    ("northwest", "southeast"), ("increase", "decrease"), ("increased", "decreased"), ("increasing", "decreasing"),
    ("more", "fewer"), ("most", "least"), ("maximum", "minimum"), ("major", "minor"), ("majority", "minority"),
    ("positive", "negative"), ("success", "failure"), ("successful", "unsuccessful"), ("won", "lost"),
    ("win", "lose"), ("ancient", "modern"), ("male", "female"), ("men", "women"), ("upper", "lower"),
    ("inner", "outer"), ("private", "public"), ("internal", "external"), ("best", "worst"), ("better", "worse"),
    ("strong", "weak"), ("strongest", "weakest"), ("rich", "poor"), ("wet", "dry"), ("hot", "cold"),
    ("warm", "cool"), ("light", "dark"), ("right", "left"), ("above", "below"), ("inside", "outside"),
    ("accepted", "rejected"), ("allowed", "forbidden"), ("legal", "illegal"), ("common", "rare"),
    ("popular", "unpopular"), ("wide", "narrow"), ("deep", "shallow"), ("heavy", "light"), ("fast", "slow"),
    ("rural", "urban"), ("domestic", "foreign"), ("born", "died"), ("began", "ended"), ("start", "end"),
    ("opened", "closed"), ("rise", "fall"), ("rose", "fell"), ("gained", "lost"), ("supported", "opposed"),
    ("agreed", "refused"), ("always", "never"),
]
_ANTONYM_OF = {**{a: b for a, b in _ANTONYM_PAIRS}, **{b: a for a, b in _ANTONYM_PAIRS}}
_AUXILIARIES = ("is", "was", "are", "were", "has", "have", "had", "can", "could", "will", "would", "does", "did",
                "should", "may", "might", "must")
_ENTITY_BLOCK = set(_ORDINALS) | {"The", "A", "An", "In", "On", "At", "Of", "And", "But", "It", "He", "She", "They",
                                  "This", "That", "These", "Those", "His", "Her", "Its", "Their", "I", "We", "As"}

# words too common before a name to say what kind of name follows ("the Tibetan Plateau", "the Manhattan Project")
_GENERIC_CUES = {"the", "a", "an", "of", "and", "or", "in", "on", "at", "to", "from", "for", "as", "into", "its",
                 "his", "her", "their", "that", "which", "is", "was", "are", "were", "also", "between", "both"}

_NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w/]|[.,]\d|-\d|–\d)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_NAME = re.compile(r"(?<=[a-z,] )([A-Z][a-z]+(?: [A-Z][a-z]+){1,2})(?![\w'-])")


@dataclass(frozen=True)
class _Change:
    kind: str
    start: int
    true: str
    false: str

    def apply(self, sentence: str) -> str:
        return sentence[:self.start] + self.false + sentence[self.start + len(self.true):]


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _changed_number(text: str, rng: random.Random) -> str | None:
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


def _number_changes(sentence: str, rng: random.Random) -> list[_Change]:
    changes = []
    for m in _NUMBER.finditer(sentence):
        text = m.group(1)
        if re.fullmatch(r"1\d{3}|20[0-3]\d", text):  # a year
            year = int(text)
            new = year + rng.choice([d for d in range(-12, 13) if d and year + d <= 2025])
            changes.append(_Change("year", m.start(1), text, str(new)))
        else:
            new = _changed_number(text, rng)
            if new and new != text:
                changes.append(_Change("number", m.start(1), text, new))
    for m in _WORD.finditer(sentence):
        word = m.group(0)
        if word.lower() in _NUMBER_WORDS:
            new = rng.choice([w for w in _NUMBER_WORDS if w != word.lower()])
            changes.append(_Change("number", m.start(), word, _match_case(new, word)))
    return changes


def _word_changes(sentence: str, rng: random.Random) -> list[_Change]:
    changes = []
    words = list(_WORD.finditer(sentence))
    for j, m in enumerate(words):
        word, lower = m.group(0), m.group(0).lower()
        if lower in _ORDINALS:
            i = _ORDINALS.index(lower)
            new = _ORDINALS[i + 1] if i == 0 else _ORDINALS[i + rng.choice([-1, 1])] if i + 1 < len(_ORDINALS) else _ORDINALS[i - 1]
            changes.append(_Change("ordinal", m.start(), word, _match_case(new, word)))
        elif lower in _ANTONYM_OF:
            if not re.search(rf"\b{_ANTONYM_OF[lower]}\b", sentence, re.I):  # not "small and small"
                changes.append(_Change("antonym", m.start(), word, _match_case(_ANTONYM_OF[lower], word)))
        elif word in _AUXILIARIES and 0 < j < len(words) - 1 and words[j - 1].group(0) not in _AUXILIARIES:
            nxt = words[j + 1]
            if nxt.group(0) == "not" and sentence[m.end():nxt.start()] == " ":  # "was not built" -> "was built"
                changes.append(_Change("negation", m.start(), sentence[m.start():nxt.end()], word))
            elif sentence[m.end():nxt.start()] == " " and _negatable(word, nxt.group(0)):
                changes.append(_Change("negation", m.start(), word, "cannot" if word == "can" else word + " not"))
    return changes


def _negatable(auxiliary: str, following: str) -> bool:
    """Whether ``auxiliary following`` takes a ``not`` in between and stays grammatical."""
    if following == "been":
        return auxiliary in ("has", "have", "had")
    if not following.islower() or following in ("also", "only", "not", "to", "a", "an", "the"):
        return False
    if auxiliary in ("has", "have", "had"):  # perfect tenses only: "has been", "had won"; not "has two"
        return following.endswith(("ed", "en", "wn", "ght", "ne", "un", "ung"))
    if auxiliary in ("does", "did"):
        return not following.endswith(("s", "ed"))
    return True


def entity_inventory(paragraphs: Iterable[str]) -> dict[str, list[str]]:
    """Named entities of the corpus by kind, for same-kind swaps (sorted, so generation is deterministic).

    Kinds: ``month``, ``weekday``, ``country``, ``nationality`` (small gazetteers, kept when they occur in the
    corpus) and ``name:<w>:<n>``: capitalised phrases of ``n`` words (2-3, not sentence-initial) that follow the
    lower-case word ``w`` (``producer Rick Rubin`` -> ``name:producer:2``), a cheap stand-in for an entity type
    (words like ``the`` or ``of`` say too little and are not used as cues).
    """
    found: dict[str, set[str]] = defaultdict(set)
    for paragraph in paragraphs:
        for m in _WORD.finditer(paragraph):
            kind = _ENTITY_OF.get(m.group(0))
            if kind:
                found[kind].add(m.group(0))
        for m in _NAME.finditer(paragraph):
            phrase = m.group(1)
            if not any(w in _ENTITY_BLOCK or w in _ENTITY_OF for w in phrase.split()):
                prev = paragraph[:m.start(1)].split()
                if prev and prev[-1].isalpha() and prev[-1].islower() and prev[-1] not in _GENERIC_CUES:
                    found[f"name:{prev[-1]}:{len(phrase.split())}"].add(phrase)
    return {kind: sorted(names) for kind, names in sorted(found.items()) if len(names) >= 2}


def _entity_changes(sentence: str, inventory: dict[str, list[str]], rng: random.Random) -> list[_Change]:
    changes = []
    for m in _WORD.finditer(sentence):
        kind = _ENTITY_OF.get(m.group(0))
        if kind and m.start() > 0:
            options = [e for e in inventory.get(kind, ()) if e != m.group(0) and e not in sentence]
            if options:
                changes.append(_Change("entity", m.start(), m.group(0), rng.choice(options)))
    for m in _NAME.finditer(sentence):
        phrase = m.group(1)
        prev = sentence[:m.start(1)].split()
        if any(w in _ENTITY_BLOCK or w in _ENTITY_OF for w in phrase.split()) or not prev:
            continue
        options = [e for e in inventory.get(f"name:{prev[-1]}:{len(phrase.split())}", ())
                   if e != phrase and not set(e.split()) & set(sentence.split())]
        if options:
            changes.append(_Change("entity", m.start(1), phrase, rng.choice(options)))
    return changes


def candidate_changes(sentence: str, inventory: dict[str, list[str]], rng: random.Random,
                      kinds: Sequence[str] = KINDS) -> list[_Change]:
    """Every one-fact change the generator could make to ``sentence``, of the allowed ``kinds``."""
    changes = _number_changes(sentence, rng) + _word_changes(sentence, rng) + _entity_changes(sentence, inventory, rng)
    return [c for c in changes if c.kind in kinds and c.true != c.false]


def generate_questions(paragraphs: Sequence[str], per_paragraph: int = 5, seed: int = 0,
                       locations: Sequence[int] | None = None, kinds: Sequence[str] = DEFAULT_KINDS,
                       inventory: dict[str, list[str]] | None = None, max_context_sentences: int = 3,
                       min_words: int = 6, max_words: int = 60) -> list[KRQuestion]:
    """KR questions from complete paragraphs, ``per_paragraph`` at most from each (5 in the paper).

    For sentence ``i >= 1`` of a paragraph the context is the paragraph's first sentence (which names the subject)
    followed by up to ``max_context_sentences - 1`` sentences just before ``i``; the true continuation is
    sentence ``i`` and the false one is sentence ``i`` with one key fact changed (:data:`KINDS`: a number, a year,
    a named entity swapped for another of the same kind from ``inventory`` (default: from ``paragraphs``),
    an ordinal, a word from a small antonym list, or a negation added or removed; by default the first four,
    :data:`DEFAULT_KINDS`, whose chance level stays nearer 50%). Sentences are used
    round-robin so that a paragraph's questions cover different sentences first; within a sentence the kind of
    change is the one of those possible that the set has fewest of so far (ties drawn at random), then the place
    is drawn: negations and antonyms fit almost any sentence, numbers and years do not, and without this
    balance they would crowd out the facts. Sentences with no possible change are skipped, never faked.
    ``locations[j]`` is recorded for ``paragraphs[j]`` (default ``j``). Same ``seed``, same questions.
    """
    if isinstance(paragraphs, str) or not all(isinstance(p, str) for p in paragraphs):
        raise ValueError("paragraphs must be a list of strings (one paragraph each)")
    if not isinstance(per_paragraph, int) or isinstance(per_paragraph, bool) or per_paragraph < 1:
        raise ValueError(f"per_paragraph must be an int >= 1, got {per_paragraph!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {list(kinds)!r}")
    if locations is None:
        locations = range(len(paragraphs))
    elif len(locations) != len(paragraphs):
        raise ValueError(f"locations must have one entry per paragraph ({len(paragraphs)}), got {len(locations)}")
    if inventory is None:
        inventory = entity_inventory(paragraphs)
    questions, seen, made_by_kind = [], set(), dict.fromkeys(KINDS, 0)
    for paragraph, location in zip(paragraphs, locations):
        rng = random.Random(f"{seed}:{location}:{paragraph[:64]}")
        sentences = split_sentences(paragraph)
        per_sentence = []
        for i in range(1, len(sentences)):
            if not min_words <= len(sentences[i].split()) <= max_words:
                continue
            by_kind = defaultdict(list)
            for change in candidate_changes(sentences[i], inventory, rng, kinds):
                by_kind[change.kind].append(change)
            if by_kind:
                previous = sentences[max(1, i - max_context_sentences + 1):i]
                context = " ".join(sentences[:1] + previous)
                per_sentence.append((i, context, by_kind))
        rng.shuffle(per_sentence)
        made = 0
        while made < per_paragraph and any(by_kind for _, _, by_kind in per_sentence):
            for i, context, by_kind in per_sentence:
                if made >= per_paragraph or not by_kind:
                    continue
                fewest = min(made_by_kind[k] for k in by_kind)  # balance the kinds over the whole set
                kind = rng.choice(sorted(k for k in by_kind if made_by_kind[k] == fewest))
                change = by_kind[kind].pop(rng.randrange(len(by_kind[kind])))
                if not by_kind[kind]:
                    del by_kind[kind]
                false = change.apply(sentences[i])
                key = (context, sentences[i], false)
                if key in seen:
                    continue
                seen.add(key)
                questions.append(KRQuestion(context, sentences[i], false, int(location), change.kind,
                                            {"start": change.start, "true": change.true, "false": change.false}))
                made += 1
                made_by_kind[change.kind] += 1
    return questions


# ---------------------------------------------------------------------------------------------------- scorer

def _continuation_ids(tokenizer, questions: Sequence[KRQuestion], delimiter: str):
    """Token ids of each context and of each continuation, tokenized separately (lm-eval's convention)."""
    def encode(texts):
        return tokenizer(list(texts), add_special_tokens=False)["input_ids"]

    contexts = encode(q.context for q in questions)
    trues = encode(delimiter + q.sentence_true for q in questions)
    falses = encode(delimiter + q.sentence_false for q in questions)
    return contexts, trues, falses


def _check_scoring_args(questions, batch_size, normalization) -> list[KRQuestion]:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return validate_questions(list(questions), duplicates="keep")  # a repeated question is scored again


def reduce_scores(token_logprobs: Sequence[np.ndarray], normalization: str = "mean") -> np.ndarray:
    """Scores ``(n, 2)`` from per-token log-probabilities ``[true_0, false_0, true_1, ...]`` (see
    :func:`score_questions` with ``return_tokens=True``): ``"mean"`` over all tokens or the authors' ``"first_k"``."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalization == "mean":
        return np.array([lp.mean() for lp in token_logprobs]).reshape(-1, 2)
    k = np.repeat([min(len(t), len(f)) for t, f in zip(token_logprobs[0::2], token_logprobs[1::2])], 2)
    return np.array([lp[:kk].mean() for lp, kk in zip(token_logprobs, k)]).reshape(-1, 2)


def _head_logprobs(model, hidden, targets, chunk: int = 256):
    """log p(target) from decoder states: the LM head and a log-sum-exp, ``chunk`` positions at a time.

    The LM head over a large vocabulary costs as much as many decoder layers, so it runs only where a
    continuation token is predicted, and in chunks so that all positions' logits never sit in memory at once.
    """
    import torch

    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma-2/3 squash logits after the head
    out = []
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start:start + chunk]).float()  # upcast before the softmax, as CE does
        if cap:
            logits = torch.tanh(logits / cap) * cap
        out.append(logits.gather(-1, targets[start:start + chunk, None])[:, 0] - torch.logsumexp(logits, -1))
    return torch.cat(out) if out else torch.zeros(0)


def _decoder(model):
    """The model's decoder (everything before the LM head), or None when it cannot be split off."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model or model.get_output_embeddings() is None:
        return None
    return decoder


def _target_logprobs(model, ids, mask, positions, rows, cols, targets):
    """log p(target) at the (rows, cols) positions of a batch; a full forward for models without a decoder."""
    import torch

    decoder = _decoder(model)
    if decoder is None:
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[rows, cols].float()
        return torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0]
    hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state[rows, cols]
    return _head_logprobs(model, hidden, targets)


def _prefix_tree(sequences):
    """The prefix tree (trie) of token sequences: ``tokens``, ``parents`` and ``depths`` per node (a parent is
    always listed before its children) and, per sequence, the node of each of its tokens."""
    tokens, parents, depths, paths, child = [], [], [], [], {}
    for seq in sequences:
        parent, path = -1, []
        for depth, token in enumerate(seq):
            node = child.get((parent, token))
            if node is None:
                node = child[(parent, token)] = len(tokens)
                tokens.append(token)
                parents.append(parent)
                depths.append(depth)
            path.append(node)
            parent = node
        paths.append(path)
    return tokens, parents, depths, paths


def _tree_mask(parents, width):
    """Additive attention mask ``(width, width)`` in which each node sees itself and its ancestors only (rows past
    the tree, padding, see themselves so that no softmax row is empty)."""
    import torch

    allowed = np.zeros((width, width), dtype=bool)
    for node, parent in enumerate(parents):
        if parent >= 0:
            allowed[node] = allowed[parent]
        allowed[node, node] = True
    allowed[np.arange(len(parents), width), np.arange(len(parents), width)] = True
    mask = torch.zeros((width, width))
    mask[~torch.from_numpy(allowed)] = torch.finfo(torch.float32).min
    return mask


def _tree_supported(model, longest: int) -> bool:
    """Tree attention needs a decoder split from its head, an attention that honours a custom 4D mask, and
    sequences inside any sliding window (one mask serves all layers)."""
    window = getattr(model.config, "sliding_window", None)
    return (_decoder(model) is not None and getattr(model.config, "_attn_implementation", None) in ("sdpa", "eager")
            and (not window or longest <= window))


def _score_tree(model, sequences, starts, batch_size, pack_tokens, device, progress):
    """Per-token log-probabilities of each sequence's continuation (tokens ``starts[j]:``), every shared prefix
    run once.

    The sequences of a few questions are merged into their prefix tree and packed into one row: each node is one
    token at its depth as position, attending to its ancestors only (a 4D mask), so a context shared by the true
    and the false sentence, or by several questions of a paragraph, goes through the model once. Questions are
    sorted by their tokens so that those sharing a prefix share a row; a row holds at most ``pack_tokens`` nodes
    (or one question's), a forward at most ``batch_size`` questions.
    """
    import torch

    n_questions = len(sequences) // 2
    order = sorted(range(n_questions), key=lambda i: (sequences[2 * i], i))
    rows, current, nodes = [], [], set()  # rows of question indices; nodes: the current row's prefixes
    for i in order:
        prefixes = {tuple(seq[:k]) for seq in sequences[2 * i:2 * i + 2] for k in range(1, len(seq) + 1)}
        if current and len(nodes | prefixes) > pack_tokens:
            rows.append(current)
            current, nodes = [], set()
        current.append(i)
        nodes |= prefixes
    rows.append(current)
    forwards, batch = [], []
    for row in rows:
        if batch and sum(map(len, batch)) + len(row) > batch_size:
            forwards.append(batch)
            batch = []
        batch.append(row)
    forwards.append(batch)
    if progress:
        from tqdm.auto import tqdm

        forwards = tqdm(forwards, desc="KR-test", unit="batch")
    decoder = _decoder(model)
    token_logprobs: list[np.ndarray | None] = [None] * len(sequences)
    with torch.inference_mode():
        for batch in forwards:
            trees = [_prefix_tree([sequences[j] for q in row for j in (2 * q, 2 * q + 1)]) for row in batch]
            width = max(len(tree[0]) for tree in trees)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            positions = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.empty((len(batch), 1, width, width))
            wanted: dict[tuple[int, int, int], int] = {}  # (row, predicting node, target) -> index, deduplicated
            slots = {}
            for r, (row, (tokens, parents, depths, paths)) in enumerate(zip(batch, trees)):
                ids[r, :len(tokens)] = torch.tensor(tokens)
                positions[r, :len(tokens)] = torch.tensor(depths)
                mask[r, 0] = _tree_mask(parents, width)
                for path, j in zip(paths, (j for q in row for j in (2 * q, 2 * q + 1))):
                    seq = sequences[j]
                    slots[j] = [wanted.setdefault((r, path[k - 1], seq[k]), len(wanted))
                                for k in range(starts[j], len(seq))]
            hidden = decoder(input_ids=ids.to(device), attention_mask=mask.to(device),
                             position_ids=positions.to(device)).last_hidden_state
            keys = list(wanted)
            rows_t = torch.tensor([k[0] for k in keys])
            cols_t = torch.tensor([k[1] for k in keys])
            targets = torch.tensor([k[2] for k in keys], device=device)
            logprobs = _head_logprobs(model, hidden[rows_t, cols_t], targets).cpu().double().numpy()
            for j, slot in slots.items():
                token_logprobs[j] = logprobs[slot]
    return token_logprobs


def score_questions(model, tokenizer, questions: Sequence[KRQuestion | dict], batch_size: int = 32,
                    normalization: str = "mean", delimiter: str = " ", max_length: int | None = None,
                    sharing: str = "tree", pack_tokens: int = 512, return_tokens: bool = False,
                    progress: bool = False):
    """Scores ``(n, 2)``: the log-probability of [true, false] continuation given the context.

    ``normalization="mean"``: the mean over the continuation's tokens of their log-probabilities; ``"first_k"``:
    the authors' variant, the mean over the first ``k`` tokens, ``k`` the shorter of the two continuations.
    Context and ``delimiter + sentence`` are tokenized separately and concatenated (lm-eval's convention), no
    special tokens added. Sequences longer than ``max_length`` (default: the model's
    ``max_position_embeddings``) lose context tokens from the left.

    ``batch_size`` questions per forward. ``sharing="tree"`` (default): the sequences of neighbouring questions
    (sorted by their tokens) are merged into a prefix tree packed in rows of at most ``pack_tokens`` tokens,
    attending along the tree (a 4D mask), so that every shared prefix (the context of the true and the false
    sentence, the sentences before the change, a paragraph's first sentence common to its questions) runs once;
    the LM head and softmax run only where a continuation token is predicted. ``sharing="none"`` (and models the
    tree cannot serve: no decoder separate from the head, an attention without custom masks, a sliding window
    shorter than the sequences) runs each of the 2n sequences whole, left-padded, still batched. Works for
    ``transformers`` causal LMs whose forward accepts ``position_ids``. ``return_tokens=True`` returns the
    per-token log-probabilities ``[true_0, false_0, true_1, ...]`` instead, for :func:`reduce_scores` (both
    normalizations from one pass).
    """
    import torch

    questions = _check_scoring_args(questions, batch_size, normalization)
    if sharing not in SHARINGS:
        raise ValueError(f"sharing must be one of {SHARINGS}, got {sharing!r}")
    if not isinstance(pack_tokens, int) or isinstance(pack_tokens, bool) or pack_tokens < 1:
        raise ValueError(f"pack_tokens must be an int >= 1, got {pack_tokens!r}")
    if not questions:
        return np.zeros((0, 2))
    max_length = max_length or getattr(model.config, "max_position_embeddings", None) or 2048
    contexts, trues, falses = _continuation_ids(tokenizer, questions, delimiter)
    sequences, starts = [], []  # two per question: context + true, context + false
    for ctx, true, false in zip(contexts, trues, falses):
        if not true or not false:
            raise KRFormatError("a continuation tokenized to zero tokens")
        for cont in (true, false):
            if len(cont) >= max_length:
                raise KRFormatError(f"a continuation is {len(cont)} tokens, max_length={max_length} leaves no context")
            seq = (ctx + cont)[-max_length:]
            sequences.append(seq)
            starts.append(len(seq) - len(cont))
    device = next(model.parameters()).device
    if sharing == "tree" and _tree_supported(model, max(map(len, sequences))):
        token_logprobs = _score_tree(model, sequences, starts, batch_size, pack_tokens, device, progress)
        return token_logprobs if return_tokens else reduce_scores(token_logprobs, normalization)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch_size *= 2  # sequences, two per question
    order = sorted(range(len(sequences)), key=lambda j: (-len(sequences[j]), j))
    token_logprobs: list[np.ndarray | None] = [None] * len(sequences)
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="KR-test", unit="batch")
    with torch.inference_mode():
        for batch in batches:
            width = len(sequences[batch[0]])
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            rows, cols = [], []
            for r, j in enumerate(batch):
                seq = sequences[j]
                ids[r, width - len(seq):] = torch.tensor(seq)
                mask[r, width - len(seq):] = 1
                first = width - len(seq) + starts[j]  # first scored token; predicted at the position before it
                rows += [r] * (width - first)
                cols += range(first - 1, width - 1)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
            targets = ids[rows_t, cols_t + 1].to(device)
            logprobs = _target_logprobs(model, ids.to(device), mask.to(device), positions.to(device), rows_t, cols_t,
                                        targets).cpu().double().numpy()
            offset = 0
            for j in batch:
                n = len(sequences[j]) - starts[j]
                token_logprobs[j] = logprobs[offset:offset + n]
                offset += n
    return token_logprobs if return_tokens else reduce_scores(token_logprobs, normalization)


def score_questions_per_item(model, tokenizer, questions: Sequence[KRQuestion | dict], normalization: str = "mean",
                             delimiter: str = " ", progress: bool = False) -> np.ndarray:
    """The per-item loop (the authors' way, and our speed baseline): each true/false pair in its own forward.

    Same tokenization and scores as :func:`score_questions`, but right-padded pairs and full logits.
    """
    import torch

    questions = _check_scoring_args(questions, 1, normalization)
    contexts, trues, falses = _continuation_ids(tokenizer, questions, delimiter)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(questions), 2))
    items = range(len(questions))
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="KR-test (per item)")
    with torch.inference_mode():
        for i in items:
            pair = [contexts[i] + trues[i], contexts[i] + falses[i]]
            width = max(map(len, pair))
            ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in pair])
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in pair])
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            k = min(len(trues[i]), len(falses[i])) if normalization == "first_k" else None
            for r, cont in enumerate((trues[i], falses[i])):
                start = len(contexts[i])
                lp = logprobs[r, start - 1:start - 1 + len(cont)].gather(-1, torch.tensor(cont).unsqueeze(-1)).squeeze(-1)
                lp = lp.double().numpy()
                out[i, r] = lp[:k].mean() if k else lp.mean()
    return out


# ------------------------------------------------------------------------------------------------ statistics

def bootstrap_ci(correct: Sequence[bool], n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy (resampling questions with replacement)."""
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, correct.size, size=(n_boot, correct.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def location_splits(locations: Sequence[int], n_splits: int) -> np.ndarray:
    """Split index per question: the sorted distinct locations cut into ``n_splits`` contiguous runs.

    Each run holds about the same number of questions (the paper's KR-split 0, 1, ... are contiguous parts of
    the source text, the first of which is regenerated at each stage).
    """
    locations = np.asarray(locations)
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ValueError(f"n_splits must be an int >= 1, got {n_splits!r}")
    distinct, counts = np.unique(locations, return_counts=True)
    if n_splits > len(distinct):
        raise ValueError(f"n_splits={n_splits} is more than the {len(distinct)} distinct locations")
    cumulative = np.cumsum(counts) / counts.sum()
    split_of_location = np.minimum((np.concatenate([[0], cumulative[:-1]]) * n_splits + 1e-9).astype(int), n_splits - 1)
    return split_of_location[np.searchsorted(distinct, locations)]


def accuracy_report(correct: Sequence[bool], locations: Sequence[int] | None = None, n_splits: int = 1,
                    n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Accuracy with a bootstrap interval, in total (``KR-total``) and per location split (``KR-split k``)."""
    correct = np.asarray(correct, dtype=bool)

    def summary(mask) -> dict[str, Any]:
        sub = correct[mask]
        low, high = bootstrap_ci(sub, n_boot, level, seed)
        return {"accuracy": float(sub.mean()) if sub.size else math.nan, "ci_low": low, "ci_high": high,
                "n": int(sub.size)}

    report = {"total": summary(np.ones(correct.size, dtype=bool)), "splits": []}
    if locations is not None and n_splits > 1:
        locations = np.asarray(locations)
        splits = location_splits(locations, n_splits)
        for k in range(n_splits):
            row = summary(splits == k)
            row.update(split=k, locations=[int(locations[splits == k].min()), int(locations[splits == k].max())])
            report["splits"].append(row)
    return report


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool], method: str = "exact") -> dict[str, Any]:
    """Paired McNemar test of two models on the same questions.

    ``b``: questions A gets right and B wrong; ``c``: the reverse. ``method="exact"``: two-sided binomial test of
    ``b`` out of ``b + c`` at 1/2; ``"chi2"``: (b - c)^2 / (b + c) against chi-square(1), the authors' choice;
    ``"chi2-corrected"``: with Edwards' continuity correction (|b - c| - 1)^2 / (b + c).
    """
    from scipy import stats

    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and of the same length, got {a.shape} and {b_.shape}")
    methods = ("exact", "chi2", "chi2-corrected")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}")
    b, c = int(np.sum(a & ~b_)), int(np.sum(~a & b_))
    out = {"b": b, "c": c, "n": int(a.size), "method": method}
    if b + c == 0:
        return {**out, "statistic": 0.0, "p_value": 1.0}
    if method == "exact":
        return {**out, "statistic": float(b), "p_value": float(stats.binomtest(b, b + c, 0.5).pvalue)}
    diff = abs(b - c) - (1 if method == "chi2-corrected" else 0)
    statistic = max(diff, 0) ** 2 / (b + c)
    return {**out, "statistic": float(statistic), "p_value": float(stats.chi2.sf(statistic, df=1))}


def accuracy_by_kind(questions: Sequence[KRQuestion], correct: Sequence[bool], n_boot: int = 2000,
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """Accuracy with bootstrap interval per ``kind`` of change (questions without a kind count as ``unknown``)."""
    correct = np.asarray(correct, dtype=bool)
    kinds = np.array([q.kind or "unknown" for q in questions])
    out = {}
    for kind in sorted(set(kinds.tolist())):
        sub = correct[kinds == kind]
        low, high = bootstrap_ci(sub, n_boot, seed=seed)
        out[kind] = {"accuracy": float(sub.mean()), "ci_low": low, "ci_high": high, "n": int(sub.size)}
    return out


def proportion_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's ``binomtest(...).proportion_ci``); (nan, nan) for n = 0."""
    from scipy import stats

    if n == 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def kr_chance(kr_items: Sequence[Sequence[dict]], kr_answers: dict[str, Any], unseen: Sequence[int],
              level: float = 0.95) -> dict[str, Any]:
    """The measured chance level of the KR-test: a model's accuracy on questions about text it never trained on.

    The paper takes chance as 50% and puts failure halfway between chance and the maximum (75%). A rule-based
    false sentence is not a coin flip for a real model: word frequency, an added "not" or a tokenizer can make
    one side likelier before any retention. This is that level, measured.

    Args:
        kr_items: the KR questions of every split (``data["kr_items"]``), each with its ``kind``.
        kr_answers: one stage's ``metrics["kr"]``: ``{split: {"correct": [...]}}``.
        unseen: the splits the model has not trained on (at M0: splits 1..N).

    Returns ``{"accuracy", "ci_low", "ci_high", "n", "splits", "by_kind": {kind: {...}}}`` (Wilson intervals;
    questions of one paragraph are not independent, so the intervals are somewhat too narrow).
    """
    answers, kinds = [], []
    for k in unseen:
        correct = kr_answers.get(str(k), {}).get("correct", [])
        items = kr_items[k]
        if len(correct) != len(items):
            raise ValueError(f"split {k}: {len(correct)} answers for {len(items)} KR questions")
        answers += [bool(c) for c in correct]
        kinds += [item.get("kind") or "unknown" for item in items]

    def summary(values: list[bool]) -> dict[str, Any]:
        low, high = proportion_interval(sum(values), len(values), level)
        return {"accuracy": sum(values) / len(values) if values else None, "ci_low": low, "ci_high": high,
                "n": len(values)}

    by_kind = {kind: summary([a for a, k in zip(answers, kinds) if k == kind]) for kind in sorted(set(kinds))}
    return {**summary(answers), "splits": [int(k) for k in unseen], "level": level, "by_kind": by_kind}
