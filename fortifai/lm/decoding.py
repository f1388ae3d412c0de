"""Beam search for the regeneration step, with the prompt run once per window instead of once per beam.

``model.generate(num_beams=5)`` copies every prompt five times before its first forward pass, so a 512-token
context costs five 512-token prefills for 32 new tokens. On a CPU that prefill is most of the cost of
regenerating a split (measured with SmolLM2-135M, 8 windows of 512 tokens: the one-prefill search took 0.58x
the time of ``generate``, ``benchmarks/recursive.py`` prints the ratio). :func:`beam_search` runs the
prompt once, repeats its KV cache over the beams, and then decodes exactly as ``generate`` does with
``num_beams=k, min_new_tokens=max_new_tokens=n, repetition_penalty=r, do_sample=False`` (the authors'
decoding, and the engine's): log-softmax, then the repetition penalty on the log-probabilities of every token
already in the row (prompt, its padding and the generated tokens), end-of-sequence forbidden until ``n``
tokens, the ``k`` best of all beams x vocabulary continuations kept, the best beam returned. The tests check
token-for-token equality with ``generate``.

    new_tokens = beam_search(model, input_ids, attention_mask, num_beams=5, new_tokens=32, repetition_penalty=3.0,
                             eos_token_ids=[tokenizer.eos_token_id])          # (batch, 32)
"""

from __future__ import annotations

from typing import Sequence

import torch


def _repetition_penalty(log_probs: torch.Tensor, sequences: torch.Tensor, penalty: float) -> torch.Tensor:
    """transformers' RepetitionPenaltyLogitsProcessor: tokens present in a row are divided (if positive) or
    multiplied (if negative) by ``penalty``; on log-probabilities, which are <= 0, that is a multiplication."""
    if penalty == 1.0:
        return log_probs
    picked = log_probs.gather(1, sequences)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return log_probs.scatter(1, sequences, picked)


@torch.no_grad()
def beam_search(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_beams: int, new_tokens: int,
                repetition_penalty: float = 1.0, eos_token_ids: Sequence[int] = ()) -> torch.Tensor:
    """The ``new_tokens`` tokens that beam search appends to each left-padded prompt row: ``(batch, new_tokens)``.

    The end-of-sequence tokens are forbidden (as ``min_new_tokens = max_new_tokens`` makes ``generate`` do), so
    every beam has the same length and the best one is the one with the highest summed log-probability.
    """
    from transformers import DynamicCache

    if num_beams < 1 or new_tokens < 1:
        raise ValueError(f"num_beams and new_tokens must be >= 1, got {num_beams} and {new_tokens}")
    cache = DynamicCache(config=model.config)
    positions = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True,
                logits_to_keep=1, **{_cache_arg(model): cache})
    return decode_from_cache(model, out.past_key_values, out.logits[:, -1, :], input_ids, attention_mask,
                             positions[:, -1:] + 1, num_beams, new_tokens, repetition_penalty, eos_token_ids)


