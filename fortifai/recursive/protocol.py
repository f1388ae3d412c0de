"""Algorithm 1 without models: which splits a stage trains on, the splits themselves, and the run directory."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from ..results import read_json, versions, write_json
from .config import LEGACY, RecursiveConfig


def training_schedule(stage: int) -> list[tuple[int, int]]:
    """(split k, generation j) pairs that stage ``stage`` trains on: [(0, i), (1, i-1), ..., (i, 0)]."""
    return [(k, stage - k) for k in range(stage + 1)]


def make_splits(paragraphs: list[str], n_splits: int, per_split: int, heldout: int, seed: int,
                pretrain_paragraphs: int = 0, pretrain_seed: int = 0) -> dict[str, Any]:
    """Disjoint real splits of ``per_split`` paragraphs each, a held-out set, and the pretraining text ("rest").

    The pretraining text (a scratch model's, at most ``pretrain_paragraphs``; 0: all that is left) depends on
    ``pretrain_seed`` only, so that runs of every ``seed`` share one pretrained base model, as the paper's runs
    share one pretrained LLaMA; the splits and the held-out set are drawn by ``seed`` from the other paragraphs,
    so that no run trains or evaluates on text its base model saw. With ``seed == pretrain_seed`` the splits are
    the first paragraphs of the shuffled corpus. The splits take equal numbers of paragraphs, assigned
    round-robin over the length-sorted selection so that their token counts are close too.
    """
    import random

    needed = n_splits * per_split + heldout
    if len(paragraphs) < needed:
        raise ValueError(
            f"the dataset has {len(paragraphs)} usable paragraphs, the run needs {needed} "
            f"({n_splits} splits x split_paragraphs {per_split} + heldout_paragraphs {heldout}); "
            "lower split_paragraphs or choose a larger dataset"
        )

    def shuffled(by: int) -> list[int]:
        order = list(range(len(paragraphs)))
        random.Random(by).shuffle(order)
        return order

    pretraining = shuffled(pretrain_seed)[needed:]
    if pretrain_paragraphs:
        pretraining = pretraining[:pretrain_paragraphs]
    reserved = set(pretraining)
    order = [i for i in shuffled(seed) if i not in reserved]
    chosen = sorted(order[: n_splits * per_split], key=lambda i: (len(paragraphs[i]), i))
    splits = [[paragraphs[i] for i in chosen[k::n_splits]] for k in range(n_splits)]
    held = [paragraphs[i] for i in order[n_splits * per_split : needed]]
    return {"splits": splits, "heldout": held, "rest": [paragraphs[i] for i in pretraining]}


# --- the run directory ---------------------------------------------------------------------------


DATA_FOLDER = "_data"  # beside the run folders: each distinct data.json content once


def read_run_data(run_dir: str | Path) -> dict[str, Any]:
    """A run's real splits, held-out text and KR items: its ``data.json``, or the shared file it names."""
    run_dir = Path(run_dir)
    data = read_json(run_dir / "data.json")
    if "data_file" in data:
        return read_json(run_dir / data["data_file"])
    return data


class RunDirectory:
    """Where a run lives; refuses to mix parameters, knows which stages are finished."""

    def __init__(self, path: str | Path, config: RecursiveConfig, write: bool = True):
        self.path = Path(path)
        self.config = config
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / "manifest.json"
        params = dataclasses.asdict(config)
        if manifest.is_file():
            # a parameter added to fortifai after the run was made counts as its default, so old runs stay usable
            defaults = dataclasses.asdict(RecursiveConfig())
            previous = {**defaults, **LEGACY, **read_json(manifest)["params"]}
            changed = {k: (previous.get(k), v) for k, v in params.items() if previous.get(k) != v}
            if changed:
                detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(changed.items()))
                raise ValueError(
                    f"{self.path} holds a run with other parameters ({detail}); "
                    "use another output_dir, or the same parameters to resume"
                )
        elif write:
            write_json(manifest, {"params": params, "versions": versions(),
                                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def stage(self, i: int) -> Path:
        return self.path / f"stage_{i}"

    def write_data(self, data: dict[str, Any]) -> None:
        """Store the run's splits and KR items once per content: in ``../_data/<sha256>.json`` beside the run
        folders, so that the runs of one seed (every loss) share one copy; ``data.json`` names that file."""
        import hashlib

        text = json.dumps(data, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()
        shared = self.path.parent / DATA_FOLDER / f"{digest[:16]}.json"
        if not shared.is_file():
            write_json(shared, data)
        write_json(self.path / "data.json", {"data_file": f"../{DATA_FOLDER}/{shared.name}", "sha256": digest})

    def data(self) -> dict[str, Any]:
        return read_run_data(self.path)

    def finished(self, i: int) -> bool:
        return (self.stage(i) / "metrics.json").is_file()

    def first_unfinished(self) -> int:
        return next((i for i in range(self.config.stages) if not self.finished(i)), self.config.stages)


