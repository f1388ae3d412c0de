"""How much of a text survives its regeneration: the gate that tells whether a recursive run can test the claim.

Algorithm 1 regenerates every split with the latest model. If one regeneration already turns a split into a
repeated phrase, what the next model "retains" is decided by a content-free generator, not by its loss. The
paper's Table E6 shows near-verbatim regenerations; these numbers say how close a run is to that.

    fidelity = regeneration_fidelity(regenerated, source, original, kr_items)
    fidelity["ngram4_precision"]            # share of the regenerated word 4-grams found in its input

Words are whitespace tokens. A precision is BLEU's modified n-gram precision: each regenerated n-gram counts
as matched at most as often as it occurs in the reference, so a phrase repeated a hundred times does not
score a hundred matches. ``backfill_run`` adds the numbers to a finished run's stage metrics from its stored
text (no model needed).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

KR_PREFIX_WORDS = 6


def words(texts: str | Sequence[str]) -> list[str]:
    """Whitespace tokens of a text or of a list of paragraphs (in order)."""
    if isinstance(texts, str):
        return texts.split()
    return [w for text in texts for w in text.split()]


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def ngram_precision(candidate: str | Sequence[str], reference: str | Sequence[str], n: int = 4) -> float | None:
    """Modified (clipped) n-gram precision of ``candidate`` against ``reference``; None if it has no n-gram."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    cand, ref = ngram_counts(words(candidate), n), ngram_counts(words(reference), n)
    total = sum(cand.values())
    if not total:
        return None
    return sum(min(count, ref[gram]) for gram, count in cand.items()) / total


def type_token_ratio(texts: str | Sequence[str]) -> float | None:
    """Distinct words over words (case kept); None for no words. Falls as a text turns into a repeated phrase."""
    tokens = words(texts)
    return len(set(tokens)) / len(tokens) if tokens else None


def distinct_n(texts: str | Sequence[str], n: int) -> float | None:
    """Distinct word n-grams over word n-grams (Li et al., 2016); None for a text with no n-gram."""
    counts = ngram_counts(words(texts), n)
    total = sum(counts.values())
    return len(counts) / total if total else None


def repeated_sentences(paragraphs: Sequence[str]) -> float | None:
    """Share of the sentences that repeat an earlier sentence of the text verbatim; None for no sentence."""
    from ...krtest.generate import split_sentences

    sentences = [s for p in paragraphs for s in split_sentences(p)]
    return 1 - len(set(sentences)) / len(sentences) if sentences else None


def kr_prefix_survival(regenerated: str | Sequence[str], kr_items: Sequence[dict],
                       prefix_words: int = KR_PREFIX_WORDS) -> float | None:
    """Share of distinct KR true sentences whose first ``prefix_words`` words occur verbatim in ``regenerated``."""
    text = " " + " ".join(words(regenerated)) + " "
    prefixes = {" ".join(item.get("sentence_true", "").split()[:prefix_words]) for item in kr_items}
    prefixes.discard("")
    if not prefixes:
        return None
    return sum(f" {p} " in text for p in prefixes) / len(prefixes)


def regeneration_fidelity(regenerated: Sequence[str], source: Sequence[str], original: Sequence[str],
                          kr_items: Sequence[dict] = (), n: int = 4) -> dict[str, Any]:
    """Fidelity of one regenerated split.

    Args:
        regenerated: the split as the model rewrote it (paragraphs).
        source: the text it was regenerated from (the previous generation of the split).
        original: the split's real text (generation 0); equals ``source`` at the split's first regeneration.
        kr_items: the split's KR questions (their ``sentence_true`` is looked for in ``regenerated``).

    Returns ``ngram4_precision`` (against ``source``), ``ngram4_precision_original``, ``type_token_ratio`` of
    the regenerated text and of the original, ``kr_prefix_survival``, the word and paragraph counts, and the
    diversity of the regenerated text: ``distinct_1/2/3`` and ``repeated_sentences``.
    """
    return dict(
        ngram4_precision=ngram_precision(regenerated, source, n),
        ngram4_precision_original=ngram_precision(regenerated, original, n),
        type_token_ratio=type_token_ratio(regenerated),
        type_token_ratio_original=type_token_ratio(original),
        kr_prefix_survival=kr_prefix_survival(regenerated, kr_items) if kr_items else None,
        words=len(words(regenerated)), source_words=len(words(source)),
        paragraphs=len(regenerated), source_paragraphs=len(source),
        **{f"distinct_{n}": distinct_n(regenerated, n) for n in (1, 2, 3)},
        repeated_sentences=repeated_sentences(regenerated),
    )


def stage_fidelity(stage: int, generated: dict[str, list[str]], previous: dict[str, list[str]] | None,
                   data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Fidelity of every split regenerated at ``stage``, keyed by split index (as in ``generated.json``).

    ``previous``: the stage before's ``generated.json`` (the source of every split but the newest one, which is
    regenerated from its real text; None where every split is regenerated from its real text, as in the control
    arm); ``data``: the run's ``data.json`` (real splits and KR items).
    """
    out = {}
    for key, regenerated in generated.items():
        k = int(key)
        original = data["splits"][k]
        source = original if k == stage or previous is None else previous[key]
        items = data.get("kr_items", [])[k] if data.get("kr_items") else []
        out[key] = regeneration_fidelity(regenerated, source, original, items)
    return out


def backfill_run(run_dir: str | Path) -> int:
    """Add ``regeneration_fidelity`` to every finished stage of a run from its stored text; return stages updated.

    Rewrites ``stage_<i>/metrics.json`` and, when present, the run's ``metrics.json`` (atomically).
    """
    from ...results import write_json
    from ..protocol import RunFiles

    files = RunFiles(run_dir)
    data = files.data()
    updated, previous, fidelity_of = 0, None, {}
    for i in range(len(data["splits"])):
        if not files.stage_metrics_file(i).is_file() or not files.generated_file(i).is_file():
            break
        generated = files.generated(i)
        fidelity_of[i] = stage_fidelity(i, generated, previous, data)
        metrics = files.stage_metrics(i)
        if metrics.get("regeneration_fidelity") != fidelity_of[i]:
            metrics["regeneration_fidelity"] = fidelity_of[i]
            write_json(files.stage_metrics_file(i), metrics)
            updated += 1
        previous = generated
    if files.complete():
        result = files.metrics()
        for stage in result["stages"]:
            if stage["stage"] in fidelity_of:
                stage["regeneration_fidelity"] = fidelity_of[stage["stage"]]
        write_json(files.metrics_file, result)
    return updated
