"""The confidence-gap chapter's closing claims (Fig. 1, Sec. 2.1.1), computed from its ``metrics.json``.

    claims = confidence_claims.claims(metrics)          # list of fortifai.report.Claim

``metrics["stage0_mean_p"]`` maps ``"<setting> | <model> | <text>"`` (model ``base`` or ``model``, the fine-tuned
M0; text ``trained``, ``unseen`` or ``generated``) to the mean probability of the target, one value per seed.
Per setting, three claims of Fig. 1: the fine-tuned model is more confident on its own generations than on unseen
text, and on the text it was trained on (**reproduced** when the difference is positive in every seed); the base
model is about equally confident on both parts of the real text (**reproduced** when its mean absolute
difference is under a quarter of the fine-tuned model's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..report import Claim

OURS = "ours (mean over seeds)"  # the heading of the table's "ours" column
BASE_GAP_FRACTION = 0.25  # "about equally confident": the base model's gap under this share of the fine-tuned one's
PAPER = "Fig. 1; Sec. 2.1.1"


def _higher(gap: np.ndarray) -> str:
    positive = int((gap > 0).sum())
    if positive == len(gap):
        return ("reproduced: higher in its one seed" if positive == 1
                else f"reproduced: higher in every seed ({positive} of {len(gap)})")
    return f"not reproduced: higher in {positive} of {len(gap)} seeds"


def setting_claims(name: str, p: dict[str, np.ndarray]) -> list[Claim]:
    """The three claims of one setting; ``p["model | generated"]`` etc.: the per-seed mean probabilities."""
    model_gap = p["model | generated"] - p["model | unseen"]
    trained_gap = p["model | trained"] - p["model | unseen"]
    base_gap = p["base | trained"] - p["base | unseen"]
    base, model = np.abs(base_gap).mean(), np.abs(trained_gap).mean()
    equal = base < BASE_GAP_FRACTION * model
    return [
        Claim(f"{name}: the fine-tuned model is more confident on its own generations than on unseen text",
              f"mean p {p['model | generated'].mean():.3f} vs {p['model | unseen'].mean():.3f}", _higher(model_gap),
              PAPER),
        Claim(f"{name}: ... and on the text it was trained on",
              f"mean p {p['model | trained'].mean():.3f} vs {p['model | unseen'].mean():.3f}", _higher(trained_gap),
              PAPER),
        Claim(f"{name}: the base model is about equally confident on both parts of the real text",
              f"base: trained {p['base | trained'].mean():.3f}, unseen {p['base | unseen'].mean():.3f} "
              f"(absolute difference {base:.3f} vs the fine-tuned model's {model:.3f}); on generated text "
              f"{p['base | generated'].mean():.3f}",
              f"{'reproduced' if equal else 'not reproduced'}: the base model's difference is "
              f"{base / model if model > 0 else np.inf:.0%} of the fine-tuned model's "
              f"({'under' if equal else 'not under'} {BASE_GAP_FRACTION:.0%})", PAPER),
    ]


def claims(metrics: dict[str, Any]) -> list[Claim]:
    """Fig. 1's three claims for every setting in ``metrics["stage0_mean_p"]``, in its order."""
    per_setting: dict[str, dict[str, np.ndarray]] = {}
    for key, values in metrics["stage0_mean_p"].items():
        name, which, text = key.rsplit(" | ", 2)
        per_setting.setdefault(name, {})[f"{which} | {text}"] = np.asarray(values, dtype=float)
    return [c for name, p in per_setting.items() for c in setting_claims(name, p)]
