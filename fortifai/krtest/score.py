"""Scoring KR questions: log-probabilities of the true and false continuations, batched over a prefix tree."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .format import KRFormatError, KRQuestion, validate_questions

NORMALIZATIONS = ("mean", "first_k")
SHARINGS = ("tree", "none")


def continuation_ids(tokenizer, questions: Sequence[KRQuestion], delimiter: str):
    """Token ids of each context and of each continuation, tokenized separately (lm-eval's convention)."""
    def encode(texts):
        return tokenizer(list(texts), add_special_tokens=False)["input_ids"]

    contexts = encode(q.context for q in questions)
    trues = encode(delimiter + q.sentence_true for q in questions)
    falses = encode(delimiter + q.sentence_false for q in questions)
    return contexts, trues, falses


def question_sequences(tokenizer, questions: Sequence[KRQuestion], delimiter: str, max_length: int):
    """Two token sequences per question, context + true and context + false (``[true_0, false_0, true_1, ...]``),
    each cut to its last ``max_length`` tokens, and the index of each one's first continuation token."""
    contexts, trues, falses = continuation_ids(tokenizer, questions, delimiter)
    sequences, starts = [], []
    for ctx, true, false in zip(contexts, trues, falses):
        if not true or not false:
            raise KRFormatError("a continuation tokenized to zero tokens")
        for cont in (true, false):
            if len(cont) >= max_length:
                raise KRFormatError(f"a continuation is {len(cont)} tokens, max_length={max_length} leaves no context")
            seq = (ctx + cont)[-max_length:]
            sequences.append(seq)
            starts.append(len(seq) - len(cont))
    return sequences, starts


def _check_scoring_args(questions, batch_size, normalization) -> list[KRQuestion]:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return validate_questions(list(questions), duplicates="keep")  # a repeated question is scored again


def reduce_scores(token_logprobs: Sequence[np.ndarray], normalization: str = "mean") -> np.ndarray:
    """Scores ``(n, 2)`` from per-token log-probabilities ``[true_0, false_0, true_1, ...]`` (see
    :func:`score_questions` with ``return_tokens=True``): ``"mean"`` over all tokens or the authors' ``"first_k"``."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalization == "mean":
        return np.array([lp.mean() for lp in token_logprobs]).reshape(-1, 2)
    k = np.repeat([min(len(t), len(f)) for t, f in zip(token_logprobs[0::2], token_logprobs[1::2])], 2)
    return np.array([lp[:kk].mean() for lp, kk in zip(token_logprobs, k)]).reshape(-1, 2)


def _head_logprobs(model, hidden, targets, chunk: int = 256):
    """log p(target) from decoder states: the LM head and a log-sum-exp, ``chunk`` positions at a time.

    The LM head over a large vocabulary costs as much as many decoder layers, so it runs only where a
    continuation token is predicted, and in chunks so that all positions' logits never sit in memory at once.
    """
    import torch

    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma-2/3 squash logits after the head
    out = []
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start:start + chunk]).float()  # upcast before the softmax, as CE does
        if cap:
            logits = torch.tanh(logits / cap) * cap
        out.append(logits.gather(-1, targets[start:start + chunk, None])[:, 0] - torch.logsumexp(logits, -1))
    return torch.cat(out) if out else torch.zeros(0)


def _decoder(model):
    """The model's decoder (everything before the LM head), or None when it cannot be split off."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if decoder is None or decoder is model or model.get_output_embeddings() is None:
        return None
    return decoder


def _target_logprobs(model, ids, mask, positions, rows, cols, targets):
    """log p(target) at the (rows, cols) positions of a batch; a full forward for models without a decoder."""
    import torch

    decoder = _decoder(model)
    if decoder is None:
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[rows, cols].float()
        return torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0]
    hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state[rows, cols]
    return _head_logprobs(model, hidden, targets)


def prefix_tree(sequences):
    """The prefix tree (trie) of token sequences: ``tokens``, ``parents`` and ``depths`` per node (a parent is
    always listed before its children) and, per sequence, the node of each of its tokens."""
    tokens, parents, depths, paths, child = [], [], [], [], {}
    for seq in sequences:
        parent, path = -1, []
        for depth, token in enumerate(seq):
            node = child.get((parent, token))
            if node is None:
                node = child[(parent, token)] = len(tokens)
                tokens.append(token)
                parents.append(parent)
                depths.append(depth)
            path.append(node)
            parent = node
        paths.append(path)
    return tokens, parents, depths, paths


