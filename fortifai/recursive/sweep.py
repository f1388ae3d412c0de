"""A preset's grid of recursive runs, one (method, seed) per process and folder: here, or one Slurm job per run.

    fortifai sweep -f presets/llm_recursive/cpu.yaml --jobs 2                   # two runs at a time on this machine
    fortifai sweep -f presets/llm_recursive/paper-llama-wikitext.yaml --launcher slurm --nproc 4 --partition gpu

A preset (``presets/llm_recursive/<tier>.yaml``) defines a tier once: fields of
:class:`fortifai.recursive.RecursiveConfig`, the grid (``methods``, ``seeds``), and optionally where its runs live
(``runs_dir``) and the threshold the chapters judge failure by (``kr_failure_threshold``). The sweep, ``fortifai
recursive`` and the chapter ``llm_recursive`` read it alike.

Each run goes to ``<runs_dir>/<method>-seed<seed>-<fingerprint>/`` (the fingerprint a hash of all its parameters)
with its log beside it (``<folder>.log``). Every configuration is checked before the first run starts. A finished
run is skipped and an unfinished one resumes at its first unfinished stage, because the engine resumes by itself:
the same command can simply be run again, and a Slurm job that is requeued (at its time limit, or preempted) or
resubmitted goes on where its run stopped. Inside each process or job the command is ``fortifai recursive``, through
torchrun when a run takes several processes (``--nproc``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit

from . import RecursiveConfig, parse_method, run_folder_name
from .protocol import RunFiles, run_folder_owner
from ..results import REPO_ROOT, RUNS_DIR
from ..book.runner import PRESET_DIR, ParameterError, load_params, preset_tiers

# a preset's keys that are not parameters of one run: the grid, and what the chapters read
GRID_KEYS = ("methods", "seeds", "runs_dir", "kr_failure_threshold", "output_dir")
DEFAULT_TIME_MIN = 720  # a job's time limit; one that reaches it is requeued and resumes
DEFAULT_MAX_REQUEUE = 3
# a Slurm job in any other state (PENDING, RUNNING, REQUEUED, ...) still holds its run
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
                "PREEMPTED"}


# --- presets and the grid -----------------------------------------------------------------------


tiers = preset_tiers


def preset_file(preset: str | Path) -> Path:
    """The file of a tier (``"cpu"`` -> ``presets/llm_recursive/cpu.yaml``), or a YAML path (relative paths also
    from the repository)."""
    if (PRESET_DIR / f"{preset}.yaml").is_file():
        return PRESET_DIR / f"{preset}.yaml"
    for path in (Path(preset), REPO_ROOT / preset):
        if path.is_file():
            return path
    raise ParameterError(f"preset {str(preset)!r} is neither a tier ({', '.join(tiers())}) nor a YAML file")


def read_preset(preset: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A preset's parameters with ``overrides`` over them (what the chapter takes: a tier's name plus overrides)."""
    return {**load_params(preset_file(preset)), **(overrides or {})}


