"""The regime calibration: M0 alone at every point of :data:`fortifai.claims.regime.GRID`, CE on two seeds, TCE
0.9 where CE passes (a) and (b), then the choice by the rule fixed in :mod:`fortifai.claims.regime`.

    python scripts/regime_calibration.py            # resumable: finished points are read, not rerun

Runs go to ``results/regime/runs/<method>-seed<seed>-<fingerprint>/`` (metrics and text; M0's weights are deleted
once measured), the choice to ``results/regime/choice.json``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from ..claims import regime
from ..results import REPO_ROOT, read_json, write_json
from ..recursive.config import RecursiveConfig, run_folder_name
from ..recursive.protocol import RunFiles, run_folders

REGIME_DIR = REPO_ROOT / "results" / "regime"
RUNS_DIR = REGIME_DIR / "runs"
BENCHMARK = REPO_ROOT / "results" / "benchmarks" / "recursive.json"


def point_config(point: dict, loss: str, seed: int) -> RecursiveConfig:
    gamma = {"ce": None, "tce-0.9": 0.9}[loss]
    return RecursiveConfig(**regime.BASE, **point, loss=loss.split("-")[0], gamma=gamma, seed=seed).validate()


def run_point(config: RecursiveConfig, runs_dir: Path, log: Callable[[str], None] = print) -> Path | None:
    """Train and measure M0 at ``config`` (or read it back when finished); M0's weights are deleted afterwards.
    None where another process owns the run's folder (a second calibration worker runs it)."""
    from ..recursive import engine
    from ..results import RunFolderBusyError

    folder = runs_dir / run_folder_name(config)
    files = RunFiles(folder)
    if not files.stage_metrics_file(0).is_file():
        log(f"calibration: {folder.name} (split_paragraphs {config.split_paragraphs}, epochs {config.epochs}, "
            f"learning_rate {config.learning_rate})")
        try:
            engine.run(config, folder, engine.default_hooks(config, log=log), progress=False, until_stage=0)
        except RunFolderBusyError:
            log(f"calibration: {folder.name} is another worker's, left to it")
            return None
    shutil.rmtree(files.stage(0) / "model", ignore_errors=True)
    return folder


def measured(folder: Path, rates: dict[str, float] | None) -> dict[str, Any]:
    """One calibration run as a ``choice.json`` point: its parameters, its values and which criteria it passes."""
    from ..lm.models import load_tokenizer

    files = RunFiles(folder)
    params, data = files.params(), files.data()
    values = regime.point_values(read_json(files.stage_metrics_file(0)))
    tokenizer = load_tokenizer(params["model"])

    def tokens(texts):
        return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])

    values["split_tokens"], values["heldout_tokens"] = tokens(data["splits"][0]), tokens(data["heldout"])
    values["optimizer_steps"] = regime.optimizer_steps(values["train_blocks"], params["epochs"], params["batch_size"])
    values["projected_minutes"] = None if rates is None else regime.projected_minutes(
        values["split_tokens"], values["heldout_tokens"], params["epochs"], rates)
    loss = "ce" if params["loss"] == "ce" else f"{params['loss']}-{params['gamma']}"
    names = ("c",) if loss != "ce" else regime.CE_CRITERIA
    return dict(split_paragraphs=params["split_paragraphs"], epochs=params["epochs"],
                learning_rate=params["learning_rate"], loss=loss, seed=params["seed"], run=folder.name, **values,
                passes=regime.passes(values, names))


