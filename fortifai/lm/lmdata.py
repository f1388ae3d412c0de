"""Text to training blocks for causal LMs: concatenate the documents (EOS between them) and cut into blocks.

The same packing the Hugging Face language-modelling examples use (``group_texts``), as a plain torch
Dataset so that nothing is cached on disk behind the user's back. What a document is decides what a model
learns to write between paragraphs: :func:`split_documents` makes one document of a split, its paragraphs joined
by :data:`PARAGRAPH_BREAK`, the separator regeneration reads and writes, so that a regenerated split keeps its
paragraphs (with every paragraph its own document, the model never sees a blank line and never writes one).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


PARAGRAPH_BREAK = "\n\n"


def split_documents(splits: list[list[str]], separator: str = "blank_line") -> list[str]:
    """The documents training packs from ``splits`` (lists of paragraphs): one per split, its paragraphs joined by
    a blank line (``"blank_line"``), or one per paragraph (``"eos"``: EOS between every two paragraphs)."""
    if separator == "blank_line":
        return [PARAGRAPH_BREAK.join(split) for split in splits]
    if separator == "eos":
        return [p for split in splits for p in split]
    raise ValueError(f"separator must be 'blank_line' or 'eos', got {separator!r}")


def token_stream(tokenizer, texts: list[str]) -> list[int]:
    """All texts tokenized (no special tokens) and joined by the EOS token."""
    ids: list[int] = []
    eos = tokenizer.eos_token_id
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        if eos is not None:
            ids.append(eos)
    return ids


class BlockDataset(Dataset):
    """Consecutive blocks of ``block_size`` tokens; the remainder shorter than a block is dropped."""

    def __init__(self, ids: list[int], block_size: int):
        if block_size < 2:
            raise ValueError(f"block_size must be >= 2, got {block_size}")
        n = len(ids) // block_size
        self.blocks = torch.tensor(ids[: n * block_size], dtype=torch.long).view(n, block_size)

    def __len__(self) -> int:
        return self.blocks.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        block = self.blocks[i]
        return {"input_ids": block, "labels": block.clone()}


def block_dataset(tokenizer, texts: list[str], block_size: int) -> BlockDataset:
    return BlockDataset(token_stream(tokenizer, texts), block_size)
