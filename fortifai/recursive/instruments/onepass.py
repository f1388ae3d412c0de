"""A stage's per-token measures in one packed pass: KR margins, real-text NLL and the confidence profile.

The three instruments read the same text: split 0's real paragraphs (NLL) are the KR questions' contexts and, at
M0, the trained text of the confidence profile; the held-out paragraphs are both NLL's and the profile's unseen
text. Scored apart (``evaluation: per_measure``), each pays for its own forward pass over them, padded to the
longest row of its batch. ``evaluation: one_pass`` puts every sequence of the three into the KR-test's prefix
tree (:func:`fortifai.krtest.score.score_tree`): a paragraph, its confidence windows and its questions share
their common prefix in one packed row, without padding, and the LM head runs only where a token is scored. The
values are those of the separate instruments to float rounding (``benchmarks/recursive.py`` on SmolLM2: 2e-6 on a
KR margin, 2e-5 on a token probability; the NLL differs by 1e-4, the padded pass's own fp32 rounding, while this
pass is within 1e-6 of a float64 reference: tests/test_fast_paths.py).

    kr, nll, probabilities = score_stage(model, tokenizer, kr_items, nll_texts, nll_max_length,
                                         confidence_texts, block_size, batch_size)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def supported(model, longest: int) -> bool:
    """Whether the one pass can serve ``model`` for sequences of ``longest`` tokens (else: per measure)."""
    from ...krtest.score import tree_supported

    return tree_supported(model, longest)


def score_stage(model, tokenizer, kr_items: Sequence[Sequence[dict]], nll_texts: Mapping[str, Sequence[str]],
                nll_max_length: int, confidence_texts: Mapping[str, Sequence[str]], block_size: int,
                batch_size: int = 16, pack_tokens: int = 512):
    """``(margins, nll, probabilities)``:

    - ``margins[k]``: per KR item of ``kr_items[k]``, the mean log-probability of the true continuation minus that
      of the false one (:func:`fortifai.krtest.score_questions`, ``normalization="mean"``);
    - ``nll[name]``: per paragraph of ``nll_texts[name]``, the mean NLL of its tokens 2..n, cut at
      ``nll_max_length`` tokens (:func:`.likelihood.paragraph_nll`);
    - ``probabilities[name]``: the probability of every token of ``confidence_texts[name]`` after the first of its
      ``block_size`` windows, in order (:func:`.divergence.token_probabilities`).
    """
    from ...krtest.format import validate_questions
    from ...krtest.score import question_sequences, score_tree
    from .divergence import tokenize

    max_length = getattr(model.config, "max_position_embeddings", None) or 2048
    sequences: list[list[int]] = []
    starts: list[int] = []
    groups: list[list[int]] = []

    def add(seqs: list[list[int]], firsts: list[int]) -> list[int]:
        index = list(range(len(sequences), len(sequences) + len(seqs)))
        sequences.extend(seqs)
        starts.extend(firsts)
        groups.append(index)
        return index

    kr_slots = []
    for items in kr_items:
        questions = validate_questions(list(items), duplicates="keep")
        seqs, firsts = question_sequences(tokenizer, questions, " ", max_length) if questions else ([], [])
        kr_slots.append([add(seqs[2 * q:2 * q + 2], firsts[2 * q:2 * q + 2]) for q in range(len(questions))])
    nll_slots = {}
    for name, texts in nll_texts.items():
        if isinstance(texts, str):
            raise ValueError(f"nll_texts[{name!r}] must be a list of strings, not one string")
        encoded = [ids[:nll_max_length] for ids in tokenize(tokenizer, texts)]
        short = [j for j, ids in enumerate(encoded) if len(ids) < 2]
        if short:
            raise ValueError(f"paragraphs {short} of {name!r} have fewer than 2 tokens: nothing to score")
        nll_slots[name] = [add([ids], [1])[0] for ids in encoded]
    confidence_slots = {}
    for name, texts in confidence_texts.items():
        windows = [ids[s:s + block_size] for ids in tokenize(tokenizer, texts) for s in range(0, len(ids), block_size)]
        confidence_slots[name] = [add([w], [1])[0] for w in windows if len(w) >= 2]
    if not sequences:
        return [[] for _ in kr_items], {}, {}
    was_training = model.training
    model.eval()
    logprobs = score_tree(model, sequences, starts, groups, batch_size=batch_size, pack_tokens=pack_tokens)
    model.train(was_training)
    margins = [[float(logprobs[t].mean() - logprobs[f].mean()) for t, f in slots] for slots in kr_slots]
    nll = {name: [float(-logprobs[j].mean()) for j in slots] for name, slots in nll_slots.items()}
    probabilities = {name: np.concatenate([np.exp(logprobs[j]) for j in slots]) if slots else np.zeros(0)
                     for name, slots in confidence_slots.items()}
    return margins, nll, probabilities
