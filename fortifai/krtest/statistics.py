"""Statistics of KR answers: intervals, accuracy by split and kind, McNemar, the measured chance."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .format import KRQuestion


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
