"""The KR-test chapter's closing claims (Sec. 4.2.1, Sec. 4.5, Appendix B), computed from its ``metrics.json``.

    claims = kr_claims.claims(metrics)          # list of fortifai.claims.claim.Claim

The test is only meaningful if a model that has read the text clears chance clearly and one that knows nothing
does not: the pretrained model's 95% bootstrap interval must lie above ``MIN_PRETRAINED`` (60%), and the
untrained control's, pooled over its seeds, must hold 50%.
"""

from __future__ import annotations

from typing import Any

from .claim import Claim, spread
from . import judge

OURS = "ours (accuracy [95% bootstrap CI])"  # the heading of the table's "ours" column
MIN_PRETRAINED = 0.60  # the lower end of the pretrained model's interval must clear it


def pct(row: dict[str, float]) -> str:
    """``accuracy% [low, high]`` of an accuracy report's row."""
    return f"{100 * row['accuracy']:.1f}% [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"


def claims(metrics: dict[str, Any]) -> list[Claim]:
    """The pretrained model above chance, the untrained control at chance, and Table B1's kind of question."""
    models, accuracy, pooled = metrics["models"], metrics["accuracy"], metrics["control_pooled"]
    total = accuracy["pretrained"]["total"]
    controls = [role for role in accuracy if role.startswith("control")]
    above = total["ci_low"] > MIN_PRETRAINED
    at_chance = pooled["ci_low"] <= 0.5 <= pooled["ci_high"]
    kinds = metrics["questions_by_kind"]
    return [
        Claim("A pretrained model answers KR questions on text it has read well above the 50% baseline",
              f"{models['pretrained']}: {pct(total)}, n = {total['n']}",
              judge.check(above, f"the interval lies above {MIN_PRETRAINED:.0%}",
                          f"the interval reaches below {MIN_PRETRAINED:.0%}; the generator needs work (see the bars "
                          "by kind)", values=[total["ci_low"]]), "Sec. 4.2.1"),
        Claim("The KR-test has 'a baseline of 50%' (a model that knows nothing)",
              f"{models['control']}: median [10%, 90%] over {len(controls)} seeds "
              f"{spread([accuracy[r]['total']['accuracy'] for r in controls], '{:.1%}')}; pooled {pct(pooled)}",
              judge.check(at_chance, "the pooled interval holds 50%",
                          "an untrained model is off 50%, so some kind of change is biased",
                          values=[pooled["ci_low"], pooled["ci_high"]]), "Sec. 4.2.1; Sec. 4.5"),
        Claim("The false sentence differs from the true one in a key fact",
              f"{len(kinds)} kinds of one-fact change ({', '.join(kinds)}), {metrics['n_questions']} questions, "
              "every change recorded and checked by the tests",
              judge.check(bool(kinds), "by rule instead of an LLM", "no question was generated"),
              "Appendix B; Table B1"),
    ]
