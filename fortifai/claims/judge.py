"""The one judge: the verdict words, the gates, and every rule that turns a measurement into a verdict.

Every chapter's claims pass their measurements here; no other module writes a verdict word.

    word, why = judge.effect(low, high, null=0.0, paper_effect=-0.023, seeds=8, baseline_loss=(m, lo, hi))
    verdict = judge.check(ok, "the gradient is exactly zero", "masked tokens still get a gradient")
    verdict = judge.per_seed(count, total, "lower at M3 than at M0")

The words (:data:`VERDICTS`): **reproduced**, **partly**, **not reproduced**, **inconclusive** (the setting cannot
test the claim: the loss changes almost no token, the text has lost its content, or the baseline never degrades,
so there is nothing to delay) and **underpowered** (the interval holds both no effect and the paper's effect).
A claim whose measurement is missing or not a number is **not computed** (:data:`NOT_COMPUTED`), never a verdict.

The rules:

- :func:`effect`: an interval of an effect against no effect and the paper's effect, after the gates
  (:func:`gate`): masking, regeneration fidelity, the baseline's own loss, a baseline that never failed. Where the
  paper gives no size, ``smallest`` (the smallest effect of interest) separates "no difference detected" from
  underpowered. The decisive plans' rules (:data:`SHARE_RULE`, :data:`CONTRAST_RULE`, their texts fixed with the
  plans) are this rule on a share.
- :func:`per_seed`: a direction counted over seeds (every seed, most seeds, fewer).
- :func:`graded` and :func:`check`: a criterion the chapter measures (a threshold, an identity to rounding).
- :func:`not_tested` and :func:`not_computed`: the claim cannot be judged here, and why.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

REPRODUCED, PARTLY, NOT_REPRODUCED = "reproduced", "partly", "not reproduced"
INCONCLUSIVE, UNDERPOWERED = "inconclusive", "underpowered"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, UNDERPOWERED)  # the only verdict words
SUPPORTS = (REPRODUCED, PARTLY)  # the verdicts that find the paper's direction beyond the noise
NOT_COMPUTED = "not computed"  # a claim without a number: no verdict
STATES = VERDICTS + (NOT_COMPUTED,)  # what a claim's verdict may start with

MIN_MASKED_FRACTION = 0.05  # below it, the loss is CE on 95% of the tokens: the setting cannot tell them apart
MIN_REGENERATION_FIDELITY = 0.20  # below it, the regenerated split has lost the content KR asks about

# The decisive plans' rules, as fixed with each plan before its first run (moved here verbatim); :func:`effect`
# applies them (``baseline_loss`` the gate, ``paper_effect`` the paper's share, ``smallest`` for the contrasts).
SHARE_RULE = ("on the 95% paired bootstrap interval [lo, hi] of the share of CE's M0-to-M3 loss that TCE 0.9 "
              "avoids: inconclusive if CE's own loss is not above 0 (the lower end of its 95% t interval over "
              "seeds; nothing to delay); reproduced if lo > 0 and hi >= the paper's share; partly if lo > 0 and hi "
              "< the paper's share; not reproduced if lo <= 0 and hi < the paper's share; underpowered if lo <= 0 "
              "and hi >= the paper's share")
CONTRAST_RULE = ("on the 95% paired bootstrap interval [lo, hi] of TCE 0.9's share of CE's loss avoided minus the "
                 "other loss's share (seeds both ran, each with CE's loss of the same seed), the claimed difference "
                 "(truncation matters; TCE beats FL) is: reproduced if lo > 0; not reproduced if hi < 0 (the other "
                 "way round) or if the interval holds 0 and hi < half the paper's share (no difference detected); "
                 "underpowered otherwise; inconclusive where CE's own loss is not above 0 (its t interval's lower "
                 "end), since no share exists")


def say(word: str, why: str = "") -> str:
    """A claim's verdict text: ``word``, then ``": "`` and ``why`` when there is one."""
    if word not in STATES:
        raise ValueError(f"word must be one of {STATES}, got {word!r}")
    return f"{word}: {why}" if why else word


def missing(*values: Any) -> bool:
    """Whether any of ``values`` is absent or not a number (None or NaN; an infinite value is a number: a chain
    that never failed)."""
    return any(v is None or (isinstance(v, (int, float)) and math.isnan(v)) for v in values)


def not_computed(why: str) -> str:
    return say(NOT_COMPUTED, why)


def not_tested(why: str) -> str:
    """The setting cannot test the claim (inconclusive), and why."""
    return say(INCONCLUSIVE, why)


def gate(masked_fraction: float | None = None, fidelity: float | None = None,
         baseline_loss: tuple[float, float, float] | None = None, seeds: int = 2,
         nothing_to_delay: str | None = None) -> str | None:
    """Why the setting cannot test a claim, or None when it can: the loss masks fewer than 5% of the tokens
    (``masked_fraction``), the regeneration keeps fewer than 20% of its input's word 4-grams (``fidelity``), the
    baseline's own loss (``baseline_loss``: mean, t interval over the seeds) is not above 0 beyond the noise, or
    ``nothing_to_delay``: a reason the caller measured (e.g. no baseline run failed within its stages)."""
    if masked_fraction is not None and masked_fraction < MIN_MASKED_FRACTION:
        return (f"the loss masks {masked_fraction:.1%} of the tokens at M0 (< {MIN_MASKED_FRACTION:.0%}): it is CE "
                "almost everywhere")
    if fidelity is not None and fidelity < MIN_REGENERATION_FIDELITY:
        return (f"the first regeneration keeps {fidelity:.0%} of its input's word 4-grams "
                f"(< {MIN_REGENERATION_FIDELITY:.0%}): the text has lost its content")
    if baseline_loss is not None and seeds >= 2 and not baseline_loss[1] > 0:  # one seed: no interval (underpowered)
        mean, lo, hi = baseline_loss
        return (f"CE's own loss from M0 is not above 0 beyond the noise (mean {mean:+.3g}, t95 [{lo:+.3g}, "
                f"{hi:+.3g}] over {seeds} seeds): there is nothing to delay")
    return nothing_to_delay or None