def _tree_mask(parents, width):
    """Additive attention mask ``(width, width)`` in which each node sees itself and its ancestors only (rows past
    the tree, padding, see themselves so that no softmax row is empty)."""
    import torch

    allowed = np.zeros((width, width), dtype=bool)
    for node, parent in enumerate(parents):
        if parent >= 0:
            allowed[node] = allowed[parent]
        allowed[node, node] = True
    allowed[np.arange(len(parents), width), np.arange(len(parents), width)] = True
    mask = torch.zeros((width, width))
    mask[~torch.from_numpy(allowed)] = torch.finfo(torch.float32).min
    return mask


def tree_supported(model, longest: int) -> bool:
    """Tree attention needs a decoder split from its head, an attention that honours a custom 4D mask, and
    sequences inside any sliding window (one mask serves all layers)."""
    window = getattr(model.config, "sliding_window", None)
    return (_decoder(model) is not None and getattr(model.config, "_attn_implementation", None) in ("sdpa", "eager")
            and (not window or longest <= window))


def score_tree(model, sequences, starts, groups, batch_size: int = 32, pack_tokens: int = 512, progress: bool = False):
    """Per-token log-probabilities of each sequence's continuation (tokens ``starts[j]:``), every shared prefix
    run once.

    ``groups``: lists of sequence indices packed together (a KR question's true and false sequence; a text's one
    sequence). The sequences of a few groups are merged into their prefix tree and packed into one row: each node
    is one token at its depth as position, attending to its ancestors only (a 4D mask), so a context shared by the
    true and the false sentence, by several questions of a paragraph, or by a paragraph and its questions goes
    through the model once. Groups are sorted by their first sequence's tokens so that those sharing a prefix
    share a row; a row holds at most ``pack_tokens`` nodes (or one group's), a forward at most ``batch_size``
    groups. Needs :func:`tree_supported`.

    Long because packing, the tree mask and the forward pass share their index arrays; split, they would pass five.
    """
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(groups)), key=lambda i: (sequences[groups[i][0]], i))
    rows, current, nodes = [], [], set()  # rows of group indices; nodes: the current row's prefixes
    for i in order:
        prefixes = {tuple(sequences[j][:k]) for j in groups[i] for k in range(1, len(sequences[j]) + 1)}
        if current and len(nodes | prefixes) > pack_tokens:
            rows.append(current)
            current, nodes = [], set()
        current.append(i)
        nodes |= prefixes
    rows.append(current)
    forwards, batch = [], []
    for row in rows:
        if batch and sum(map(len, batch)) + len(row) > batch_size:
            forwards.append(batch)
            batch = []
        batch.append(row)
    forwards.append(batch)
    if progress:
        from tqdm.auto import tqdm

        forwards = tqdm(forwards, desc="KR-test", unit="batch")
    decoder = _decoder(model)
    token_logprobs: list[np.ndarray | None] = [None] * len(sequences)
    with torch.inference_mode():
        for batch in forwards:
            members = [[j for g in row for j in groups[g]] for row in batch]
            trees = [prefix_tree([sequences[j] for j in row]) for row in members]
            width = max(len(tree[0]) for tree in trees)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            positions = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.empty((len(batch), 1, width, width))
            wanted: dict[tuple[int, int, int], int] = {}  # (row, predicting node, target) -> index, deduplicated
            slots = {}
            for r, (row, (tokens, parents, depths, paths)) in enumerate(zip(members, trees)):
                ids[r, :len(tokens)] = torch.tensor(tokens)
                positions[r, :len(tokens)] = torch.tensor(depths)
                mask[r, 0] = _tree_mask(parents, width)
                for path, j in zip(paths, row):
                    seq = sequences[j]
                    slots[j] = [wanted.setdefault((r, path[k - 1], seq[k]), len(wanted))
                                for k in range(starts[j], len(seq))]
            hidden = decoder(input_ids=ids.to(device), attention_mask=mask.to(device),
                             position_ids=positions.to(device)).last_hidden_state
            keys = list(wanted)
            rows_t = torch.tensor([k[0] for k in keys])
            cols_t = torch.tensor([k[1] for k in keys])
            targets = torch.tensor([k[2] for k in keys], device=device)
            logprobs = _head_logprobs(model, hidden[rows_t, cols_t], targets).cpu().double().numpy()
            for j, slot in slots.items():
                token_logprobs[j] = logprobs[slot]
    return token_logprobs


