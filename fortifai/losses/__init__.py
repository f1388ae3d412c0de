"""Confidence-aware losses: Truncated Cross Entropy (TCE), focal loss and dynamic TCE, and the count-matched random
mask that controls for TCE's mechanism.

The paper's loss (Sec. 2.2.1) is cross entropy with the confident tokens masked out:

    TCE(p_t) = 1[p_t <= gamma] * CE(p_t),        p_t = softmax(logits)[target]

and Appendix A compares it with focal loss, FL(p_t) = -(1 - p_t)^gamma * log(p_t).

What is here, one module each (``from fortifai.losses import ...`` reaches all of it):

* :mod:`.spec`: one specification per loss (name, ``tce-0.9``, defaults, allowed ranges, label);
* :mod:`.functional`: functional forms with ``torch.nn.functional.cross_entropy`` conventions
  (:func:`truncated_cross_entropy`, :func:`focal_loss`, :func:`dynamic_truncated_cross_entropy`,
  :func:`dynamic_threshold`) and (:mod:`.modules`) module forms mirroring ``nn.CrossEntropyLoss``
  (:class:`TruncatedCrossEntropyLoss`, :class:`FocalLoss`, :class:`DynamicTruncatedCrossEntropyLoss`);
* :mod:`.causal_lm`: causal-LM glue in the style of ``transformers.loss.loss_utils`` (:func:`causal_lm_loss`) and a factory
  for ``transformers.Trainer(compute_loss_func=...)`` (:func:`compute_loss_func`);
* :mod:`.linear`: a memory-lean path, :func:`linear_cross_entropy`, that computes ``hidden @ weight.T`` and the loss in
  chunks of tokens without ever holding the (N, V) logits, and its Trainer glue
  (:func:`linear_causal_lm_loss`);
* :func:`loss_from_token_ce`: any of the losses from per-token cross entropies computed elsewhere (torch's
  ``F.linear_cross_entropy(..., reduction="none")`` or another fused kernel). Every path defines each loss
  through one per-token function of the CE, so TCE and focal are written once;
* :mod:`.benchmark`: the cases ``benchmarks/losses.py`` times and measures (and the losses chapter's quick run);
  the losses chapter's computations (curves, the bigram model's mask, identities, tables) are
  :mod:`fortifai.chapters.losses`.

Only torch is imported at module level; transformers is never needed to import this file.
"""

from .causal_lm import causal_lm_loss, compute_loss_func
from .functional import (
    LOSSES,
    cross_entropy,
    dynamic_threshold,
    dynamic_truncated_cross_entropy,
    focal_loss,
    loss_from_token_ce,
    random_mask_cross_entropy,
    truncated_cross_entropy,
)
from .linear import default_chunk_size, linear_causal_lm_loss, linear_cross_entropy
from .modules import DynamicTruncatedCrossEntropyLoss, FocalLoss, RandomMaskCrossEntropyLoss, TruncatedCrossEntropyLoss
from .spec import LOSS_SPECS, RECURSIVE_LOSSES, LossSpec, Method, Param, truncation_label

__all__ = [
    "LOSSES", "LOSS_SPECS", "RECURSIVE_LOSSES", "LossSpec", "Method", "Param", "truncation_label",
    "truncated_cross_entropy", "focal_loss", "dynamic_threshold", "dynamic_truncated_cross_entropy", "cross_entropy",
    "TruncatedCrossEntropyLoss", "FocalLoss", "DynamicTruncatedCrossEntropyLoss", "random_mask_cross_entropy",
    "RandomMaskCrossEntropyLoss",
    "causal_lm_loss", "compute_loss_func", "linear_cross_entropy", "linear_causal_lm_loss", "loss_from_token_ce",
    "default_chunk_size",
]
