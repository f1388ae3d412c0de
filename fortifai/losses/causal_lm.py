"""Causal-LM glue in the style of ``transformers.loss.loss_utils``, and the ``Trainer(compute_loss_func=...)`` factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from .functional import LOSSES, check_loss, resolve_loss_params


def shifted_labels(labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    # Shift so that tokens < n predict n: pad with ignore_index and slice, instead of copying the logits.
    return F.pad(labels, (0, 1), value=ignore_index)[..., 1:].contiguous()


def check_num_items(num_items_in_batch: Any, loss_kwargs: dict) -> None:
    if num_items_in_batch is not None and loss_kwargs.get("denominator", "valid") == "kept":
        raise ValueError(
            "denominator='kept' cannot be combined with num_items_in_batch: the kept count of one micro-batch "
            "is not known to the others; use denominator='valid' (the default) with gradient accumulation"
        )


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    loss: str = "tce",
    *,
    ignore_index: int = -100,
    num_items_in_batch: int | torch.Tensor | None = None,
    shift_labels: torch.Tensor | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """A named loss for next-token prediction, the way ``transformers.ForCausalLMLoss`` computes CE.

    Args:
        logits: ``(B, T, V)`` (any float dtype; upcast to float32).
        labels: ``(B, T)``; position ``t`` is predicted from the logits at ``t - 1``. Labels are shifted here
            (pad with ``ignore_index``, slice) unless ``shift_labels`` ``(B, T)`` is given already shifted.
        loss: ``"ce"`` | ``"tce"`` | ``"focal"`` | ``"tce_dynamic"``.
        num_items_in_batch: when given (the Trainer passes the non-ignored target count of the whole accumulated
            batch), the summed loss is divided by it, so gradient accumulation matches one large batch.
        return_masked_fraction: also return the fraction of non-ignored targets the loss masked.
        **loss_kwargs: the named loss's own parameters (``gamma``, ``alpha``, ``denominator``).

    Returns:
        A scalar loss, or ``(loss, masked_fraction)``.
    """
    fn = LOSSES[check_loss(loss)]
    check_num_items(num_items_in_batch, loss_kwargs)
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got {tuple(logits.shape)}")
    if shift_labels is None:
        if labels.shape != logits.shape[:2]:
            raise ValueError(f"labels must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
        shift_labels = shifted_labels(labels, ignore_index)
    elif shift_labels.shape != logits.shape[:2]:
        raise ValueError(f"shift_labels must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(shift_labels.shape)}")
    logits = logits.reshape(-1, logits.shape[-1])
    target = shift_labels.reshape(-1).to(logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    out, masked = fn(
        logits, target, ignore_index=ignore_index, reduction=reduction, return_masked_fraction=True, **loss_kwargs
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(out.device)
        out = out / num_items_in_batch
    return (out, masked) if return_masked_fraction else out


def compute_loss_func(loss: str = "tce", *, ignore_index: int = -100, **loss_kwargs):
    """A ``compute_loss_func`` for ``transformers.Trainer`` that trains a causal LM with a named loss.

    >>> trainer = Trainer(model=model, args=args, train_dataset=ds,
    ...                   compute_loss_func=compute_loss_func("tce", gamma=0.9))

    The Trainer pops ``labels`` before the forward pass, so the model computes no second, unused CE. The loss
    is summed and divided by ``num_items_in_batch`` (the non-ignored targets of the whole accumulated batch), so
    gradient accumulation gives the gradients of one large batch. The masked fraction of the last call is kept
    on the returned function as ``.masked_fraction`` (a detached tensor, so logging costs no device sync).
    """
    resolve_loss_params(loss, loss_kwargs)  # a misspelt or out-of-range parameter fails here, not at the first step
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool):
        raise ValueError(f"ignore_index must be an int, got {ignore_index!r}")
    if loss_kwargs.get("denominator", "valid") == "kept":
        raise ValueError(
            "denominator must be 'valid' for the Trainer: it divides by num_items_in_batch, the non-ignored "
            "targets of the whole accumulated batch, got 'kept'"
        )

    def _compute_loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        value, masked = causal_lm_loss(
            logits, labels, loss, ignore_index=ignore_index, num_items_in_batch=num_items_in_batch,
            return_masked_fraction=True, **loss_kwargs,
        )
        _compute_loss.masked_fraction = masked.detach()
        return value

    _compute_loss.masked_fraction = None
    _compute_loss.loss = loss
    return _compute_loss
