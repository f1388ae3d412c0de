"""Regeneration (Algorithm 1's ``D_i <- M_i(D_i)``): a split rewritten by its model, window by window.

The authors' sliding window: a split's paragraphs are tokenized as one stream (joined by a blank line, as training
reads them); its first ``new_tokens`` tokens are kept and every later window of ``new_tokens`` tokens is replaced by
the model's continuation of its context, decoded by beam search (:mod:`fortifai.lm.decoding`). A window's context:

- ``regeneration_context="stream"`` (the first runs): the (up to) ``context_tokens`` tokens before it in the
  stream, across paragraphs, each window prefilled alone. For independent leads, a paragraph's opening is then
  written as a continuation of the previous, unrelated lead.
- ``regeneration_context="paragraph"``: its own paragraph's text before it, a paragraph's first ``new_tokens``
  kept as the split's first window is. Every window of a paragraph then forks from one causal prefill of that
  paragraph: same positions, same attention as prefilling the window alone, so the same tokens up to float
  rounding (``benchmarks/recursive.py`` counts the identical windows), at a fraction of the prefill cost.

    paragraphs, stats = regenerate(model, tokenizer, split, config)   # stats: windows, tokens/s, ...
"""

from __future__ import annotations

import time

from .config import RecursiveConfig


def regenerate(model, tokenizer, texts: list[str], config: RecursiveConfig, progress: bool = True,
               shared_prefill: bool = True) -> tuple[list[str], dict]:
    """Regenerate a split with the model: the authors' sliding window over its token stream.

    With ``paragraph_separator="blank_line"`` the windows are cut within each paragraph (``new_tokens`` from its
    start; the last one, shorter, keeps the first tokens of a ``new_tokens`` continuation) and the break tokens are
    kept: a regenerated split has the paragraphs of its input, and a newline the model writes inside a paragraph
    becomes a space. With ``"eos"`` (the first committed runs) the windows run over the whole stream and the text
    is split back at whatever blank lines it holds. Every window generates exactly ``new_tokens`` tokens (no early
    EOS) and keeps as many as it had. ``shared_prefill=False`` prefills every window of a paragraph context alone
    (the reference the shared prefill is checked against).
    """
    from ..lm.lmdata import PARAGRAPH_BREAK

    step = config.new_tokens
    paragraph = config.regeneration_context == "paragraph"
    if config.paragraph_separator == "blank_line":
        stream, segments = paragraph_stream(tokenizer, texts)
        # (start, length kept, floor of its context)
        windows = [(s, min(step, b - s), a if paragraph else 0) for a, b in segments for s in range(a, b, step)
                   if s - (a if paragraph else 0) >= step]
    else:
        stream = tokenizer(PARAGRAPH_BREAK.join(texts), add_special_tokens=False)["input_ids"]
        windows = [(s, min(step, len(stream) - s), 0) for s in range(step, len(stream), step)]
    started = time.perf_counter()
    # every window generates new_tokens and keeps as many as it had: one batch shape for all (a paragraph's last
    # window, shorter, would otherwise make a batch of its own length)
    planned = [(s, step, floor) for s, _, floor in windows]
    if paragraph and shared_prefill and config.num_beams > 1 and not config.do_sample:
        pieces = _generate_paragraph_windows(model, tokenizer, stream, planned, config, progress)
    else:
        pieces = _generate_windows(model, tokenizer, stream, planned, config, progress)
    seconds = time.perf_counter() - started
    new_stream = list(stream)
    for s, length, _ in windows:
        new_stream[s:s + length] = pieces[s][:length]
    if config.paragraph_separator == "blank_line":
        paragraphs = [" ".join(tokenizer.decode(new_stream[a:b], skip_special_tokens=True).split())
                      for a, b in segments]
    else:
        text = tokenizer.decode(new_stream, skip_special_tokens=True)
        paragraphs = [p.strip() for p in text.split(PARAGRAPH_BREAK) if p.strip()]
    generated = sum(length for _, length, _ in windows)
    stats = dict(windows=len(windows), generated_tokens=generated, seconds=seconds,
                 tokens_per_second=generated / seconds if seconds > 0 else None,
                 input_tokens=len(stream), output_tokens=len(new_stream))
    return paragraphs, stats


