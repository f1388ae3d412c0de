"""Runs, from where they ran into the runs folder that is committed: their metrics and text, never weights.

A long sweep runs in a git worktree pinned at the commit that started it (or on a cluster's scratch disk); its
finished runs then come into the main checkout, where they are committed:

    fortifai collect ../sweep-decisive/results/llm_recursive/runs      # into results/llm_recursive/runs
    fortifai collect ../v2/results/llm_recursive/runs --partial        # also the finished stages of runs going

Finished runs come (the run's ``metrics.json``, written last, is there and reads as a result; a damaged one is
named and refused), each with the shared data file its ``data.json`` names (``_data/<sha256>.json``). With
``partial``, so do the runs still going, with their manifest, their data and each finished stage (its
``metrics.json`` there), never a stage in progress: committed, such a run resumes in the next session by training its
finished stages again from their committed text (:func:`fortifai.recursive.engine.run`). A run the runs folder
holds in part (an earlier ``--partial``) is completed with what it lacks. Model weights, trainer checkpoints and the
owner's lock stay behind. Partial copies (``.<name>.partial``) are never read as runs.
Each run or stage folder is copied under a temporary name and renamed into place, so an interrupted copy leaves no
half stage behind; a run already there is left as it is, and one there with other content is refused, by name.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path
from typing import Callable

from .protocol import LOCK_FILE, RunFiles, damaged_result, run_folder_owner, run_folders

LEFT_BEHIND = ("model", "model.partial", "trainer", LOCK_FILE)  # weights, checkpoints, the owner's lock


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
    """Why a run cannot be collected: its final (when there) or a stage's metrics.json does not read as one."""
    files = RunFiles(run)
    why = damaged_result(files.metrics_file) if files.complete() else None
    if why is not None:
        return f"{files.metrics_file.name}: {why}"
    for i in range(len(list(run.glob("stage_*")))):
        if files.stage_metrics_file(i).is_file() and (why := damaged_result(files.stage_metrics_file(i), ("stage",))):
            return f"stage_{i}/metrics.json: {why}"
    return None


def _going(run: Path) -> bool:
    """A run still going that has finished M0 (its manifest and stage 0's metrics are there)."""
    files = RunFiles(run)
    return not files.complete() and files.manifest_file.is_file() and files.stage_metrics_file(0).is_file()


def _collected(run: Path) -> list[Path]:
    """What of ``run`` is collected, in the order it is copied: the manifest and data.json, each finished stage's
    folder, and the run's metrics.json last (when it is complete)."""
    files = RunFiles(run)
    return [files.manifest_file, files.data_file, *map(files.stage, range(files.finished_count())),
            *([files.metrics_file] if files.complete() else [])]


def _files(folder: Path, within: Path | None = None) -> list[Path]:
    """The files under ``folder`` relative to ``within`` (default ``folder``), what :data:`LEFT_BEHIND` names aside."""
    within = within or folder
    found = [folder] if folder.is_file() else folder.rglob("*")
    return [f.relative_to(within) for f in found if f.is_file()
            and not set(f.relative_to(within).parts) & set(LEFT_BEHIND)]


def _missing(run: Path, target: Path) -> list[Path]:
    """The collected files of ``run`` that ``target`` lacks (relative to the run)."""
    return [f for item in _collected(run) for f in _files(item, run) if not (target / f).is_file()]


def _part_of(target: Path, run: Path) -> bool:
    """Whether every file ``target`` holds is in ``run`` with the same bytes (an earlier, shorter collect of it)."""
    return all((run / f).is_file() and filecmp.cmp(target / f, run / f, shallow=False) for f in _files(target))


def runs_to_collect(source: str | Path, dest: str | Path, partial: bool = False) -> list[Path]:
    """The runs of the runs folder ``source`` with something ``dest`` lacks (finished runs; with ``partial`` also
    runs going, for their finished stages), checked before any copy: raises FileExistsError naming every run
    ``dest`` holds under the same name with other content."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"source {str(source)!r} is not a folder of runs")
    if dest.exists() and source.resolve() == dest.resolve():
        raise ValueError(f"source and dest are the same folder ({source})")
    wanted = [p for p in run_folders(source) if (RunFiles(p).complete() or (partial and _going(p))) and not damaged(p)]
    clashes = [p.name for p in wanted if (dest / p.name).is_dir() and not _part_of(dest / p.name, p)]
    if clashes:
        raise FileExistsError(f"{dest} holds other runs under these names: {', '.join(clashes)}; "
                              "move them aside first (a run folder's name is its parameters' fingerprint)")
    return [p for p in wanted if not (dest / p.name).is_dir() or _missing(p, dest / p.name)]


def collect_runs(source: str | Path, dest: str | Path, log: Callable[[str], None] = print,
                 partial: bool = False) -> list[str]:
    """Copy into ``dest`` what it lacks of every finished run of the runs folder ``source`` (with ``partial``, also
    of every run going: its finished stages); see the module. Returns the names of the runs copied to."""
    dest = Path(dest)
    runs = runs_to_collect(source, dest, partial)
    for run in run_folders(source):
        if (RunFiles(run).complete() or partial and _going(run)) and (why := damaged(run)):  # named, never copied
            log(f"{run.name}: refused (damaged: {why}); rerun it where it ran, then collect again")
    copied = []
    dest.mkdir(parents=True, exist_ok=True)
    for run in runs:
        target = dest / run.name
        owner = run_folder_owner(run)
        if owner and RunFiles(run).complete():  # finished, yet still owned: its process is writing its last files
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
        if not target.is_dir() and RunFiles(run).complete():
            _copy_atomic(run, target, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
        else:  # what the target lacks, item by item in the run's order: a stage folder whole, its metrics.json last
            target.mkdir(exist_ok=True)
            for item in _collected(run):
                if item.is_dir() and not (target / item.name).is_dir():
                    _copy_atomic(item, target / item.name, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
                for f in _files(item, run):
                    if not (target / f).is_file():
                        _copy_atomic(run / f, target / f)
        copied.append(run.name)
        going = "" if RunFiles(target).complete() else f" (going: stages 0-{RunFiles(target).finished_count() - 1})"
        log(f"{run.name}: copied{going}")
    log(f"{len(copied)} run(s) copied into {dest}")
    return copied
