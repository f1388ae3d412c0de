"""Algorithm 1 without models: which splits a stage trains on, the splits themselves, and the run directory."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..results import (LOCK_FILE, DamagedFileError, RunFolderBusyError, git_commit, lock_run_folder,  # noqa: F401
                       read_json, run_folder_owner, unlock_run_folder, versions, write_json)
from .config import LEGACY, RecursiveConfig, run_folder_name


def training_schedule(stage: int) -> list[tuple[int, int]]:
    """(split k, generation j) pairs that stage ``stage`` trains on: [(0, i), (1, i-1), ..., (i, 0)]."""
    return [(k, stage - k) for k in range(stage + 1)]


def check_enough_paragraphs(usable: int, n_splits: int, per_split: int, heldout: int) -> None:
    """One ValueError unless ``usable`` paragraphs give ``n_splits`` splits of ``per_split`` and the held-out set."""
    needed = n_splits * per_split + heldout
    if usable < needed:
        raise ValueError(
            f"the dataset has {usable} usable paragraphs, the run needs {needed} "
            f"({n_splits} splits x split_paragraphs {per_split} + heldout_paragraphs {heldout}); "
            "lower split_paragraphs or choose a larger dataset"
        )


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

    check_enough_paragraphs(len(paragraphs), n_splits, per_split, heldout)
    needed = n_splits * per_split + heldout

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


# wall-clock measurements in a run's metrics: the only measured values two runs of the same seed may differ in on CPU
TIMING_KEYS = frozenset({"train_seconds", "train_tokens_per_second", "seconds", "tokens_per_second",
                         "finish_seconds"})
# what a run records of the code and machine that made it (a working tree or CPU that changes between two runs
# changes it)
PROVENANCE_KEYS = frozenset({"git_commit", "cpu_capability"})


def without_timings(value: Any) -> Any:
    """``value`` (metrics, nested dicts and lists) without the :data:`TIMING_KEYS` and :data:`PROVENANCE_KEYS`, to
    compare two runs."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS | PROVENANCE_KEYS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


# --- the run directory ---------------------------------------------------------------------------


STAGE_KEYS = ("stage", "train", "kr")  # what every finished stage's metrics.json holds, from the first runs on
DATA_FOLDER = "_data"  # in the runs folder (or a lone run's own folder): each distinct data.json content once
REPLAY_COMPARED = ("train_loss", "heldout_loss")  # what a replayed stage's training is checked against


def replay_record(recorded_file: Path, replayed: dict[str, Any]) -> dict[str, Any]:
    """A finished stage trained again from its committed text (its weights were not committed), beside what its
    ``train.json`` recorded. The same seed, text and precision give the same losses on the same CPU; another CPU's
    kernels (or another precision: ``precision: auto`` is bf16 only where it is native) may move the last digits,
    and then the stages after it start from a model that differs by that much: ``identical`` says which."""
    recorded = read_json(recorded_file)
    record = {key: {"recorded": recorded.get(key), "replayed": replayed.get(key)}
              for key in (*REPLAY_COMPARED, "precision", "cpu_capability")}
    record["identical"] = all(record[key]["recorded"] == record[key]["replayed"] for key in REPLAY_COMPARED)
    return {**record, "train_seconds": replayed.get("train_seconds"), "git_commit": git_commit()}


def run_folders(runs_dir: str | Path) -> list[Path]:
    """The run folders of a runs folder, sorted: every sub-folder but the shared data (``_data``), hidden ones and
    the partial copies an interrupted ``collect`` or save leaves (``.<name>.partial``, ``<name>.partial``)."""
    return sorted(p for p in Path(runs_dir).iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and ".partial" not in p.name)


def damaged_result(path: Path, keys: tuple[str, ...] = ("stages",)) -> str | None:
    """Why the result file ``path`` cannot be read as one (not JSON, not an object, a key missing), or None."""
    try:
        value = read_json(path)
    except DamagedFileError as error:
        return error.reason
    if not isinstance(value, dict):
        return f"valid JSON, but {type(value).__name__}, not an object"
    missing = [key for key in keys if key not in value]
    return f"valid JSON without {', '.join(map(repr, missing))}" if missing else None