def paragraph_stream(tokenizer, texts: list[str]) -> tuple[list[int], list[tuple[int, int]]]:
    """The token stream of ``texts`` joined by a blank line (as training tokenizes a split) and, per paragraph,
    the ``[start, end)`` token range that lies within it (from the fast tokenizer's character offsets); the tokens
    between two ranges are the break."""
    from ..lm.lmdata import PARAGRAPH_BREAK

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("paragraph_separator='blank_line' needs a fast tokenizer (character offsets)")
    encoded = tokenizer(PARAGRAPH_BREAK.join(texts), add_special_tokens=False, return_offsets_mapping=True)
    bounds, at = [], 0
    for text in texts:
        bounds.append((at, at + len(text)))
        at += len(text) + len(PARAGRAPH_BREAK)
    segments = []
    for lo, hi in bounds:
        inside = [j for j, (a, b) in enumerate(encoded["offset_mapping"]) if a >= lo and b <= hi and b > a]
        segments.append((inside[0], inside[-1] + 1) if inside else (0, 0))
    return encoded["input_ids"], [seg for seg in segments if seg[1] > seg[0]]


def _eos_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [t for t in (eos if isinstance(eos, list) else [eos]) if t is not None]  # generate()'s choice


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _generate_windows(model, tokenizer, stream: list[int], windows: list[tuple[int, int, int]],
                      config: RecursiveConfig, progress: bool) -> dict[int, list[int]]:
    """``{start: tokens}``: for each window ``(start, length, floor)``, ``length`` tokens continuing the (up to)
    ``context_tokens`` tokens of ``stream`` before ``start`` and from ``floor`` on, each window prefilled alone;
    batched by window length, longest contexts first."""
    import torch
    from tqdm.auto import tqdm

    from ..lm.decoding import beam_search

    context = config.context_tokens
    device = next(model.parameters()).device
    pad = _pad_id(tokenizer)
    # beam search as generate() does it, with each window's prompt run once instead of once per beam
    shared_prefill = config.num_beams > 1 and not config.do_sample
    eos_token_ids = _eos_ids(model)
    order = sorted(windows, key=lambda w: (-w[1], -min(w[0] - w[2], context)))  # batches of one length, similar contexts
    size = config.generation_batch_size
    batches = [[w for w in order if w[1] == n] for n in sorted({w[1] for w in windows}, reverse=True)]
    batches = [group[i:i + size] for group in batches for i in range(0, len(group), size)]
    pieces: dict[int, list[int]] = {}
    model.eval()
    for batch in tqdm(batches, desc="regenerate", disable=not progress, leave=False):
        length = batch[0][1]
        rows = [stream[max(floor, s - context):s] for s, _, floor in batch]
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        with torch.no_grad():
            if shared_prefill:
                out = beam_search(model, input_ids, attention, config.num_beams, length, config.repetition_penalty,
                                  eos_token_ids)
            else:
                kwargs = dict(temperature=config.temperature, top_p=config.top_p) if config.do_sample else {}
                out = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=length,
                                     min_new_tokens=length, num_beams=config.num_beams, do_sample=config.do_sample,
                                     repetition_penalty=config.repetition_penalty, pad_token_id=pad,
                                     **kwargs)[:, width:]
        for (s, _, _), row in zip(batch, out.tolist()):
            pieces[s] = row[:length]
    return pieces


