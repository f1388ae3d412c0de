"""Paired statistics for runs that share their data: seeds are the unit, losses are compared within a seed.

In the recursive protocol every seed draws its splits and KR questions once and every loss trains on them,
so the runs of one seed form a pair (a block, with more losses). Resampling each loss's seeds on its own, or
pooling questions over seeds, throws that away or overstates it. Here:

    paired_bootstrap(a, b, "ratio")        # seeds resampled jointly for both losses: ratio of means, interval
    sign_test(a, b)                        # exact, over seeds: how many seeds favour a, ties dropped
    paired_t(a, b)                         # run-level paired t-test and interval of the mean difference
    detectable_difference(...)             # the smallest effect the design could detect at 80% power

``a`` and ``b`` are per-seed values in the same seed order. McNemar on the questions of each seed (secondary;
questions of one paragraph are not independent) is :func:`fortifai.krtest.mcnemar`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

STATISTICS = ("ratio", "difference")


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"a and b must be non-empty 1-D per-seed values of the same length, got {a.shape} and {b.shape}")
    return a, b


def _statistic(a: np.ndarray, b: np.ndarray, statistic: str) -> np.ndarray:
    """Along the last axis: mean(a) / mean(b) or mean(a) - mean(b)."""
    ma, mb = a.mean(axis=-1), b.mean(axis=-1)
    if statistic == "difference":
        return ma - mb
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mb > 0, ma / np.where(mb > 0, mb, 1.0), np.where(ma > 0, np.inf, np.nan))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], statistic: str = "difference", n_boot: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Percentile bootstrap of ``mean(a) / mean(b)`` (``"ratio"``) or ``mean(a) - mean(b)`` (``"difference"``),
    resampling *seed indices* with replacement and taking both losses' values of each drawn seed.

    Returns ``{"estimate", "ci_low", "ci_high", "n", "statistic", "level", "distinct_resamples"}``; with n seeds
    there are only C(2n-1, n) distinct resamples (10 for n = 3), so the interval is coarse and says so.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    a, b = _paired(a, b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    boot = _statistic(a[idx], b[idx], statistic)
    boot = boot[~np.isnan(boot)]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf") if boot.size else (
        math.nan, math.nan)
    return {"estimate": float(_statistic(a, b, statistic)), "ci_low": float(low), "ci_high": float(high),
            "n": int(a.size), "statistic": statistic, "level": level,
            "distinct_resamples": math.comb(2 * a.size - 1, a.size)}


def sign_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Exact two-sided sign test over seeds: ``a > b`` in ``positive`` of the ``n`` seeds that differ (ties
    dropped), against 1/2 (scipy's ``binomtest``). With 3 seeds the smallest p-value is 0.25."""
    from scipy import stats

    a, b = _paired(a, b)
    diff = a - b
    positive, negative = int(np.sum(diff > 0)), int(np.sum(diff < 0))
    n = positive + negative
    p = float(stats.binomtest(positive, n, 0.5).pvalue) if n else 1.0
    return {"positive": positive, "negative": negative, "ties": int(a.size - n), "n": n, "p_value": p,
            "smallest_possible_p": float(2 * 0.5 ** n) if n else 1.0}


def paired_t(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Run-level paired t-test of ``a - b`` (scipy's ``ttest_rel``) with the t interval of the mean difference."""
    from scipy import stats

    a, b = _paired(a, b)
    diff = a - b
    mean = float(diff.mean())
    if a.size < 2:
        return {"difference": mean, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan, "df": 0, "sd": math.nan}
    sd = float(diff.std(ddof=1))
    if sd == 0:
        return {"difference": mean, "ci_low": mean, "ci_high": mean, "p_value": 1.0 if mean == 0 else 0.0,
                "df": a.size - 1, "sd": 0.0}
    result = stats.ttest_rel(a, b)
    half = float(stats.t.ppf((1 + level) / 2, a.size - 1)) * sd / math.sqrt(a.size)
    return {"difference": mean, "ci_low": mean - half, "ci_high": mean + half, "p_value": float(result.pvalue),
            "df": a.size - 1, "sd": sd}


def detectable_difference(n: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t-test of ``n`` pairs with difference standard
    deviation ``sd`` detects with probability ``power`` at level ``alpha`` (the usual approximation
    ``(t_{1-alpha/2} + t_{power}) * sd / sqrt(n)`` with n - 1 degrees of freedom)."""
    from scipy import stats

    if n < 2 or not np.isfinite(sd):
        return math.inf
    df = n - 1
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def detectable_proportion_difference(n: int, discordant: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest accuracy difference McNemar's test on ``n`` paired questions detects at ``power``, when a
    share ``discordant`` of the questions is answered differently by the two models (normal approximation:
    ``(z_{1-alpha/2} + z_power) * sqrt(discordant / n)``)."""
    from scipy import stats

    if n < 1:
        return math.inf
    discordant = max(float(discordant), 1.0 / n)  # no discordant pair seen: at least one in n
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * math.sqrt(discordant / n))


def pairs_for_power(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8,
                    max_pairs: int = 10_000) -> int | None:
    """The fewest pairs ``n`` for which a two-sided paired t-test at level ``alpha`` detects a true mean
    difference ``effect`` with probability at least ``power``, when the per-pair differences have standard deviation
    ``sd`` (exact power from the noncentral t distribution, scipy's ``nct``). None beyond ``max_pairs``."""
    from scipy import stats

    if not (np.isfinite(effect) and np.isfinite(sd)) or sd < 0:
        raise ValueError(f"effect and sd must be finite numbers with sd >= 0, got {effect!r} and {sd!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha!r} and {power!r}")
    if effect == 0:
        return None
    if sd <= 1e-12 * abs(effect):  # no spread (to rounding): two pairs give an interval
        return 2
    for n in range(2, max_pairs + 1):
        df, shift = n - 1, abs(effect) / sd * math.sqrt(n)
        critical = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= power:
            return n
    return None
