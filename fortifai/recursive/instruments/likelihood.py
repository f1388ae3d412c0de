"""The likelihood of real text under each stage's model, paragraph by paragraph: the standard collapse measure.

Model collapse is usually read off the perplexity of *real* data under each generation's model (Shumailov et al.,
2024). Each stage stores the mean token negative log-likelihood of every original paragraph of split 0 (the split
regenerated most often; never its regenerated text) and of every held-out real paragraph, one number per
paragraph, so that stages, losses and arms can be paired paragraph by paragraph.

    nll = paragraph_nll(model, tokenizer, paragraphs)      # [mean NLL in nats of paragraph j's tokens 2..n]
"""

from __future__ import annotations

from typing import Sequence


def paragraph_nll(model, tokenizer, paragraphs: Sequence[str], batch_size: int = 16,
                  max_length: int = 512) -> list[float]:
    """Mean token NLL (nats) of each paragraph, scored alone: tokens 2..n given the ones before (at most
    ``max_length`` tokens; a longer paragraph is scored on its first ``max_length``). Evaluated in fp32."""
    import torch
    import torch.nn.functional as F

    if isinstance(paragraphs, str):
        raise ValueError("paragraphs must be a list of strings, not one string")
    encoded = [ids[:max_length] for ids in tokenizer(list(paragraphs), add_special_tokens=False)["input_ids"]]
    short = [j for j, ids in enumerate(encoded) if len(ids) < 2]
    if short:
        raise ValueError(f"paragraphs {short} have fewer than 2 tokens: nothing to score")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    out: list[float] = []
    for start in range(0, len(encoded), batch_size):
        rows = encoded[start:start + batch_size]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        keep = mask[:, 1:].float()
        out.extend(((nll * keep).sum(1) / keep.sum(1)).tolist())
    model.train(was_training)
    return out
