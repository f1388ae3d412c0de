"""Distribution drift of generated text: unigram KL divergence (Fig. 7, A3) and the confidence gap (Fig. 1).

KL divergence: the token unigram distribution of generated text ``P`` against that of the original text ``Q``,
``KL(P || Q) = sum_v P(v) log(P(v) / Q(v))`` (the direction of the authors' notebook), over the tokenizer's
vocabulary. A token that one text never uses has probability 0, so the plain formula is undefined; two fixes:

  ``method="authors"``   the authors' ``kl-divregence.ipynb``: normalise the counts, then replace every 0 by
                         ``epsilon = 1e-10`` in both distributions (without renormalising) and sum.
  ``method="smoothed"``  additive (Lidstone) smoothing of the counts, ``(count + alpha) / (N + alpha V)``: proper
                         distributions, a finite KL, and less weight on tokens seen once.

With the authors' epsilon a token the original text never uses but the generated text does costs
``P(v) log(P(v) / 1e-10)``, about ``23 P(v)`` nats: such tokens dominate, so report both.

Confidence gap: the probability a model gives each target token (``p_t`` of the paper, the quantity TCE
truncates) on (a) text it was trained on, (b) real text it has not seen, (c) text it generated.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

KL_METHODS = ("authors", "smoothed")


def _flat(tokens) -> np.ndarray:
    """Token ids as one flat int array (a flat sequence or a list of per-text sequences)."""
    if isinstance(tokens, np.ndarray):
        return tokens.ravel().astype(np.int64)
    tokens = list(tokens)
    if tokens and not np.isscalar(tokens[0]):
        tokens = [t for seq in tokens for t in seq]
    return np.asarray(tokens, dtype=np.int64)


def token_counts(tokens, vocab_size: int) -> np.ndarray:
    """Counts of each token id in ``0 .. vocab_size - 1``."""
    ids = _flat(tokens)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, vocab_size={vocab_size}), got [{ids.min()}, {ids.max()}]")
    return np.bincount(ids, minlength=vocab_size).astype(np.float64)


def kl_from_counts(p_counts: np.ndarray, q_counts: np.ndarray, method: str = "authors", epsilon: float = 1e-10,
                   alpha: float = 0.5) -> float:
    """``KL(P || Q)`` in nats from two count vectors over the same vocabulary (see the module docstring)."""
    if method not in KL_METHODS:
        raise ValueError(f"method must be one of {KL_METHODS}, got {method!r}")
    p_counts, q_counts = np.asarray(p_counts, dtype=np.float64), np.asarray(q_counts, dtype=np.float64)
    if p_counts.shape != q_counts.shape:
        raise ValueError(f"the two count vectors must have the same vocabulary, got {p_counts.shape} and {q_counts.shape}")
    if p_counts.sum() <= 0 or q_counts.sum() <= 0:
        raise ValueError("both texts must contain at least one token")
    if method == "authors":
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        p, q = p_counts / p_counts.sum(), q_counts / q_counts.sum()
        p, q = np.where(p == 0, epsilon, p), np.where(q == 0, epsilon, q)
    else:
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}")
        p = (p_counts + alpha) / (p_counts.sum() + alpha * p_counts.size)
        q = (q_counts + alpha) / (q_counts.sum() + alpha * q_counts.size)
    return float(np.sum(p * np.log(p / q)))


def unigram_kl(generated, original, vocab_size: int, method: str = "authors", epsilon: float = 1e-10,
               alpha: float = 0.5) -> float:
    """``KL(generated || original)`` of the token unigram distributions (token ids, flat or per text)."""
    return kl_from_counts(token_counts(generated, vocab_size), token_counts(original, vocab_size), method, epsilon, alpha)


def unigram_kl_report(generated_splits: Sequence, original_splits: Sequence, vocab_size: int,
                      epsilon: float = 1e-10, alpha: float = 0.5) -> dict[str, Any]:
    """KL per split (generated split ``k`` against original split ``k``) and in total, both methods."""
    if len(generated_splits) != len(original_splits):
        raise ValueError(f"need one original split per generated split, got {len(generated_splits)} and {len(original_splits)}")
    gen = [token_counts(t, vocab_size) for t in generated_splits]
    orig = [token_counts(t, vocab_size) for t in original_splits]

    def both(p, q) -> dict[str, float]:
        return {m: kl_from_counts(p, q, m, epsilon, alpha) for m in KL_METHODS}

    return {"splits": [{"split": k, "tokens": int(p.sum()), **both(p, q)} for k, (p, q) in enumerate(zip(gen, orig))],
            "total": {"tokens": int(sum(p.sum() for p in gen)), **both(sum(gen), sum(orig))},
            "epsilon": epsilon, "alpha": alpha}


def tokenize(tokenizer, texts: Iterable[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens (what the unigram distributions count)."""
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


