"""The memory-lean path: ``hidden @ weight.T`` and the loss in chunks of tokens, never holding the (N, V) logits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .causal_lm import check_num_items, shifted_labels
from .functional import (
    REDUCTIONS,
    check_loss,
    resolve_loss_params,
    per_token_loss,
    upcast,
    dynamic_threshold,
    loss_from_token_ce,
)
from .spec import check_choice

# Memory-lean path: lm_head and loss in token chunks
# --------------------------------------------------------------------------------------------------


def _chunk_softmax_(z: torch.Tensor, safe_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Overwrite a chunk's float logits ``z`` with ``exp(z - rowmax)``; return the per-token ce and the row sums.

    No second ``(chunk, V)`` buffer: the softmax is ``z / sums``, and the gradient pass folds ``1 / sums`` into
    its per-token coefficient instead of dividing here.
    """
    z_max = z.amax(1, keepdim=True)
    z_target = z.gather(1, safe_target[:, None])
    sums = z.sub_(z_max).exp_().sum(1, keepdim=True)
    return (sums.log() + z_max - z_target).squeeze(1), sums


class _LinearLoss(torch.autograd.Function):
    """Loss of ``hidden @ weight.T`` computed in token chunks; the gradients are formed in the forward pass.

    This works because every loss here is a sum of per-token terms divided by a scalar that does not depend on
    the mask (or, for ``denominator="kept"``, by a count we know once all chunks are done and apply at the
    end), so each chunk's contribution to the gradient can be computed as soon as its logits exist, and the
    chunk's buffer can be reused for the next.

    Memory: one weight-gradient buffer, accumulated in place over the chunks (float32 for half-precision
    weights), the ``(N, H)`` hidden gradient, and one ``(chunk, V)`` buffer that holds a chunk's logits, then
    their exponentials, then their gradient. The backward pass scales the stored gradients in place and hands
    these same buffers to autograd, so no second copy of the weight gradient is ever made; in exchange the
    backward can run once per forward (a second one, e.g. with ``retain_graph=True``, raises).
    """

    @staticmethod
    def forward(ctx, hidden, weight, target, loss, params, ignore_index, reduction, chunk_size,
                num_items_in_batch, need_hidden_grad, need_weight_grad):
        """One pass over the token chunks that computes the loss and, in the same pass, the gradients (kept in
        ``ctx``). Long because splitting it would split the one weight-gradient buffer it exists to keep."""
        n = hidden.shape[0]
        valid = target != ignore_index
        safe_target = torch.where(valid, target, 0)
        need_grad = need_hidden_grad or need_weight_grad
        acc = upcast(hidden[:0]).dtype  # float32 (float64 for float64 inputs)
        grad_hidden = torch.empty_like(hidden) if need_hidden_grad else None
        grad_weight = torch.empty_like(weight, dtype=acc) if need_weight_grad else None
        chunks = [(i, min(i + chunk_size, n)) for i in range(0, n, chunk_size)]
        buffer = torch.empty(min(chunk_size, n), weight.shape[0], dtype=acc, device=hidden.device)

        def chunk_logits(i, j):
            # Same arithmetic as the plain path: matmul in the input dtype, then float32 for the softmax. One
            # buffer serves every chunk (no allocation, no fresh pages per chunk).
            if hidden.dtype == acc:
                return torch.mm(hidden[i:j], weight.T, out=buffer[: j - i])
            return buffer[: j - i].copy_(hidden[i:j] @ weight.T)

        gamma = params.get("gamma")
        if loss == "tce_dynamic":
            # The threshold needs every token's p_t first: one pass for the per-token ce, then the gradient pass.
            ce_all = torch.empty(n, dtype=acc, device=hidden.device)
            for i, j in chunks:
                ce_all[i:j] = _chunk_softmax_(chunk_logits(i, j), safe_target[i:j])[0]
            gamma = dynamic_threshold(torch.exp(-ce_all), params["alpha"], valid)

        total = torch.zeros((), dtype=acc, device=hidden.device)
        kept = torch.zeros((), dtype=torch.long, device=hidden.device)
        # With a known denominator the chunk gradients are scaled as they are made; "kept" is applied at the end.
        if reduction == "sum" or (num_items_in_batch is None and params["denominator"] == "kept"):
            scale = 1.0
        elif num_items_in_batch is not None:
            scale = 1.0 / num_items_in_batch
        else:
            scale = 1.0 / valid.sum().clamp_min(1)
        for c, (i, j) in enumerate(chunks):
            z = chunk_logits(i, j)
            ce, sums = _chunk_softmax_(z, safe_target[i:j])
            ce = torch.where(valid[i:j], ce, 0.0)
            if need_grad:  # d loss / d ce per token, by autograd through the one definition of the loss
                with torch.enable_grad():
                    ce = ce.requires_grad_()
                    token_loss, keep = per_token_loss(loss, params, ce, valid[i:j], gamma)
                    (coef,) = torch.autograd.grad(token_loss.sum(), ce)
                coef = torch.where(valid[i:j], coef, 0.0)
            else:
                token_loss, keep = per_token_loss(loss, params, ce, valid[i:j], gamma)
            total += token_loss.detach().sum()
            kept += keep.sum()
            if not need_grad:
                continue
            # d loss / d logits = coef * (softmax - onehot), built in the chunk's own buffer.
            coef = (coef * scale)[:, None]
            dz = z.mul_(coef / sums)
            dz.scatter_add_(1, safe_target[i:j, None], -coef)
            dz = dz.to(hidden.dtype)
            if need_hidden_grad:
                torch.mm(dz, weight, out=grad_hidden[i:j])
            if need_weight_grad:
                if dz.dtype == acc:  # straight into the buffer; beta=0 on the first chunk, so it need not be zeroed
                    grad_weight.addmm_(dz.T, hidden[i:j], beta=0 if c == 0 else 1)
                elif c == 0:  # half precision: the matmul in the input dtype (as the plain path), summed in float32
                    grad_weight.copy_(dz.T @ hidden[i:j])
                else:
                    grad_weight.add_(dz.T @ hidden[i:j])
        z = dz = buffer = None  # the chunk buffer goes before the gradients are handed on

        if reduction == "sum":
            out = total
        elif num_items_in_batch is not None:
            out = total / num_items_in_batch
        elif params["denominator"] == "kept":
            out = total / kept.clamp_min(1)
            for g in (grad_hidden, grad_weight):
                if g is not None:
                    g.div_(kept.clamp_min(1))
        else:
            out = total / valid.sum().clamp_min(1)
        masked = ((valid.sum() - kept) / valid.sum().clamp_min(1)).float()
        ctx.mark_non_differentiable(masked)
        if grad_weight is not None and grad_weight.dtype != weight.dtype:
            grad_weight = grad_weight.to(weight.dtype)
        # Kept on ctx rather than save_for_backward: backward hands these very tensors on and drops its hold.
        ctx.grads = (grad_hidden, grad_weight)
        return out, masked

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_masked):
        if ctx.grads is None:
            raise RuntimeError(
                "linear_cross_entropy: backward ran a second time through the same graph; its gradients are "
                "formed in the forward pass and handed on in place, so run the forward again (no retain_graph)"
            )
        grads, ctx.grads = ctx.grads, None
        grad_hidden, grad_weight = (g.mul_(grad_out.to(g.dtype)) if g is not None else None for g in grads)
        del grads
        return grad_hidden, grad_weight, None, None, None, None, None, None, None, None, None


