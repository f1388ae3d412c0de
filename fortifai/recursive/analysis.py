"""Reading finished runs: KR accuracy per stage, the stage table, the KL of the regenerations, time to failure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..results import read_json
from .config import KR_FAILURE_THRESHOLD
from .protocol import read_run_data


def kr_accuracy(stage: dict, splits: list[int] | None = None) -> float | None:
    """KR accuracy of one stage's metrics over the items of ``splits`` (all splits: KR-total)."""
    kr = stage["kr"]
    keys = [str(k) for k in splits] if splits is not None else list(kr)
    correct = [c for k in keys if k in kr for c in kr[k]["correct"]]
    return sum(correct) / len(correct) if correct else None


def stage_table(result: dict) -> list[dict[str, Any]]:
    """One row per stage of a run: KR split 0, KR over the splits seen so far, KR-total, held-out CE/perplexity."""
    rows = []
    for stage in result["stages"]:
        i = stage["stage"]
        rows.append(dict(
            stage=i, kr_split0=kr_accuracy(stage, [0]), kr_seen=kr_accuracy(stage, list(range(i + 1))),
            kr_total=kr_accuracy(stage), heldout_loss=stage["train"]["heldout_loss"],
            heldout_perplexity=stage["train"]["heldout_perplexity"], real_fraction=stage["train"]["real_fraction"],
        ))
    return rows


def generated_kl(run_dir: str | Path) -> list[dict[str, Any]]:
    """Per stage, the unigram KL of each regenerated split to its real original (Fig. 7), from the run's files.

    Counted over words (whitespace tokens), so that it needs no tokenizer and compares runs of different
    models on the same footing; both the authors' epsilon treatment and the smoothed variant
    (:func:`fortifai.recursive.divergence.unigram_kl_report`).
    """
    from .divergence import unigram_kl_report

    run_dir = Path(run_dir)
    data = read_run_data(run_dir)
    stages = sorted((int(p.name.split("_")[1]), p) for p in run_dir.glob("stage_*") if (p / "generated.json").is_file())
    generated = {i: read_json(p / "generated.json") for i, p in stages}
    vocabulary: dict[str, int] = {}
    for texts in [data["splits"]] + [list(g.values()) for g in generated.values()]:
        for split in texts:
            for text in split:
                for word in text.split():
                    vocabulary.setdefault(word, len(vocabulary))

    def ids(texts: list[str]) -> list[int]:
        return [vocabulary[w] for t in texts for w in t.split()]

    out = []
    for i, gen in generated.items():
        keys = sorted(gen, key=int)
        report = unigram_kl_report([ids(gen[k]) for k in keys], [ids(data["splits"][int(k)]) for k in keys],
                                   vocab_size=len(vocabulary))
        out.append({"stage": i, "splits": [int(k) for k in keys], **report})
    return out


def time_to_failure(kr_split0: list[float], threshold: float = KR_FAILURE_THRESHOLD) -> float:
    """Stages until the KR split-0 accuracy first falls below ``threshold``, linearly interpolated (Sec. 4.5).

    0 when it starts below; inf when it never falls below within the run.
    """
    values = [v for v in kr_split0]
    if not values or values[0] < threshold:
        return 0.0
    for i in range(1, len(values)):
        if values[i] < threshold:
            return (i - 1) + (values[i - 1] - threshold) / (values[i - 1] - values[i])
    return math.inf