# ----------------------------------------------------------------------------------------- confidence gap

def token_probabilities(model, tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int = 512,
                        progress: bool = False) -> np.ndarray:
    """The probability the model gives each token of each text after the first (one flat array).

    Texts are tokenized without special tokens and cut into windows of ``max_length`` tokens; each window's
    first token is context only. Batched with right padding; the padding never enters a probability.
    """
    import torch

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a list of strings")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    windows = [ids[s:s + max_length] for ids in tokenize(tokenizer, texts) for s in range(0, len(ids), max_length)]
    windows = [w for w in windows if len(w) >= 2]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = [windows[b:b + batch_size] for b in range(0, len(windows), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="token probabilities", unit="batch")
    out = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for batch in batches:
            width = max(map(len, batch))
            ids = torch.tensor([w + [pad_id] * (width - len(w)) for w in batch], device=device)
            mask = torch.tensor([[1] * len(w) + [0] * (width - len(w)) for w in batch], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
            for r, w in enumerate(batch):
                out.append(logp[r, :len(w) - 1].exp().double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def confidence_summary(probabilities, thresholds: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.99)) -> dict[str, Any]:
    """Mean, median, 10 %/90 % quantiles, mean log-probability and the share of tokens above each threshold."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size == 0:
        raise ValueError("no token probabilities to summarise")
    q10, median, q90 = np.quantile(p, [0.1, 0.5, 0.9])
    return {"n_tokens": int(p.size), "mean": float(p.mean()), "median": float(median), "q10": float(q10),
            "q90": float(q90), "mean_log_prob": float(np.log(np.clip(p, 1e-300, None)).mean()),
            "share_above": {str(t): float((p > t).mean()) for t in thresholds}}


def confidence_gap(model, tokenizer, texts: Mapping[str, Sequence[str]], batch_size: int = 8, max_length: int = 512,
                   progress: bool = False) -> dict[str, Any]:
    """Per-token probabilities and their summaries for each named set of texts (e.g. trained/unseen/generated).

    Returns ``{"summaries": {name: confidence_summary}, "probabilities": {name: array}}``; the gap the paper
    shows is the difference of the means (or of the shares above 0.9) between the sets.
    """
    if not texts:
        raise ValueError("texts must name at least one set of texts, e.g. {'trained': [...], 'unseen': [...]}")
    probs = {name: token_probabilities(model, tokenizer, list(t), batch_size, max_length, progress)
             for name, t in texts.items()}
    return {"summaries": {name: confidence_summary(p) for name, p in probs.items()}, "probabilities": probs}


CONFIDENCE_BINS = 20  # histogram of p(target) over [0, 1]


def confidence_profile(model, tokenizer, texts: Mapping[str, Sequence[str]], batch_size: int,
                       max_length: int) -> dict[str, Any]:
    """Per named text set: the summary of the model's per-token probabilities of the target and their histogram
    (:data:`CONFIDENCE_BINS` bins over [0, 1]), as the engine records them at every stage (Fig. 1)."""
    model.eval()
    gap = confidence_gap(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    return profile_of(gap["probabilities"])


def profile_of(probabilities: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per named set of per-token probabilities: their summary and histogram, as :func:`confidence_profile`."""
    edges = np.linspace(0, 1, CONFIDENCE_BINS + 1)
    return {name: {**confidence_summary(p), "histogram": np.histogram(p, edges)[0].tolist()}
            for name, p in probabilities.items()}