# linear_cross_entropy's default chunk, in bytes of float32 logits. CPU: small enough that the chunk buffer stays
# under a quarter of the logits at LLM-head shapes (benchmarks/losses.py). CUDA: larger, because every chunk reads
# the whole weight twice and launches its own kernels (not yet measured: benchmarks/gpu_check.py times 1024- and
# 4096-token chunks beside it).
CHUNK_BYTES = 128 * 2**20
CHUNK_BYTES_CUDA = 2**30


def default_chunk_size(vocab_size: int, device: torch.device | str = "cpu") -> int:
    """Tokens per chunk that :func:`linear_cross_entropy` uses by default for a ``vocab_size`` head on ``device``."""
    budget = CHUNK_BYTES_CUDA if torch.device(device).type == "cuda" else CHUNK_BYTES
    return max(1, budget // (4 * vocab_size))


def _torch_linear_ce():
    """torch's own chunked ``F.linear_cross_entropy`` and its options class (torch >= 2.13), or None."""
    fn, options = getattr(F, "linear_cross_entropy", None), getattr(nn, "LinearCrossEntropyOptions", None)
    return (fn, options) if fn is not None and options is not None else None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    loss: str = "tce",
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    chunk_size: int | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """A named loss of the logits ``hidden @ weight.T`` without materialising the ``(N, V)`` logits.

    Equals ``LOSSES[loss](hidden @ weight.T, target, ...)`` in value and in the gradients of ``hidden`` and
    ``weight``, but holds at most ``chunk_size x V`` logits at a time. Peak memory is one weight gradient (which
    any path needs) plus one ``(chunk_size, V)`` float32 buffer, against about twice the ``(N, V)`` logits for
    the plain path. It does the same three matrix products but reads the whole weight twice per chunk: on 2 CPU
    cores, float32, 1.18x the plain path's time at (N, H, V) = (1024, 1024, 262k) and 1.09x at (4096, 2048, 128k),
    with 1,173 and 1,179 MB above the inputs against 2,069 and 4,025 MB (``benchmarks/losses.py``).

    ``reduction="mean"``/``"sum"`` run our chunked path, which forms the gradients in the forward pass and so
    computes each chunk's logits once. ``reduction="none"`` goes through torch's own chunked
    ``torch.nn.functional.linear_cross_entropy`` (torch >= 2.13; ``reduction="none"``, then the loss's mask or
    weight applied to its per-token CE by :func:`loss_from_token_ce`), because per-token outputs need a backward
    that recomputes the logits, which torch's does. We do not use torch's for the scalar reductions: measured on
    CPU (float32, 2 threads) at LLM-head shapes it is slower: its ``reduction="none"`` backward recomputes every
    chunk's logits (1.5-1.8x the plain path's time at our chunk size), its own chunk size for float32 is 2 tokens
    at a 262k vocabulary (14x), and its ``reduction="mean"`` (plain CE only) holds two weight gradients.

    Args:
        hidden: ``(N, H)`` final hidden states (after the model's last norm).
        weight: ``(V, H)`` the lm_head weight (``model.get_output_embeddings().weight``); no bias.
        target: ``(N,)`` next-token ids or ``ignore_index``.
        loss: ``"ce"`` | ``"tce"`` | ``"focal"`` | ``"tce_dynamic"``; ``**loss_kwargs`` are its parameters.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the last needs torch >= 2.13).
        chunk_size: tokens per chunk; default :func:`default_chunk_size`: as many as fit in 128 MB of float32
            logits on CPU (128 tokens for a 262k vocabulary), 1 GB on CUDA.
        num_items_in_batch: divide the sum by this instead (gradient accumulation, as in :func:`causal_lm_loss`).

    Returns:
        A scalar (``(N,)`` for ``"none"``), or ``(loss, masked_fraction)``. The backward pass of the scalar
        reductions runs once per forward: it hands on the gradients made in the forward pass in place.

    Long because of its argument checks and the two paths (torch's fused kernel, our chunks); the work is in _LinearLoss.
    """
    loss = check_loss(loss)
    if loss == "rmask":  # its draw is over the whole batch; a chunk sees only its own tokens
        raise ValueError("loss='rmask' draws its mask over the whole batch, the chunked path sees one chunk at a "
                         "time: use causal_lm_loss or random_mask_cross_entropy")
    params = resolve_loss_params(loss, loss_kwargs)
    check_choice("reduction", reduction, REDUCTIONS)
    check_num_items(num_items_in_batch, params)
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 2 or not hidden.is_floating_point():
        raise ValueError(f"hidden must be a floating-point tensor of shape (N, H), got {getattr(hidden, 'shape', hidden)}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[1] != hidden.shape[1]:
        raise ValueError(f"weight must have shape (V, H) with H = {hidden.shape[1]}, got {tuple(getattr(weight, 'shape', ()))}")
    if weight.dtype != hidden.dtype:
        raise ValueError(f"weight dtype {weight.dtype} must match hidden dtype {hidden.dtype}")
    if not isinstance(target, torch.Tensor) or target.shape != hidden.shape[:1]:
        raise ValueError(f"target must have shape (N,) = ({hidden.shape[0]},), got {tuple(getattr(target, 'shape', ()))}")
    if chunk_size is None:
        chunk_size = default_chunk_size(weight.shape[0], weight.device)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    target = target.to(hidden.device)
    if reduction == "none":
        if num_items_in_batch is not None:
            raise ValueError("num_items_in_batch divides a sum; it cannot be combined with reduction='none'")
        builtin = _torch_linear_ce()
        if builtin is None:
            raise ValueError(f"reduction='none' needs torch >= 2.13 (torch.nn.functional.linear_cross_entropy), this "
                             f"is torch {torch.__version__}; use reduction='mean'/'sum', or the logits path LOSSES[loss]")
        fn, options = builtin
        ce = fn(hidden, weight, target, reduction="none", ignore_index=ignore_index,
                options=options(batch_chunk_size=chunk_size, chunking_method=None))
        return loss_from_token_ce(upcast(ce), target, loss, ignore_index=ignore_index, reduction="none",
                                  return_masked_fraction=return_masked_fraction, **loss_kwargs)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(hidden.device)
    grad = torch.is_grad_enabled()
    out, masked = _LinearLoss.apply(
        hidden, weight, target, loss, params, ignore_index, reduction, chunk_size,
        num_items_in_batch, grad and hidden.requires_grad, grad and weight.requires_grad,
    )
    return (out, masked) if return_masked_fraction else out


def linear_causal_lm_loss(
    model: nn.Module,
    inputs: Mapping[str, Any],
    loss: str = "tce",
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
    return_masked_fraction: bool = False,
    **loss_kwargs,
):
    """Train a transformers causal LM with :func:`linear_cross_entropy`: no ``(B, T, V)`` logits, no second CE.

    Runs the model's decoder (``model.get_decoder()``) for the final hidden states and applies the lm_head
    weight chunk by chunk. For ``transformers.Trainer``, override ``compute_loss`` (the Trainer's documented
    extension point; a ``compute_loss_func`` only sees outputs whose logits are already made)::

        class LeanTrainer(Trainer):
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return linear_causal_lm_loss(model, inputs, "tce", gamma=0.9, num_items_in_batch=num_items_in_batch)

    Args:
        model: a causal LM whose logits are ``lm_head(decoder(...).last_hidden_state)`` with a bias-free
            lm_head and no logit soft-capping or scaling (Llama, Mistral, Qwen, Gemma-3 text, ...).
        inputs: the batch: ``labels`` ``(B, T)`` plus the decoder's inputs (``input_ids``, ``attention_mask``...).

    Returns:
        A scalar loss, or ``(loss, masked_fraction)``.
    """
    if "labels" not in inputs:
        raise ValueError("inputs must contain 'labels' (B, T)")
    config = getattr(model, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale"):
        if getattr(config, attr, None) not in (None, 1, 1.0):
            raise ValueError(f"linear_causal_lm_loss does not support models with {attr}={getattr(config, attr)}")
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise ValueError("linear_causal_lm_loss needs a bias-free lm_head")
    inputs = dict(inputs)
    labels = inputs.pop("labels")
    inputs.pop("num_items_in_batch", None)
    hidden = model.get_decoder()(**inputs).last_hidden_state
    target = shifted_labels(labels, ignore_index).reshape(-1)
    return linear_cross_entropy(
        hidden.reshape(-1, hidden.shape[-1]), head.weight, target, loss, ignore_index=ignore_index,
        chunk_size=chunk_size, num_items_in_batch=num_items_in_batch,
        return_masked_fraction=return_masked_fraction, **loss_kwargs,
    )