def _cache_arg(model) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); older releases (a GPU box's 5.17) know only the
    first."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.no_grad()
def decode_from_cache(model, cache, logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      next_position: torch.Tensor, num_beams: int, new_tokens: int, repetition_penalty: float = 1.0,
                      eos_token_ids: Sequence[int] = ()) -> torch.Tensor:
    """Beam search from a prefilled prompt: ``cache`` holds the KV of the left-padded ``input_ids`` (their
    padding masked by ``attention_mask``), ``logits`` ``(batch, vocab)`` the next-token logits after each prompt,
    ``next_position`` ``(batch, 1)`` the position of the first new token. The ``new_tokens`` tokens appended to each
    row, as :func:`beam_search` returns them (which prefills, then calls this)."""
    if num_beams < 1 or new_tokens < 1:
        raise ValueError(f"num_beams and new_tokens must be >= 1, got {num_beams} and {new_tokens}")
    cache_arg = _cache_arg(model)
    batch, width = input_ids.shape
    device = input_ids.device
    eos = torch.tensor(sorted(set(int(e) for e in eos_token_ids if e is not None)), dtype=torch.long, device=device)
    # beams as rows: (batch * num_beams, ...); row b * num_beams + j is beam j of prompt b
    sequences = input_ids.repeat_interleave(num_beams, dim=0)
    mask = attention_mask.repeat_interleave(num_beams, dim=0)
    next_position = next_position.repeat_interleave(num_beams, dim=0)
    cache.batch_repeat_interleave(num_beams)
    logits = logits.float().repeat_interleave(num_beams, dim=0)
    scores = torch.full((batch, num_beams), -1e9, device=device)
    scores[:, 0] = 0.0  # the beams start identical: only the first one may expand at the first step
    offsets = (torch.arange(batch, device=device) * num_beams)[:, None]
    for step in range(new_tokens):
        log_probs = _repetition_penalty(torch.log_softmax(logits, dim=-1), sequences, repetition_penalty)
        if eos.numel():
            log_probs[:, eos] = -float("inf")
        vocab = log_probs.shape[-1]
        total = (log_probs.view(batch, num_beams, vocab) + scores[:, :, None]).view(batch, -1)
        scores, flat = torch.topk(total, num_beams, dim=-1)
        rows = (flat // vocab + offsets).view(-1)
        tokens = (flat % vocab).view(-1, 1)
        sequences = torch.cat([sequences[rows], tokens], dim=1)
        mask = torch.cat([mask[rows], torch.ones_like(tokens)], dim=1)
        if step == new_tokens - 1:
            break
        cache.reorder_cache(rows)
        out = model(input_ids=tokens, attention_mask=mask, position_ids=next_position, use_cache=True,
                    **{cache_arg: cache})
        cache, next_position = out.past_key_values, next_position + 1
        logits = out.logits[:, -1, :].float()
    best = scores.argmax(dim=-1) + offsets[:, 0]
    return sequences[best, width:]


def prefix_shared_cache(layers, capacity: int):
    """A KV cache for :func:`decode_from_cache` from per-layer ``(keys, values)`` ``(batch, heads, width, dim)`` of
    left-padded prompts, with room for ``capacity`` new tokens.

    Each layer writes new positions in place into a buffer allocated once (``DynamicCache`` concatenates at every
    step), and a beam reorder moves only the generated positions: the beams of a prompt share its ``width``
    prompt positions, and beam search reorders rows among the beams of one prompt, so those never change. Same
    values as a ``DynamicCache``; the reorder and the concatenation took a fifth of a regeneration's time.
    """
    from transformers.cache_utils import Cache, DynamicLayer

    class PrefixSharedLayer(DynamicLayer):
        def __init__(self, keys, values):
            super().__init__()
            self.shared = self.length = keys.shape[-2]
            self._k = keys.new_empty(keys.shape[:2] + (self.length + capacity, keys.shape[-1]))
            self._v = values.new_empty(values.shape[:2] + (self.length + capacity, values.shape[-1]))
            self._k[:, :, :self.length], self._v[:, :, :self.length] = keys, values
            self.device, self.dtype, self.is_initialized = keys.device, keys.dtype, True
            self._views()

        def _views(self):
            self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            n = key_states.shape[-2]
            if self.length + n > self._k.shape[-2]:
                raise ValueError(f"the cache holds {capacity} new tokens, asked for more")
            self._k[:, :, self.length:self.length + n] = key_states
            self._v[:, :, self.length:self.length + n] = value_states
            self.length += n
            self._views()
            return self.keys, self.values

        def reorder_cache(self, beam_idx):
            tail = slice(self.shared, self.length)
            self._k[:, :, tail] = self._k[beam_idx, :, tail]
            self._v[:, :, tail] = self._v[beam_idx, :, tail]

        def batch_repeat_interleave(self, repeats: int):
            self._k, self._v = self._k.repeat_interleave(repeats, 0), self._v.repeat_interleave(repeats, 0)
            self._views()

    return Cache(layers=[PrefixSharedLayer(k, v) for k, v in layers])