def _generate_paragraph_windows(model, tokenizer, stream: list[int], windows: list[tuple[int, int, int]],
                                config: RecursiveConfig, progress: bool) -> dict[int, list[int]]:
    """As :func:`_generate_windows` for paragraph contexts (``floor`` = the paragraph's first token), with one
    prefill per paragraph: the paragraph's tokens up to its last window run once, causally; each window's KV cache
    is that prefill's first ``start - floor`` positions and its first logits those at ``start - floor - 1``. Windows
    of several paragraphs decode together (left-padded caches, as the per-window path pads its prompts). A window
    whose paragraph context exceeds ``context_tokens`` is prefilled alone, as the per-window path would."""
    import torch
    from tqdm.auto import tqdm
    from transformers import DynamicCache

    from ..lm.decoding import _cache_arg, decode_from_cache, prefix_shared_cache

    context, size = config.context_tokens, config.generation_batch_size
    device = next(model.parameters()).device
    pad = _pad_id(tokenizer)
    fits = [w for w in windows if w[0] - w[2] <= context]
    pieces = _generate_windows(model, tokenizer, stream, [w for w in windows if w[0] - w[2] > context], config,
                               progress) if len(fits) < len(windows) else {}
    by_paragraph: dict[int, list[tuple[int, int, int]]] = {}
    for w in fits:
        by_paragraph.setdefault(w[2], []).append(w)
    # paragraphs in order of their prefill length, grouped until a group holds a decoding batch of windows
    groups, current = [], []
    for floor in sorted(by_paragraph, key=lambda f: (max(s for s, _, _ in by_paragraph[f]) - f, f)):
        current.append(floor)
        if sum(len(by_paragraph[f]) for f in current) >= size:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    model.eval()
    for group in tqdm(groups, desc="regenerate", disable=not progress, leave=False):
        prompts = [stream[f:max(s for s, _, _ in by_paragraph[f])] for f in group]
        width = max(map(len, prompts))
        ids = torch.tensor([p + [pad] * (width - len(p)) for p in prompts], device=device)
        mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in prompts], device=device)
        positions = torch.arange(width, device=device).expand(len(prompts), -1)
        # logits only where a window starts (at most width // new_tokens positions)
        starts = sorted({s - f - 1 for f in group for s, _, _ in by_paragraph[f]})
        keep = torch.tensor(starts, device=device)
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                        logits_to_keep=keep, **{_cache_arg(model): DynamicCache(config=model.config)})
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        column = {c: j for j, c in enumerate(starts)}
        forks = [(p, w) for p, f in enumerate(group) for w in by_paragraph[f]]
        for i in range(0, len(forks), size):
            batch = forks[i:i + size]
            lengths = [s - floor for _, (s, _, floor) in batch]
            span = max(lengths)
            cache = []
            for keys, values in layers:
                k = keys.new_zeros((len(batch), keys.shape[1], span, keys.shape[3]))
                v = values.new_zeros((len(batch), values.shape[1], span, values.shape[3]))
                for r, ((p, _), n) in enumerate(zip(batch, lengths)):
                    k[r, :, span - n:] = keys[p, :, :n]
                    v[r, :, span - n:] = values[p, :, :n]
                cache.append((k, v))
            rows = [stream[floor:s] for _, (s, _, floor) in batch]
            input_ids = torch.tensor([[pad] * (span - len(r)) + r for r in rows], device=device)
            attention = torch.tensor([[0] * (span - len(r)) + [1] * len(r) for r in rows], device=device)
            logits = torch.stack([out.logits[p, column[n - 1]] for (p, _), n in zip(batch, lengths)])
            next_position = torch.tensor(lengths, device=device)[:, None]
            length = batch[0][1][1]
            new = decode_from_cache(model, prefix_shared_cache(cache, length), logits, input_ids, attention,
                                    next_position, config.num_beams, length, config.repetition_penalty,
                                    _eos_ids(model))
            for (_, (s, _, _)), row in zip(batch, new.tolist()):
                pieces[s] = row[:length]
    return pieces
