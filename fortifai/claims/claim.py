"""One row of a chapter's closing table (:class:`Claim`) and the spread its "ours" column states.

    Claim("CE collapses rapidly (Fig. 2)", f"below 0.1 after {spread(generations)}", judge.check(...), "Fig. 2")

The claims modules make them, :mod:`fortifai.claims.judge` gives their verdicts, :mod:`fortifai.book.report`
renders and publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass
class Claim:
    """One row of a chapter's closing table."""

    claim: str  # what the paper says, in its words where possible
    ours: str  # our number with its spread
    verdict: str  # a word of fortifai.claims.judge.STATES, then ": " and the reason (made by the judge)
    paper: str = ""  # the paper's items it tests, e.g. "Fig. 2" or "Figs. 6, A2; Table D2" (the status page's key)
    folded: str = ""  # why the closing table folds it, unable to decide the claim (empty: a listed row, counted)

    @property
    def word(self) -> str:
        """The verdict word alone (the part before the first ": ")."""
        return self.verdict.split(":")[0].strip()


def spread(values, fmt: str = "{:.3g}", low: float = 0.1, high: float = 0.9) -> str:
    """``median [q10, q90]`` of finite and infinite values alike (inf prints as ``never``)."""
    values = np.asarray(values, dtype=float)
    # interpolating between inf and a number gives nan: pick observed values when some are infinite
    method = "linear" if np.all(np.isfinite(values)) else "inverted_cdf"
    q_low, median, q_high = np.quantile(values, [low, 0.5, high], method=method)

    def show(v: float) -> str:
        return "never" if np.isinf(v) else fmt.format(v)

    return f"{show(median)} [{show(q_low)}, {show(q_high)}]"


def claims_from_dicts(items: list[dict[str, Any]]) -> list[Claim]:
    names = {f.name for f in fields(Claim)}
    return [Claim(**{k: v for k, v in item.items() if k in names}) for item in items]