def calibrate(runs_dir: Path = RUNS_DIR, choice_file: Path = REGIME_DIR / "choice.json",
              log: Callable[[str], None] = print, reverse: bool = False) -> dict[str, Any]:
    """Every grid point, cheapest first (``reverse``: dearest first, for a second worker on the same folder), CE
    seeds, then TCE 0.9 where both CE seeds pass (a) and (b); a run another worker owns is left to it. Twice over
    the grid, so that what the other worker left is picked up; ``choice.json`` recomputed from every finished run
    after each run, so that an interrupted calibration keeps what it measured."""
    def done(config: RecursiveConfig) -> Path | None:
        folder = run_point(config, runs_dir, log)
        if folder is not None:
            choose_from_runs(runs_dir, choice_file)
        return folder

    grid = sorted(regime.GRID, key=lambda p: (p["split_paragraphs"] * p["epochs"], p["learning_rate"]),
                  reverse=reverse)
    for _ in range(2):
        for point in grid:
            ce = [done(point_config(point, "ce", seed)) for seed in regime.CE_SEEDS]
            if any(folder is None for folder in ce):
                continue
            values = [regime.point_values(read_json(RunFiles(folder).stage_metrics_file(0))) for folder in ce]
            if all(all(regime.passes(v, ("a", "b")).values()) for v in values):
                for seed in regime.CE_SEEDS:
                    done(point_config(point, "tce-0.9", seed))
    return read_json(choice_file)


def write_choice(points: list[dict], rates: dict[str, float] | None, choice_file: Path) -> None:
    chosen = regime.choose(points)
    write_json(choice_file, dict(
        criteria={k: {key: v for key, v in c.items()} for k, c in regime.CRITERIA.items()},
        grid=regime.GRID, rates=rates, points=points, chosen=chosen, changes=regime.CHANGES,
        pilot=dict(rule=regime.PILOT["rule"], ladder=list(regime.PILOT["ladder"]), stages=regime.PILOT["stages"],
                   seeds=list(regime.PILOT["seeds"]), control_seeds=list(regime.PILOT["control_seeds"]),
                   verdict=None),
    ))


def choose_from_runs(runs_dir: Path = RUNS_DIR, choice_file: Path = REGIME_DIR / "choice.json") -> dict[str, Any]:
    """``choice.json`` recomputed from the finished calibration runs in ``runs_dir`` (nothing is run): after the
    runs are collected, or after a disclosed change of the rule."""
    rates = regime.benchmark_rates(read_json(BENCHMARK)) if BENCHMARK.is_file() else None
    folders = [f for f in run_folders(runs_dir) if RunFiles(f).stage_metrics_file(0).is_file()]
    points = [measured(f, rates) for f in folders]
    points.sort(key=lambda p: (p["split_paragraphs"] * p["epochs"], p["learning_rate"], p["loss"], p["seed"]))
    write_choice(points, rates, choice_file)
    return read_json(choice_file)


PILOT_DIR = REGIME_DIR / "pilot"