def split_preset(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fields of a run, the grid's keys) of a preset's parameters."""
    return ({k: v for k, v in params.items() if k not in GRID_KEYS},
            {k: params[k] for k in GRID_KEYS if k in params})


def run_config(fields: Mapping[str, Any], method: str | None = None, seed: int | None = None) -> RecursiveConfig:
    """The checked configuration of one run; ``method`` (``ce``, ``tce-0.9``, ...; or the field ``method``) sets the
    loss and its parameter, and a field that says otherwise (``gamma: 0.5`` beside ``tce-0.9``) is refused."""
    fields = dict(fields)
    method = fields.pop("method", None) if method is None else method
    if method is not None:
        for name, value in parse_method(method).items():
            if name in fields and fields[name] != value:
                raise ValueError(f"method {method!r} sets {name}={value!r}, but {name}={fields[name]!r} is given too: "
                                 "give one of them")
        fields.update(parse_method(method))
    if seed is not None:
        fields["seed"] = seed
    return RecursiveConfig.from_dict(fields)


def runs_dir_of(grid: Mapping[str, Any], given: str | Path | None = None) -> Path:
    """Where the run folders go: ``given``, else the preset's ``runs_dir``, else :data:`fortifai.results.RUNS_DIR`."""
    return Path(given or grid.get("runs_dir") or RUNS_DIR)


@dataclass(frozen=True)
class PlannedRun:
    """One (method, seed) of a grid: its configuration and its folder."""

    method: str
    seed: int
    config: RecursiveConfig
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def log(self) -> Path:
        return self.folder.with_name(f"{self.folder.name}.log")

    def finished(self) -> bool:
        return RunFiles(self.folder).complete()


def plan(params: Mapping[str, Any], methods: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
         runs_dir: str | Path | None = None) -> list[PlannedRun]:
    """Every (method, seed) of a preset's parameters, each configuration checked, seed by seed (a complete
    comparison of the methods first). ``methods``, ``seeds``, ``runs_dir``: instead of the preset's."""
    fields, grid = split_preset(params)
    for name in ("method", "seed"):
        if name in fields:
            raise ParameterError(f"{name} is set per run by the grid: give {name}s instead "
                                 f"(--{name}s, or -p {name}s '[...]')")
    methods = grid.get("methods", ["ce"]) if methods is None else methods
    seeds = grid.get("seeds", [0]) if seeds is None else seeds
    if not isinstance(methods, (list, tuple)) or not methods or not all(isinstance(m, str) for m in methods):
        raise ParameterError(f"methods must be a non-empty list of names such as ce, tce-0.9, got {methods!r}")
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ParameterError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    folder = runs_dir_of(grid, runs_dir)
    runs: dict[Path, PlannedRun] = {}  # a method or seed given twice is run once
    for seed in seeds:
        for method in methods:
            try:
                config = run_config(fields, method, seed)
            except ValueError as error:
                raise ParameterError(f"{method}, seed {seed}: {error}") from None
            run = PlannedRun(method, seed, config, folder / run_folder_name(config))
            runs.setdefault(run.folder, run)
    return list(runs.values())


def resolve(runs: Sequence[PlannedRun]) -> None:
    """Check once for the grid that each of its models and data sets can be had here (a hub name offline, a
    missing copy): one error before any run starts, not the same failure in every run."""
    from ..lm import corpus
    from .engine import default_hooks
    from .protocol import check_enough_paragraphs

    for config in {(run.config.model, run.config.dataset): run.config for run in runs}.values():
        default_hooks(config)  # the model (and the benchmarks' data)
        corpus.check_source(config.dataset)
    usable = {}  # and that each run's splits fit in its dataset, before any run folder is written
    for run in runs:
        c = run.config
        key = (c.dataset, c.min_paragraph_words)
        if key not in usable:
            usable[key] = len(default_hooks(c).paragraphs())
        try:
            check_enough_paragraphs(usable[key], c.stages, c.split_paragraphs, c.heldout_paragraphs)
        except ValueError as error:
            raise ParameterError(f"{run.method}, seed {run.seed}: {error}") from None


# --- one run as a process ---------------------------------------------------------------------------


def command_line(run_dir: str | Path, params_file: str | Path | None = None, pairs: Sequence[Sequence[Any]] = (),
                 nproc: int = 1, until_stage: int | None = None) -> list[str]:
    """``fortifai recursive`` as a process, run (or resumed) in ``run_dir``: through ``torch.distributed.run`` over
    ``nproc`` processes (GPUs) when ``nproc`` > 1; ``pairs``: its ``-p KEY VALUE`` over the params file."""
    launcher = [sys.executable]
    if nproc > 1:  # --standalone: a free port of its own, so that several runs can share a machine
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    out = launcher + ["-m", "fortifai", "recursive", "-o", str(run_dir), "--no-progress"]
    if params_file is not None:
        out += ["-f", str(Path(params_file).resolve())]
    for key, value in pairs:
        out += ["-p", str(key), str(value)]
    if until_stage is not None:
        out += ["--until-stage", str(until_stage)]
    return out


def run_command(run: PlannedRun, params_file: str | Path | None, pairs: Sequence[Sequence[Any]] = (), nproc: int = 1,
                until_stage: int | None = None) -> list[str]:
    """The command of one run of a grid: the sweep's params file and ``-p`` pairs, then the run's method and seed."""
    return command_line(run.folder, params_file, [*pairs, ("method", run.method), ("seed", run.seed)], nproc,
                        until_stage)


_RUNNING: set[subprocess.Popen] = set()  # the runs this process started and that have not ended


def run_logged(command: list[str], log: Path, env: Mapping[str, str] | None = None,
               shield_signal: signal.Signals | None = None, stop=None) -> int:
    """Run ``command`` from the repository with its output appended to ``log``; its exit code.

    ``shield_signal``: blocked in the command (a blocked signal stays blocked across exec), so that only this
    process receives it (submitit's requeue signal, which Slurm sends to every process of the job). ``stop``: a
    ``threading.Event``; set before the command started, the command is stopped at once (a sweep being stopped
    terminates what it finds in ``_RUNNING``; one that starts just after that sees the event).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        out.flush()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {shield_signal}) if shield_signal else None
        try:
            process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=out,
                                       stderr=subprocess.STDOUT)
        finally:
            if blocked is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _RUNNING.add(process)
        if stop is not None and stop.is_set():
            process.terminate()
        try:
            return process.wait()
        finally:  # this process is leaving early (requeued, interrupted): the run stops too, and resumes later
            _RUNNING.discard(process)
            if process.poll() is None:
                process.terminate()  # torchrun passes it on to its workers
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _thread_env(jobs: int) -> dict[str, str]:
    # two single-thread runs use two cores better than one two-thread run of a small model
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _report(run: PlannedRun, status: str, seconds: float | None = None) -> None:
    print(f"{run.name}: {status}" + (f" in {seconds / 60:.1f} min" if seconds is not None else ""), flush=True)


def run_local(runs: Sequence[PlannedRun], params_file: str | Path | None, pairs: Sequence[Sequence[str]] = (),
              jobs: int = 1, nproc: int = 1, until_stage: int | None = None) -> int:
    """Every unfinished run as a subprocess here, ``jobs`` at a time; 1 when any failed.

    SIGTERM, SIGINT or SIGHUP to the sweep stops its runs (each resumes when the same command runs again) and starts no
    more; they are reported stopped, and the sweep exits 128 + the signal's number, as a process killed by it.
    A run whose folder another process owns (another sweep's) is skipped.
    """
    import threading

    env = _thread_env(jobs)
    stopped = threading.Event()
    received: list[int] = []

    def stop(signum, frame) -> None:
        received.append(signum)
        stopped.set()
        for process in list(_RUNNING):
            process.terminate()

    def launch(run: PlannedRun) -> tuple[PlannedRun, int | str, float]:
        if stopped.is_set():
            return run, "not started (stopped)", 0.0
        if run.finished():
            return run, "skipped (finished)", 0.0
        owner = run_folder_owner(run.folder)
        if owner is not None:
            return run, f"skipped (in use by process {owner})", 0.0
        started = time.perf_counter()
        code = run_logged(run_command(run, params_file, pairs, nproc, until_stage), run.log, env, stop=stopped)
        return run, code, time.perf_counter() - started

    failed = 0
    # SIGHUP too: a closed terminal (or ssh session) stops the runs, never orphans them
    signals = ((signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if threading.current_thread() is threading.main_thread()
               else ())
    handlers = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        with ThreadPoolExecutor(jobs) as pool:
            for run, code, seconds in pool.map(launch, runs):
                if isinstance(code, str):
                    _report(run, code)
                elif stopped.is_set() and code:
                    _report(run, "stopped (the same command resumes it)", seconds)
                else:
                    _report(run, "done" if code == 0 else f"FAILED (exit {code}; see {run.log})", seconds)
                    failed += bool(code)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    return 1 if failed else 0


# --- one run as a submitit job (Slurm, or submitit's local executor) -------------------------------


class RunJob(submitit.helpers.Checkpointable):
    """One run as a submitit job. Checkpointable: a job that times out or is preempted is requeued with this same
    command, which resumes the run at its first unfinished stage."""

    def __init__(self, command: list[str], log: Path, env: Mapping[str, str] | None = None):
        self.command, self.log, self.env = command, Path(log), dict(env or {})

    def __call__(self) -> str:
        # SIGUSR2: submitit's signal to requeue (its default; Slurm sends it before the time limit)
        code = run_logged(self.command, self.log, self.env, shield_signal=signal.SIGUSR2)
        if code:
            raise RuntimeError(f"the run exited with {code}; see {self.log}")
        return str(self.log)


def make_executor(launcher: str, folder: str | Path, nproc: int = 1, time_min: int | None = None,
                  partition: str | None = None, gpus_per_node: int | None = None, cpus_per_task: int | None = None,
                  mem_gb: float | None = None, account: str | None = None, qos: str | None = None,
                  constraint: str | None = None, setup: Sequence[str] = (), extra: Mapping[str, str] | None = None,
                  max_requeue: int | None = None) -> submitit.AutoExecutor:
    """submitit's executor for ``launcher`` (``slurm`` or ``submitit-local``): one node, one task per job (torchrun
    starts the run's processes), ``gpus_per_node`` (default ``nproc`` on Slurm), ``time_min`` minutes per job,
    requeued up to ``max_requeue`` times at the time limit; ``extra``: any other sbatch option."""
    cluster = {"slurm": "slurm", "submitit-local": "local"}[launcher]
    if cluster == "slurm":
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"--launcher slurm needs Slurm's {' and '.join(missing)} on PATH: not on a Slurm "
                               "cluster's login node? (--launcher local runs here)")
    requeue = DEFAULT_MAX_REQUEUE if max_requeue is None else max_requeue
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=requeue,
                                     local_max_num_timeout=requeue)
    if gpus_per_node is None:
        gpus_per_node = nproc if cluster == "slurm" else _local_gpus(nproc)
    params = dict(timeout_min=time_min or DEFAULT_TIME_MIN, nodes=1, tasks_per_node=1, gpus_per_node=gpus_per_node,
                  cpus_per_task=cpus_per_task, mem_gb=mem_gb, slurm_partition=partition, slurm_account=account,
                  slurm_qos=qos, slurm_constraint=constraint, slurm_setup=list(setup) or None,
                  slurm_additional_parameters=dict(extra) if extra else None)
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


def _local_gpus(nproc: int) -> int:
    # submitit's local executor shows a job only the GPUs it asks for (none: CUDA_VISIBLE_DEVICES empty)
    import torch

    return min(nproc, torch.cuda.device_count())


def _queued_job(run: PlannedRun) -> str | None:
    """The Slurm job of ``run`` submitted earlier and still queued or running (so not to be submitted twice)."""
    marker = run.folder.with_name(f"{run.folder.name}.job")
    if not marker.is_file():
        return None
    job_id = marker.read_text().strip()
    try:
        state = subprocess.run(["squeue", "-h", "-o", "%T", "-j", job_id], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    states = set(state.stdout.split()) if state.returncode == 0 else set()
    return job_id if states - FINAL_STATES else None


def run_submitit(runs: Sequence[PlannedRun], executor: submitit.AutoExecutor, params_file: str | Path | None,
                 pairs: Sequence[Sequence[str]] = (), nproc: int = 1, until_stage: int | None = None,
                 jobs: int | None = None, wait: bool = True) -> int:
    """One job per unfinished run (``jobs`` at a time when given); with ``wait``, how each ended (1 when any failed)."""
    slurm = executor.cluster == "slurm"
    env = {} if slurm else _thread_env(jobs or 1)
    submitted = []
    for run in runs:
        if run.finished():
            _report(run, "skipped (finished)")
            continue
        owner = None if slurm else run_folder_owner(run.folder)  # on Slurm the run's owner is on another node
        if owner is not None:
            _report(run, f"skipped (in use by process {owner})")
            continue
        queued = _queued_job(run) if slurm else None
        if queued:
            _report(run, f"skipped (job {queued} is queued or running)")
            continue
        while jobs and sum(not job.done() for _, job, _ in submitted) >= jobs:
            time.sleep(1)
        executor.update_parameters(name=f"fortifai-{run.name}")
        job = executor.submit(RunJob(run_command(run, params_file, pairs, nproc, until_stage), run.log, env))
        if slurm:  # beside the run's folder: a second sweep submits no second job for it while this one is queued
            run.folder.parent.mkdir(parents=True, exist_ok=True)
            run.folder.with_name(f"{run.folder.name}.job").write_text(f"{job.job_id}\n")
        _report(run, f"submitted as job {job.job_id} (log {run.log})")
        submitted.append((run, job, time.perf_counter()))
    if not wait:
        return 0
    failed = 0
    for run, job, started in submitted:
        try:
            job.result()
            _report(run, "done", time.perf_counter() - started)
        except Exception as error:  # the job's own error, or the scheduler's
            failed += 1
            last = str(error).strip().splitlines()[-1:] or [type(error).__name__]
            _report(run, f"FAILED ({last[0]}; see {run.log} and {job.paths.stderr})", time.perf_counter() - started)
    return 1 if failed else 0