class RunFiles:
    """A run folder's files, read-only: the one place that knows their names. The read side (:mod:`.runs`, the
    fidelity backfill, the sweep, the chapters) reads a run through it; the engine writes through
    :class:`RunDirectory`, which adds the folder's owner, the parameter check and damaged-file handling."""

    MANIFEST, DATA, METRICS = "manifest.json", "data.json", "metrics.json"
    GENERATED, TRAIN = "generated.json", "train.json"  # in stage_<i>/
    REPLAY = "replay.json"  # in stage_<i>/ of a finished stage whose training ran again (:func:`replay_record`)

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def manifest_file(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def data_file(self) -> Path:
        return self.path / self.DATA

    @property
    def metrics_file(self) -> Path:
        """Every stage's metrics, written when the run is complete."""
        return self.path / self.METRICS

    def stage(self, i: int) -> Path:
        return self.path / f"stage_{i}"

    def stage_metrics_file(self, i: int) -> Path:
        """Written last: its presence marks stage ``i`` as finished."""
        return self.stage(i) / self.METRICS

    def generated_file(self, i: int) -> Path:
        return self.stage(i) / self.GENERATED

    def train_file(self, i: int) -> Path:
        return self.stage(i) / self.TRAIN

    def replay_file(self, i: int) -> Path:
        return self.stage(i) / self.REPLAY

    def replays(self) -> dict[str, dict[str, Any]]:
        """``{stage: replay record}`` of the stages whose training ran again to resume the run (none: {})."""
        stages = sorted(int(p.parent.name.split("_")[1]) for p in self.path.glob(f"stage_*/{self.REPLAY}"))
        return {str(i): read_json(self.replay_file(i)) for i in stages}

    def replay_summary(self, i: int) -> str:
        record = read_json(self.replay_file(i))
        losses = ", ".join(f"{key.replace('_', ' ')} {record[key]['replayed']:.6g} (recorded {record[key]['recorded']:.6g})"
                           for key in REPLAY_COMPARED if record[key]["replayed"] is not None
                           and record[key]["recorded"] is not None)
        return f"{losses}: {'identical' if record['identical'] else 'NOT identical'}"

    def complete(self) -> bool:
        return self.metrics_file.is_file()

    def params(self) -> dict[str, Any]:
        return read_json(self.manifest_file)["params"]

    def metrics(self) -> dict[str, Any]:
        return read_json(self.metrics_file)

    def stage_metrics(self, i: int) -> dict[str, Any]:
        return read_json(self.stage_metrics_file(i))

    def generated(self, i: int) -> dict[str, list[str]]:
        """What stage ``i``'s model regenerated: ``{split: [paragraphs]}``."""
        return read_json(self.generated_file(i))

    def finished_count(self) -> int:
        """How many stages, 0, 1, ..., are finished (their metrics.json there)."""
        count = 0
        while self.stage_metrics_file(count).is_file():
            count += 1
        return count

    def finished_stages(self) -> list[dict[str, Any]]:
        """The metrics of stages 0, 1, ... as far as they are finished (a run still going)."""
        return [self.stage_metrics(i) for i in range(self.finished_count())]

    def generated_stages(self) -> list[int]:
        """The stages that have regenerated text, in order."""
        return sorted(int(p.name.split("_")[1]) for p in self.path.glob("stage_*") if (p / self.GENERATED).is_file())

    def shared_data_file(self) -> Path | None:
        """The shared file (``<runs>/_data/<sha256>.json``) the run's ``data.json`` names, or None when the run holds
        its data itself."""
        data = read_json(self.data_file)
        return Path(os.path.normpath(self.path / data["data_file"])) if "data_file" in data else None

    def data(self) -> dict[str, Any]:
        """The run's real splits, held-out text and KR items: its ``data.json``, or the shared file it names."""
        shared = self.shared_data_file()
        return read_json(shared) if shared is not None else read_json(self.data_file)


def read_run_data(run_dir: str | Path) -> dict[str, Any]:
    """A run's real splits, held-out text and KR items (:meth:`RunFiles.data`)."""
    return RunFiles(run_dir).data()


class RunDirectory(RunFiles):
    """Where a run lives; owned by one process at a time (opened for writing), refuses to mix parameters, knows
    which stages are finished, and sets a damaged file aside, in one line naming it, so that it is recomputed."""

    def __init__(self, path: str | Path, config: RecursiveConfig, write: bool = True,
                 log: Callable[[str], None] = print):
        super().__init__(path)
        self.config = config
        self.log = log
        self._named: set[Path] = set()  # damaged files already said, once each
        if write:
            lock_run_folder(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest_file
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
            write_json(manifest, {"params": params, "versions": versions(), "git_commit": git_commit(),
                                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        if write:
            self._set_aside_damaged()

    def close(self) -> None:
        """Let another process own the folder (without it, this process owns it until it ends)."""
        unlock_run_folder(self.path)

    def _damaged(self, path: Path, consequence: str, keys: tuple[str, ...] = ()) -> bool:
        """Whether ``path`` exists and does not read as a JSON object holding ``keys`` (``{}`` or ``null`` is valid
        JSON but no result); said once, in one line naming it and ``consequence``."""
        try:
            if path.is_file():
                value = read_json(path)
                if not isinstance(value, dict):
                    raise DamagedFileError(path, f"valid JSON, but {type(value).__name__}, not an object")
                missing = [key for key in keys if key not in value]
                if missing:
                    raise DamagedFileError(path, f"valid JSON without {', '.join(map(repr, missing))}")
            return False
        except DamagedFileError as error:
            if path not in self._named:
                self._named.add(path)
                self.log(f"{path} is damaged ({error.reason}): {consequence}")
            return True

    def _set_aside_damaged(self) -> None:
        """A damaged data file or final metrics.json: named and removed, so that the engine writes it again from
        what it is made of (the seed's data; the finished stages)."""
        data_file, metrics = self.data_file, self.metrics_file
        if self._damaged(data_file, "the run's data are made again"):
            data_file.unlink()
        elif data_file.is_file() and (shared := self.shared_data_file()) is not None:
            # the shared file stays where it is (other runs of the seed may be reading it): this run's pointer goes,
            # its data are made again and the shared file is replaced atomically by the same content
            if not shared.is_file() or self._damaged(shared, "the run's data are made again", ("splits", "heldout")):
                data_file.unlink()
        if self._damaged(metrics, "written again from the finished stages", ("stages",)):
            metrics.unlink()

    def data_folder(self) -> Path:
        """Where the run's data go: the runs folder's ``_data`` for a folder named as the sweep names runs
        (``<method>-seed<seed>-<fingerprint>``, shared by the runs of one seed), else the run folder's own, so
        that ``-o DIR`` writes inside DIR only."""
        shared = self.path.name == run_folder_name(self.config)
        return (self.path.parent if shared else self.path) / DATA_FOLDER

    def write_data(self, data: dict[str, Any]) -> None:
        """Store the run's splits and KR items once per content in :meth:`data_folder` as ``<sha256>.json``, so
        that the runs of one seed (every loss) share one copy; ``data.json`` names that file."""
        import hashlib

        text = json.dumps(data, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()
        shared = self.data_folder() / f"{digest[:16]}.json"
        if not shared.is_file() or damaged_result(shared, ("splits", "heldout")) is not None:
            write_json(shared, data)  # atomic: a run of the same seed reading it sees the old file or the new one
        named = os.path.relpath(shared, self.path)
        write_json(self.data_file, {"data_file": Path(named).as_posix(), "sha256": digest})

    def finished(self, i: int) -> bool:
        """Stage ``i`` is finished when its metrics.json (written last) and generated.json read; a damaged one is
        named in one line and the stage counts as unfinished, so that it (and what follows) is recomputed."""
        for path, keys in ((self.stage_metrics_file(i), STAGE_KEYS), (self.generated_file(i), ())):
            if not path.is_file() or self._damaged(path, f"stage {i} is recomputed", keys):
                return False
        return True

    def first_unfinished(self) -> int:
        first = next((i for i in range(self.config.stages) if not self.finished(i)), self.config.stages)
        train = self.train_file(first)  # beside a trained model: a damaged one retrains the stage
        if self._damaged(train, f"stage {first} is trained again", ("train_tokens",)):
            train.unlink()
        return first
