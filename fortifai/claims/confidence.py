"""The confidence-gap chapter's closing claims (Fig. 1, Sec. 2.1.1), computed from its ``metrics.json``.

    claims = confidence_claims.claims(metrics)          # list of fortifai.claims.claim.Claim

``metrics["stage0_mean_p"]`` maps ``"<setting> | <model> | <text>"`` (model ``base`` or ``model``, the fine-tuned
M0; text ``trained``, ``unseen`` or ``generated``) to the mean probability of the target, one value per seed.
Per setting, three claims of Fig. 1: the fine-tuned model is more confident on its own generations than on unseen
text, and on the text it was trained on (judged by :func:`fortifai.claims.judge.effect` on the paired t interval of
the difference over seeds, which share their splits); the base model is about equally confident on both parts of
the real text (:func:`fortifai.claims.judge.check`: its mean absolute difference under a quarter of the fine-tuned
model's, from two seeds on).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import stats
from .claim import Claim
from . import judge

OURS = "ours (mean over seeds)"  # the heading of the table's "ours" column
BASE_GAP_FRACTION = 0.25  # "about equally confident": the base model's gap under this share of the fine-tuned one's
PAPER = "Fig. 1; Sec. 2.1.1"


def _higher(a: np.ndarray, b: np.ndarray) -> tuple[str, str]:
    """(the paired t interval of ``a - b`` as text, the verdict) for "a is higher than b" over paired seeds."""
    t = stats.paired_t(a, b)
    verdict, why = judge.effect(t["ci_low"], t["ci_high"], 0.0, seeds=len(a), estimate=t["difference"])
    positive = int((a > b).sum())
    interval = (f", paired t 95% [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]" if np.isfinite(t["ci_low"])
                else ", no interval")
    return f"{interval}; higher in {positive} of {len(a)} seeds", f"{verdict}: {why}"


def setting_claims(name: str, p: dict[str, np.ndarray]) -> list[Claim]:
    """The three claims of one setting; ``p["model | generated"]`` etc.: the per-seed mean probabilities."""
    trained_gap = p["model | trained"] - p["model | unseen"]
    base_gap = p["base | trained"] - p["base | unseen"]
    base, model = np.abs(base_gap).mean(), np.abs(trained_gap).mean()
    equal = base < BASE_GAP_FRACTION * model
    ratio = base / model if model > 0 else np.inf
    generated_text, generated_verdict = _higher(p["model | generated"], p["model | unseen"])
    trained_text, trained_verdict = _higher(p["model | trained"], p["model | unseen"])
    return [
        Claim(f"{name}: the fine-tuned model is more confident on its own generations than on unseen text",
              f"mean p {p['model | generated'].mean():.3f} vs {p['model | unseen'].mean():.3f}{generated_text}",
              generated_verdict, PAPER),
        Claim(f"{name}: ... and on the text it was trained on",
              f"mean p {p['model | trained'].mean():.3f} vs {p['model | unseen'].mean():.3f}{trained_text}",
              trained_verdict, PAPER),
        Claim(f"{name}: the base model is about equally confident on both parts of the real text",
              f"base: trained {p['base | trained'].mean():.3f}, unseen {p['base | unseen'].mean():.3f} "
              f"(absolute difference {base:.3f} vs the fine-tuned model's {model:.3f}); on generated text "
              f"{p['base | generated'].mean():.3f}",
              judge.check(bool(equal), f"the base model's difference is {ratio:.0%} of the fine-tuned model's (under "
                          f"{BASE_GAP_FRACTION:.0%})", f"the base model's difference is {ratio:.0%} of the fine-tuned "
                          f"model's (not under {BASE_GAP_FRACTION:.0%})", values=[base, model], seeds=len(base_gap)),
              PAPER),
    ]


def claims(metrics: dict[str, Any]) -> list[Claim]:
    """Fig. 1's three claims for every setting in ``metrics["stage0_mean_p"]``, in its order."""
    per_setting: dict[str, dict[str, np.ndarray]] = {}
    for key, values in metrics["stage0_mean_p"].items():
        name, which, text = key.rsplit(" | ", 2)
        per_setting.setdefault(name, {})[f"{which} | {text}"] = np.asarray(values, dtype=float)
    return [c for name, p in per_setting.items() for c in setting_claims(name, p)]
