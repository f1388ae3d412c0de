"""Small helpers the chapters share to state results: spreads and the closing claim/verdict table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Claim:
    """One row of a chapter's closing table."""

    claim: str  # what the paper says, in its words where possible
    ours: str  # our number with its spread
    verdict: str  # one of VERDICTS, with the reason


def spread(values, fmt: str = "{:.3g}", low: float = 0.1, high: float = 0.9) -> str:
    """``median [q10, q90]`` of finite and infinite values alike (inf prints as ``never``)."""
    values = np.asarray(values, dtype=float)
    # interpolating between inf and a number gives nan: pick observed values when some are infinite
    method = "linear" if np.all(np.isfinite(values)) else "inverted_cdf"
    q_low, median, q_high = np.quantile(values, [low, 0.5, high], method=method)

    def show(v: float) -> str:
        return "never" if np.isinf(v) else fmt.format(v)

    return f"{show(median)} [{show(q_low)}, {show(q_high)}]"


def claims_markdown(claims: list[Claim]) -> str:
    """The closing table as Markdown (display it with ``IPython.display.Markdown``)."""
    lines = ["| paper's claim | ours (median [10%, 90%] over seeds) | verdict |", "|---|---|---|"]
    lines += [f"| {c.claim} | {c.ours} | {c.verdict} |" for c in claims]
    return "\n".join(lines)


VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "underpowered")
MIN_MASKED_FRACTION = 0.05  # below it, the loss is CE on 95% of the tokens: the setting cannot tell them apart
MIN_REGENERATION_FIDELITY = 0.20  # below it, the regenerated split has lost the content KR asks about


def judge(low: float, high: float, null: float, paper_effect: float | None = None, estimate: float | None = None,
          seeds: int = 2, masked_fraction: float | None = None, fidelity: float | None = None) -> tuple[str, str]:
    """``(verdict, why)`` on a paper's directional claim from our interval ``[low, high]`` of the effect.

    Before the interval: **inconclusive** when the setting cannot test the claim: the loss changes fewer than
    5% of the tokens before failure (``masked_fraction``), or the regeneration keeps fewer than 20% of its
    input's word 4-grams (``fidelity``). Then, in the paper's direction (the side of ``null`` that
    ``paper_effect`` lies on; above it when not given): **reproduced** when the interval lies beyond ``null``
    (**partly** when it also lies short of ``paper_effect``); **underpowered** when it holds both ``null`` and
    ``paper_effect`` (or one seed gives no interval); **not reproduced** when it holds ``null`` and excludes the
    paper's effect, or lies on the other side.
    """
    if masked_fraction is not None and masked_fraction < MIN_MASKED_FRACTION:
        return "inconclusive", (f"the loss masks {masked_fraction:.1%} of the tokens before failure "
                                f"(< {MIN_MASKED_FRACTION:.0%}): it is CE almost everywhere")
    if fidelity is not None and fidelity < MIN_REGENERATION_FIDELITY:
        return "inconclusive", (f"the first regeneration keeps {fidelity:.0%} of its input's word 4-grams "
                                f"(< {MIN_REGENERATION_FIDELITY:.0%}): the text has lost its content")
    if seeds < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "underpowered", "one seed (or no spread) gives no interval"
    sign = -1.0 if paper_effect is not None and paper_effect < null else 1.0
    lo, hi = sorted((sign * (low - null), sign * (high - null)))  # the paper's direction is positive now
    effect = None if paper_effect is None else sign * (paper_effect - null)
    if lo > 0:
        if effect is not None and hi < effect:
            return "partly", "the paper's direction beyond the noise, an effect smaller than the paper's"
        return "reproduced", "the interval lies beyond no effect, in the paper's direction"
    if hi < 0:
        return "not reproduced", "the opposite direction, beyond the noise"
    if effect is not None and hi >= effect:
        return "underpowered", "the interval holds both no effect and the paper's effect"
    if effect is None:
        return "not reproduced", "no difference beyond the noise (the paper gives no size to test against)"
    return "not reproduced", "the interval holds no effect and excludes the paper's"