def effect(low: float, high: float, null: float = 0.0, paper_effect: float | None = None, seeds: int = 2,
           estimate: float | None = None, smallest: float | None = None, **gates: Any) -> tuple[str, str]:
    """``(verdict, why)`` on a paper's directional claim from our interval ``[low, high]`` of the effect.

    First :func:`gate` (``gates``: its keyword arguments): **inconclusive** with its reason. A missing ``estimate``
    gives **not computed**. Then, in the paper's direction (the side of ``null`` that ``paper_effect``, else
    ``smallest``, lies on; above it when neither is given): **reproduced** when the interval lies beyond ``null``
    (**partly** when it also lies short of ``paper_effect``); **underpowered** when it holds both ``null`` and the
    paper's effect (or one seed gives no interval); **not reproduced** when it holds ``null`` and excludes the
    paper's effect, or lies on the other side. Where the paper gives no size, ``smallest`` (the smallest effect of
    interest) stands in for it: an interval that holds ``null`` and excludes it is "no difference detected".
    """
    if estimate is not None and missing(estimate):
        return NOT_COMPUTED, "the measurement is missing"
    reason = gate(seeds=seeds, **gates)
    if reason:
        return INCONCLUSIVE, reason
    if seeds < 2 or missing(low, high) or not (math.isfinite(low) and math.isfinite(high)):
        return UNDERPOWERED, "one seed (or no spread) gives no interval"
    target = paper_effect if paper_effect is not None else smallest
    sign = -1.0 if target is not None and target < null else 1.0
    lo, hi = sorted((sign * (low - null), sign * (high - null)))  # the paper's direction is positive now
    size = None if target is None else sign * (target - null)
    if lo > 0:
        if paper_effect is not None and hi < size:
            return PARTLY, "the paper's direction beyond the noise, an effect smaller than the paper's"
        return REPRODUCED, "the interval lies beyond no effect, in the paper's direction"
    if hi < 0:
        return NOT_REPRODUCED, "the opposite direction, beyond the noise"
    if size is None:
        return NOT_REPRODUCED, "no difference beyond the noise (the paper gives no size to test against)"
    if paper_effect is None:  # smallest effect of interest
        if hi >= size:
            return UNDERPOWERED, f"the interval holds both no effect and the smallest effect of interest ({target:+.3g})"
        return NOT_REPRODUCED, (f"no difference detected: the interval holds no effect and excludes the smallest "
                                f"effect of interest ({target:+.3g})")
    if hi >= size:
        return UNDERPOWERED, "the interval holds both no effect and the paper's effect"
    return NOT_REPRODUCED, "the interval holds no effect and excludes the paper's"


def per_seed(count: int, total: int, what: str, clear: bool | None = None) -> str:
    """A direction counted over seeds: **reproduced** when ``what`` holds in every seed (and, where the chapter
    asks for it, ``clear``: by more than the baseline's seed-to-seed range); **partly** in most seeds, or in
    every seed without ``clear``; **not reproduced** otherwise; **underpowered** with one seed."""
    if total < 2:
        return say(UNDERPOWERED, f"one seed ({what} in {count} of {total})")
    if count == total:
        margin = {None: "", True: ", by more than the seed-to-seed range", False: ", by less than the seed-to-seed range"}
        return say(PARTLY if clear is False else REPRODUCED, f"{what} in every seed ({count} of {total}){margin[clear]}")
    if count > total / 2:
        return say(PARTLY, f"{what} in {count} of {total} seeds")
    return say(NOT_REPRODUCED, f"{what} in {count} of {total} seeds")


def graded(full: bool, part: bool, why: str, values: Sequence[Any] = ()) -> str:
    """A chapter's own criterion in two grades: **reproduced** when ``full`` holds, **partly** when only
    ``part`` does, **not reproduced** otherwise; **not computed** when any of ``values`` (what the criterion
    reads) is missing. ``why``: the measurement the grades read, said either way."""
    if missing(*values):
        return not_computed(why)
    return say(REPRODUCED if full else PARTLY if part else NOT_REPRODUCED, why)


def check(ok: bool, held: str, missed: str, values: Sequence[Any] = (), limited: str | None = None,
          seeds: int | None = None) -> str:
    """A criterion that holds or not: **reproduced** with ``held`` (or **partly** with ``held`` and ``limited``,
    when it holds only in a narrower setting than the paper's), **not reproduced** with ``missed``; **not
    computed** when any of ``values`` is missing, **underpowered** when ``seeds`` is one."""
    if missing(*values):
        return not_computed(f"{held if ok else missed} (a measurement is missing)")
    if seeds is not None and seeds < 2:
        return say(UNDERPOWERED, f"one seed: {held if ok else missed}")
    if ok:
        return say(PARTLY, f"{held}, {limited}") if limited else say(REPRODUCED, held)
    return say(NOT_REPRODUCED, missed)
