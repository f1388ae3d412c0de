"""The recursive-training chapter's closing claims: Algorithm 1 as a protocol (Sec. 3, Fig. 3, Sec. 4.5).

    claims = protocol_claims.claims(metrics)          # list of fortifai.claims.claim.Claim

``metrics["runs"]`` maps a run's name to ``{"method", "seed", "stages": [row per stage]}``, the rows of
:func:`fortifai.recursive.stage_table` (``real_fraction``, ``kr_split0``, ``kr_seen``, ...). The claims say whether
the protocol does what Algorithm 1 and Fig. 3 describe: the training text turns from real to mostly synthetic
stage by stage, and under CE the split regenerated at every stage (split 0) loses its facts, more than the splits
regenerated less often. Whether a loss delays that is the language-model results chapter's question, not this one's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .claim import Claim, spread
from . import judge

OURS = "ours (median [10%, 90%] over runs or seeds)"  # the heading of the table's "ours" column
BASELINE = "ce"


def real_share_claim(runs: list[dict[str, Any]]) -> Claim:
    """The share of real words in stage i's training text: falling at every stage to mostly synthetic text (Fig. 3),
    set beside 1/(i+1), the share of real *splits* (the splits are equal in paragraphs, not in words)."""
    stages = min(len(r["stages"]) for r in runs)
    share = np.array([[r["stages"][i]["real_fraction"] for i in range(stages)] for r in runs])
    expected = 1 / (np.arange(stages) + 1)
    falls = bool(np.all(np.diff(share, axis=1) < 0))
    mostly_synthetic = bool(np.all(share[:, -1] < 0.5))
    off = share[:, 1:] / expected[1:] - 1
    medians = ", ".join(f"{np.median(share[:, i]):.2f}" for i in range(stages))
    how = (f"to {share[:, -1].min():.0%}-{share[:, -1].max():.0%} real at M{stages - 1}; by words "
           f"{off.min():+.0%} to {off.max():+.0%} off 1/(i+1)" if stages > 1 else "one stage only")
    return Claim(
        "Each stage trains on the regenerated splits plus one new real split: from predominantly human-written "
        "to mostly synthetic text",
        f"real share of the training words by stage (median over {len(runs)} runs): {medians}; 1/(i+1): "
        + ", ".join(f"{e:.2f}" for e in expected),
        judge.check(falls and mostly_synthetic, f"falls at every stage in every run, {how}",
                    f"{'falls' if falls else 'does not fall'} at every stage in every run, {how}",
                    values=list(share.ravel())), "Algorithm 1; Fig. 3")


def claims(metrics: dict[str, Any]) -> list[Claim]:
    """The real share of every run; then, for the CE runs, KR on split 0 falling from M0 to the last stage, and
    split 0 ending below the splits seen so far (regenerated fewer times)."""
    runs = list(metrics["runs"].values())
    out = [real_share_claim(runs)]
    ce = [r for r in runs if r["method"] == BASELINE]
    last = min((len(r["stages"]) for r in ce), default=0) - 1
    if last < 1:  # no CE run, or M0 alone: nothing has been regenerated yet
        return out
    first = np.array([r["stages"][0]["kr_split0"] for r in ce])
    final = np.array([r["stages"][last]["kr_split0"] for r in ce])
    seen = np.array([r["stages"][last]["kr_seen"] for r in ce])
    out.append(Claim(
        "Under CE, KR on split 0, the split regenerated at every stage, falls over the stages",
        f"KR-split 0 {spread(first, '{:.2f}')} at M0 → {spread(final, '{:.2f}')} at M{last}; drop "
        f"{spread(first - final, '{:.2f}')}",
        judge.per_seed(int(np.sum(final < first)), len(ce), f"lower at M{last} than at M0"), "Sec. 4.5; Algorithm 1"))
    out.append(Claim(
        "Under CE, the split regenerated most often is the most contaminated (Fig. 3's darker red)",
        f"at M{last}: KR-split 0 {spread(final, '{:.2f}')} vs KR over the splits seen so far "
        f"{spread(seen, '{:.2f}')}",
        judge.per_seed(int(np.sum(final < seen)), len(ce), "split 0 below the splits seen"), "Fig. 3; Algorithm 1"))
    return out