def score_questions(model, tokenizer, questions: Sequence[KRQuestion | dict], batch_size: int = 32,
                    normalization: str = "mean", delimiter: str = " ", max_length: int | None = None,
                    sharing: str = "tree", pack_tokens: int = 512, return_tokens: bool = False,
                    progress: bool = False):
    """Scores ``(n, 2)``: the log-probability of [true, false] continuation given the context.

    ``normalization="mean"``: the mean over the continuation's tokens of their log-probabilities; ``"first_k"``:
    the authors' variant, the mean over the first ``k`` tokens, ``k`` the shorter of the two continuations.
    Context and ``delimiter + sentence`` are tokenized separately and concatenated (lm-eval's convention), no
    special tokens added. Sequences longer than ``max_length`` (default: the model's
    ``max_position_embeddings``) lose context tokens from the left.

    ``batch_size`` questions per forward. ``sharing="tree"`` (default): the sequences of neighbouring questions
    (sorted by their tokens) are merged into a prefix tree packed in rows of at most ``pack_tokens`` tokens,
    attending along the tree (a 4D mask), so that every shared prefix (the context of the true and the false
    sentence, the sentences before the change, a paragraph's first sentence common to its questions) runs once;
    the LM head and softmax run only where a continuation token is predicted. ``sharing="none"`` (and models the
    tree cannot serve: no decoder separate from the head, an attention without custom masks, a sliding window
    shorter than the sequences) runs each of the 2n sequences whole, left-padded, still batched. Works for
    ``transformers`` causal LMs whose forward accepts ``position_ids``. ``return_tokens=True`` returns the
    per-token log-probabilities ``[true_0, false_0, true_1, ...]`` instead, for :func:`reduce_scores` (both
    normalizations from one pass).

    Long because it checks its arguments, then chooses between the tree and the per-item fallback.
    """
    import torch

    questions = _check_scoring_args(questions, batch_size, normalization)
    if sharing not in SHARINGS:
        raise ValueError(f"sharing must be one of {SHARINGS}, got {sharing!r}")
    if not isinstance(pack_tokens, int) or isinstance(pack_tokens, bool) or pack_tokens < 1:
        raise ValueError(f"pack_tokens must be an int >= 1, got {pack_tokens!r}")
    if not questions:
        return np.zeros((0, 2))
    max_length = max_length or getattr(model.config, "max_position_embeddings", None) or 2048
    sequences, starts = question_sequences(tokenizer, questions, delimiter, max_length)
    device = next(model.parameters()).device
    if sharing == "tree" and tree_supported(model, max(map(len, sequences))):
        groups = [[2 * i, 2 * i + 1] for i in range(len(questions))]
        token_logprobs = score_tree(model, sequences, starts, groups, batch_size, pack_tokens, progress)
        return token_logprobs if return_tokens else reduce_scores(token_logprobs, normalization)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch_size *= 2  # sequences, two per question
    order = sorted(range(len(sequences)), key=lambda j: (-len(sequences[j]), j))
    token_logprobs: list[np.ndarray | None] = [None] * len(sequences)
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="KR-test", unit="batch")
    with torch.inference_mode():
        for batch in batches:
            width = len(sequences[batch[0]])
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            rows, cols = [], []
            for r, j in enumerate(batch):
                seq = sequences[j]
                ids[r, width - len(seq):] = torch.tensor(seq)
                mask[r, width - len(seq):] = 1
                first = width - len(seq) + starts[j]  # first scored token; predicted at the position before it
                rows += [r] * (width - first)
                cols += range(first - 1, width - 1)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
            targets = ids[rows_t, cols_t + 1].to(device)
            logprobs = _target_logprobs(model, ids.to(device), mask.to(device), positions.to(device), rows_t, cols_t,
                                        targets).cpu().double().numpy()
            offset = 0
            for j in batch:
                n = len(sequences[j]) - starts[j]
                token_logprobs[j] = logprobs[offset:offset + n]
                offset += n
    return token_logprobs if return_tokens else reduce_scores(token_logprobs, normalization)


def score_questions_per_item(model, tokenizer, questions: Sequence[KRQuestion | dict], normalization: str = "mean",
                             delimiter: str = " ", progress: bool = False) -> np.ndarray:
    """The per-item loop (the authors' way, and our speed baseline): each true/false pair in its own forward.

    Same tokenization and scores as :func:`score_questions`, but right-padded pairs and full logits.
    """
    import torch

    questions = _check_scoring_args(questions, 1, normalization)
    if not questions:
        return np.zeros((0, 2))
    contexts, trues, falses = continuation_ids(tokenizer, questions, delimiter)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(questions), 2))
    items = range(len(questions))
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="KR-test (per item)")
    with torch.inference_mode():
        for i in items:
            pair = [contexts[i] + trues[i], contexts[i] + falses[i]]
            width = max(map(len, pair))
            ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in pair])
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in pair])
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            k = min(len(trues[i]), len(falses[i])) if normalization == "first_k" else None
            for r, cont in enumerate((trues[i], falses[i])):
                start = len(contexts[i])
                lp = logprobs[r, start - 1:start - 1 + len(cont)].gather(-1, torch.tensor(cont).unsqueeze(-1)).squeeze(-1)
                lp = lp.double().numpy()
                out[i, r] = lp[:k].mean() if k else lp.mean()
    return out


