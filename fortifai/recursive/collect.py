"""Finished runs, from where they ran into the runs folder that is committed: their metrics and text, never weights.

A long sweep runs in a git worktree pinned at the commit that started it (or on a cluster's scratch disk); its
finished runs then come into the main checkout, where they are committed:

    fortifai collect ../sweep-decisive/results/llm_recursive/runs      # into results/llm_recursive/runs

Only finished runs come (the run's ``metrics.json``, written last, is there and reads as a result; a damaged one is
named and refused), each with the shared data file its ``data.json`` names (``_data/<sha256>.json``). Model
weights, trainer checkpoints and the owner's lock stay behind. Partial copies (``.<name>.partial``) are never read
as runs.
Each run folder is copied under a temporary name and renamed into place, so an interrupted copy leaves no half run
behind; a run already there is left as it is, and one there with other content is refused, by name.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path
from typing import Callable

from .protocol import LOCK_FILE, RunFiles, damaged_result, run_folder_owner, run_folders

LEFT_BEHIND = ("model", "model.partial", "trainer", LOCK_FILE)  # weights, checkpoints, the owner's lock


def _same_tree(a: Path, b: Path) -> bool:
    """Whether the folders hold the same files with the same bytes (what :data:`LEFT_BEHIND` names aside)."""
    compare = filecmp.dircmp(a, b, ignore=list(LEFT_BEHIND))
    if compare.left_only or compare.right_only or compare.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, compare.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in compare.common_dirs)


def _copy_atomic(source: Path, target: Path, ignore=None) -> None:
    """``source`` (a file or a folder) to ``target`` under a temporary name, then renamed into place."""
    partial = target.with_name(f".{target.name}.partial")
    if partial.is_dir():
        shutil.rmtree(partial)
    if source.is_dir():
        shutil.copytree(source, partial, ignore=ignore)
    else:
        shutil.copy2(source, partial)
    os.replace(partial, target)


def damaged(run: Path) -> str | None:
    """Why a finished-looking run cannot be collected: its final or a stage's metrics.json does not read as one."""
    files = RunFiles(run)
    why = damaged_result(files.metrics_file)
    if why is not None:
        return f"{files.metrics_file.name}: {why}"
    for i in range(len(list(run.glob("stage_*")))):
        if files.stage_metrics_file(i).is_file() and (why := damaged_result(files.stage_metrics_file(i), ("stage",))):
            return f"stage_{i}/metrics.json: {why}"
    return None


def runs_to_collect(source: str | Path, dest: str | Path) -> list[Path]:
    """The finished runs of the runs folder ``source`` that ``dest`` does not hold yet, checked before any copy:
    raises FileExistsError naming every run ``dest`` holds under the same name with other content."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"source {str(source)!r} is not a folder of runs")
    if dest.exists() and source.resolve() == dest.resolve():
        raise ValueError(f"source and dest are the same folder ({source})")
    finished = [p for p in run_folders(source) if RunFiles(p).complete() and not damaged(p)]
    clashes = [p.name for p in finished if (dest / p.name).is_dir() and not _same_tree(p, dest / p.name)]
    if clashes:
        raise FileExistsError(f"{dest} holds other runs under these names: {', '.join(clashes)}; "
                              "move them aside first (a run folder's name is its parameters' fingerprint)")
    return [p for p in finished if not (dest / p.name).is_dir()]


def collect_runs(source: str | Path, dest: str | Path, log: Callable[[str], None] = print) -> list[str]:
    """Copy every finished run of the runs folder ``source`` that ``dest`` lacks into ``dest`` (see the module);
    returns the names of the runs copied."""
    dest = Path(dest)
    runs = runs_to_collect(source, dest)
    for run in run_folders(source):
        if RunFiles(run).complete() and (why := damaged(run)):  # named, never copied as finished
            log(f"{run.name}: refused (damaged: {why}); rerun it where it ran, then collect again")
    copied = []
    dest.mkdir(parents=True, exist_ok=True)
    for run in runs:
        target = dest / run.name
        owner = run_folder_owner(run)
        if owner:  # finished, yet still owned: its process is writing its last files
            log(f"{run.name}: skipped (process {owner} still owns it)")
            continue
        named = RunFiles(run).shared_data_file()
        if named is not None:  # the same path relative to the run's new place: dest/_data/<sha256>.json
            shared_target = Path(os.path.normpath(target / os.path.relpath(named, run)))
            if shared_target.is_file() and not filecmp.cmp(named, shared_target, shallow=False):
                raise FileExistsError(f"{shared_target} differs from {named}, which {run.name}'s data.json names")
            if not shared_target.is_file():
                shared_target.parent.mkdir(parents=True, exist_ok=True)
                _copy_atomic(named, shared_target)
        _copy_atomic(run, target, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
        copied.append(run.name)
        log(f"{run.name}: copied")
    log(f"{len(copied)} finished run(s) copied into {dest}")
    return copied

