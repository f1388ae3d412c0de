"""Small helpers the chapters share to state results: spreads and the closing claim/verdict table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Claim:
    """One row of a chapter's closing table."""

    claim: str  # what the paper says, in its words where possible
    ours: str  # our number with its spread
    verdict: str  # "reproduced", "partly", "not reproduced" (with the reason)


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


def interval_verdict(low: float, high: float, null: float, paper_effect: float | None = None,
                     effect: float | None = None, seeds: int = 2) -> str:
    """The verdict on a paper's directional claim from our interval ``[low, high]`` of the effect.

    "reproduced": the interval lies beyond ``null`` in the paper's direction (and ``effect`` reaches
    ``paper_effect`` when one is given; otherwise "partly"); "not reproduced": the interval contains ``null``
    or lies on the other side; "undecided" with fewer than two seeds, which give no interval.
    """
    if seeds < 2:
        return "undecided: one seed gives no interval"
    if low > null:
        if paper_effect is not None and effect is not None and effect < paper_effect:
            return f"partly: the direction beyond the noise, a smaller effect than the paper's {paper_effect}"
        return "reproduced"
    if high < null:
        return "not reproduced (the opposite, beyond the noise)"
    return "not reproduced (no difference beyond the noise)"