def pilot_config(point: dict, seed: int, regenerate: bool = True, rung: int = 0) -> RecursiveConfig:
    """The CE pilot's run in the chosen regime: the calibration's settings at ``point``, six stages, every measure,
    and the ladder's first ``rung`` steps (:data:`fortifai.claims.regime.PILOT`) applied in order."""
    params = {**regime.BASE, "stages": regime.PILOT["stages"], "stage_measures": "all",
              **{k: point[k] for k in ("split_paragraphs", "epochs", "learning_rate")}}
    for step in regime.PILOT["ladder"][:rung]:
        for key, value in step.items():
            params[key] = max(1, params[key] // 2) if value == "half" else value
    return RecursiveConfig(**params, loss="ce", seed=seed, regenerate=regenerate).validate()


def pilot_trajectory(folder: Path) -> dict[str, list[float]] | None:
    """Split 0's KR accuracy and mean margin per stage of a finished pilot run (None while it is unfinished)."""
    files = RunFiles(folder)
    if not files.complete():
        return None
    stages = files.metrics()["stages"]
    return dict(accuracy=[s["kr"]["0"]["accuracy"] for s in stages],
                margin=[sum(s["kr"]["0"]["margin"]) / len(s["kr"]["0"]["margin"]) for s in stages])


def run_pilot(choice_file: Path = REGIME_DIR / "choice.json", runs_dir: Path = PILOT_DIR,
              log: Callable[[str], None] = print, reverse: bool = False, wait_s: float = 60.0) -> dict[str, Any]:
    """The pilot at ``choice.json``'s chosen point: CE on the pilot's seeds and its control arm, rung by rung of the
    ladder until a go or the ladder's end; each verdict written into ``choice.json``'s ``pilot`` as it comes.

    A run whose folder another process owns is left to it (``reverse``: a second worker takes a rung's runs in the
    opposite order); a rung is judged once all its runs are finished, checked every ``wait_s`` seconds."""
    from ..recursive import engine
    from ..results import RunFolderBusyError

    choice = read_json(choice_file)
    point = choice["chosen"]["point"]
    if point is None:
        raise ValueError(f"{choice_file} has no chosen point: run the calibration first")
    rungs = []
    for rung in range(len(regime.PILOT["ladder"]) + 1):
        runs = [(regenerate, seed) for regenerate, seeds in ((True, regime.PILOT["seeds"]),
                                                              (False, regime.PILOT["control_seeds"]))
                for seed in seeds]
        pending, folders = runs[::-1] if reverse else runs, {}
        while pending:
            left = []
            for regenerate, seed in pending:
                config = pilot_config(point, seed, regenerate, rung)
                folder = folders[regenerate, seed] = runs_dir / run_folder_name(config)
                if RunFiles(folder).complete():
                    continue
                log(f"pilot rung {rung}: {folder.name} ({'recursive' if regenerate else 'control'} arm)")
                try:
                    engine.run(config, folder, engine.default_hooks(config, log=log), progress=False)
                except RunFolderBusyError:
                    log(f"pilot: {folder.name} is another worker's, left to it")
                    left.append((regenerate, seed))
            if left:
                time.sleep(wait_s)
            pending = left
        trajectories = {arm: [pilot_trajectory(folders[arm, seed]) for (regenerate, seed) in runs if regenerate == arm]
                        for arm in (True, False)}
        verdict = regime.pilot_verdict(trajectories[True], trajectories[False])
        rungs.append(dict(rung=rung, ladder=list(regime.PILOT["ladder"][:rung]), **verdict))
        choice["pilot"]["rungs"] = rungs
        choice["pilot"]["verdict"] = verdict["verdict"]
        write_json(choice_file, choice)
        if verdict["verdict"] == "go":
            break
    return choice["pilot"]


V2_PRESET = REPO_ROOT / "presets" / "llm_recursive" / "decisive-v2.yaml"


def v2_preset(choice: dict[str, Any]) -> dict[str, Any]:
    """The v2 decisive test's preset from ``choice.json``: the chosen point on the pilot's last rung (the ladder's
    changes applied), six stages, every measure, every loss of the plan; its seeds are the pilot's, the sample
    size adds the rest (:func:`fortifai.claims.decisive_v2.sample_size`)."""
    from ..claims import decisive_v2

    pilot = choice["pilot"]
    decisive_v2.primary_endpoint(pilot)  # refuses a pilot without a verdict
    rung = pilot["rungs"][-1]["rung"] if pilot.get("rungs") else 0
    config = pilot_config(choice["chosen"]["point"], seed=0, rung=rung)
    params = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("loss", "gamma", "alpha", "seed")}
    methods = [decisive_v2.PLAN["baseline"], decisive_v2.PLAN["method"], *decisive_v2.PLAN["mechanism"]]
    return {"methods": methods, "seeds": list(decisive_v2.PLAN["pilot_seeds"]), **params}


def write_v2_preset(choice_file: Path = REGIME_DIR / "choice.json", path: Path = V2_PRESET) -> Path:
    """Write :func:`v2_preset` as YAML, with a header saying where it comes from (before any v2 run)."""
    import yaml

    choice = read_json(choice_file)
    point = choice["chosen"]["point"]
    header = (f"# decisive test v2 (fortifai.claims.decisive_v2): written by fortifai.experiments.calibration.write_v2_preset\n"
              f"# from {choice_file.relative_to(REPO_ROOT) if choice_file.is_relative_to(REPO_ROOT) else choice_file}: "
              f"{point['split_paragraphs']} leads per split, {point['epochs']} epochs, LR {point['learning_rate']:g}, "
              f"the pilot's {choice['pilot']['verdict']}\n")
    path.write_text(header + yaml.safe_dump(v2_preset(choice), sort_keys=False))
    return path


def read_v2_preset(path: Path = V2_PRESET) -> dict[str, Any] | None:
    """The v2 preset's parameters, or None before :func:`write_v2_preset` has written it."""
    from ..book.runner import load_params

    return load_params(path) if path.is_file() else None
