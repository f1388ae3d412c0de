"""The command line: ``fortifai run | list | recursive | sweep | collect`` (also ``python -m fortifai ...``).

    fortifai list                                                    # every chapter with its parameters
    fortifai run notebooks/gaussian_variance.py -p generations 30     # a chapter, executed with papermill
    fortifai recursive -f presets/llm_recursive/smoke.yaml -p method tce-0.9 -o runs/tce   # one recursive run
    fortifai sweep -f presets/llm_recursive/cpu.yaml --jobs 2         # a preset's (method, seed) grid
    fortifai sweep -f presets/llm_recursive/paper-llama-wikitext.yaml --launcher slurm --nproc 4 --partition gpu
    fortifai collect ../sweep-decisive/results/llm_recursive/runs  # finished runs, without weights, to commit
    fortifai collect ../v2/results/llm_recursive/runs --partial    # also the finished stages of runs going

Every command reads its parameters the same way: ``-f FILE`` (YAML) and ``-p KEY VALUE`` over it, each value read
as YAML. Bad parameters stop a command before any work, with one message naming them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .book.runner import ParameterError, add_params_options, load_params


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _stage(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a stage number >= 0, got {text}")
    return value


# the options of --launcher slurm; submitit-local takes a few of them too
SLURM_OPTIONS = ("partition", "time", "gpus_per_node", "cpus_per_task", "mem_gb", "account", "qos", "constraint",
                 "slurm_setup", "slurm_param", "max_requeue", "wait", "job_dir")
SUBMITIT_LOCAL_OPTIONS = ("time", "gpus_per_node", "job_dir")


def _add_sweep(commands) -> None:
    from .results import REPO_ROOT, RUNS_DIR

    sweep = commands.add_parser(
        "sweep", help="run a preset's (method, seed) grid: here, or one Slurm job per run (submitit)",
        description="Every (method, seed) of a preset, each in its own process and folder "
                    "<runs-dir>/<method>-seed<seed>-<fingerprint>/ with its log beside it; every configuration is "
                    "checked before the first run starts. A finished run is skipped, an unfinished one resumes at "
                    "its first unfinished stage: run the same command again, and a requeued Slurm job goes on.")
    add_params_options(sweep, "a preset, e.g. presets/llm_recursive/cpu.yaml")
    sweep.add_argument("--methods", nargs="+", help="the losses, e.g. ce tce-0.9 focal-2.0 (default: the preset's)")
    sweep.add_argument("--seeds", nargs="+", type=int, help="the seeds (default: the preset's)")
    sweep.add_argument("--runs-dir", type=Path,
                       help=f"where the run folders go (default: the preset's runs_dir, else "
                            f"{RUNS_DIR.relative_to(REPO_ROOT)})")
    sweep.add_argument("--jobs", type=_positive,
                       help="runs at a time on this machine, each with cores/jobs threads (local launchers)")
    sweep.add_argument("--nproc", type=_positive, default=1, help="processes (GPUs) per run, through torchrun")
    sweep.add_argument("--until-stage", type=_stage, help="stop every run after this stage (0: the M0 gate)")
    sweep.add_argument("--launcher", choices=("local", "slurm", "submitit-local"), default="local",
                       help="local: subprocesses here; slurm: one job per run through submitit; submitit-local: "
                            "submitit's local executor (the Slurm path, tested here)")
    slurm = sweep.add_argument_group("Slurm (--launcher slurm; --time, --gpus-per-node and --job-dir also for "
                                     "submitit-local)")
    slurm.add_argument("--partition", help="sbatch --partition")
    slurm.add_argument("--time", type=_positive,
                       help="minutes per job (default 720); a job that reaches it is requeued and resumes")
    slurm.add_argument("--gpus-per-node", type=int, help="GPUs per job (default: --nproc; 0 for CPU nodes)")
    slurm.add_argument("--cpus-per-task", type=_positive, help="CPUs per job")
    slurm.add_argument("--mem-gb", type=float, help="memory per job, in GB")
    slurm.add_argument("--account", help="sbatch --account")
    slurm.add_argument("--qos", help="sbatch --qos")
    slurm.add_argument("--constraint", help="sbatch --constraint")
    slurm.add_argument("--slurm-setup", action="append", default=[], metavar="LINE",
                       help="a shell line run in the job before the run, e.g. 'module load cuda' (repeatable)")
    slurm.add_argument("--slurm-param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                       help="any other sbatch option, written as #SBATCH --KEY=VALUE (repeatable)")
    slurm.add_argument("--max-requeue", type=int, help="times a job that timed out is requeued (default 3)")
    slurm.add_argument("--wait", action="store_true", help="wait for the Slurm jobs and report how each ended")
    slurm.add_argument("--job-dir", type=Path, help="submitit's scripts and logs (default <runs-dir>/_submitit)")


RECURSIVE_DESCRIPTION = ("One run of the recursive protocol; the same command resumes it at its first unfinished "
                         "stage. Under torchrun (python -m torch.distributed.run --nproc_per_node N -m fortifai "
                         "recursive ...) every process trains, data-parallel.")

COLLECT_DESCRIPTION = ("Copy the finished runs of a runs folder (a sweep's worktree, a cluster's scratch disk) into "
                       "the runs folder that is committed, each with the shared data file it names: metrics and "
                       "text, never model weights, checkpoints or locks. Each run lands under a temporary name and "
                       "is renamed into place; a run already there is kept, one there with other content stops the "
                       "command before any copy. --partial also copies the finished stages of runs still going "
                       "(committed, such a run resumes next session by training those stages again from their text), "
                       "and a run held in part is completed with what it lacks.")


def _add_recursive_options(parser: argparse.ArgumentParser) -> None:
    add_params_options(parser, "a preset or any YAML of RecursiveConfig fields (its methods, seeds, runs_dir and "
                               "kr_failure_threshold are ignored: choose the loss with -p method)")
    parser.add_argument("-o", "--run-dir", type=Path,
                        help="the run's folder (default <runs_dir>/<method>-seed<seed>-<fingerprint>)")
    parser.add_argument("--until-stage", type=_stage,
                        help="stop after this stage (0: M0 alone); rerun without to go on")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fortifai", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute a chapter notebook with parameters (jupytext + papermill)")
    run.add_argument("notebook", type=Path, help="a notebook source, e.g. notebooks/gaussian_variance.py")
    add_params_options(run)
    run.add_argument("-o", "--output-dir", type=Path, help="where to write (default results/NAME/RUN-NAME)")
    run.add_argument("-n", "--name", help="run name for the default output folder")
    run.add_argument("--no-progress", action="store_true", help="no papermill progress bar")
    commands.add_parser("list", help="list every notebook with its parameters and defaults")
    recursive = commands.add_parser("recursive", help="one recursive run (Algorithm 1) of one loss; rerun to resume",
                                    description=RECURSIVE_DESCRIPTION)
    _add_recursive_options(recursive)
    _add_sweep(commands)
    collect = commands.add_parser("collect", help="copy finished runs (metrics and text, no weights) into a runs folder",
                                  description=COLLECT_DESCRIPTION)
    collect.add_argument("source", type=Path, help="a runs folder, e.g. a sweep worktree's results/llm_recursive/runs")
    collect.add_argument("--to", type=Path, dest="dest", help="where they go (default: results/llm_recursive/runs)")
    collect.add_argument("--partial", action="store_true",
                         help="also the finished stages of runs still going (committed, they resume next session)")
    claims = commands.add_parser(
        "claims", help="compare the committed claims with the chapters' default runs; --refresh saves them",
        description="The committed results/claims/<chapter>.json (what the status page reads) against each chapter's "
                    "default run (results/<chapter>/default/metrics.json). A chapter run never writes them: after "
                    "rerunning a chapter at its defaults, `fortifai claims --refresh CHAPTER` saves its claims, then "
                    "rerun notebooks/reproduction_status.py. Exit 1 when they differ and --refresh is not given.")
    claims.add_argument("chapters", nargs="*", help="chapter names, e.g. llm_results (default: every chapter)")
    claims.add_argument("--refresh", action="store_true", help="write the default runs' claims into results/claims/")
    return parser


def _list() -> int:
    from .book.runner import list_notebooks, read_parameters

    for notebook in list_notebooks():
        print(notebook.relative_to(notebook.parent.parent))
        for param in read_parameters(notebook).values():
            if param.name != "output_dir":  # set with -o, not -p
                print(f"    {param.describe()}")
        print("    (output folder: -o DIR; default results/<notebook>/<run name>)")
    return 0


def _run(args) -> int:
    from .book.runner import run_notebook
    from .results import RunFolderBusyError

    try:
        given = load_params(args.params_file, args.param)
        run_notebook(args.notebook, given, output_dir=args.output_dir, name=args.name, progress=not args.no_progress)
    except (ParameterError, FileNotFoundError, RunFolderBusyError) as error:
        print(f"fortifai run: error: {error}", file=sys.stderr)
        return 2
    return 0


def _recursive(args):
    """Check everything, then return the run (a callable): an error after this point is the run's, not the input's."""
    from .results import lock_run_folder, refuse_if_busy

    owner = os.environ.get("RANK", "0") == "0"  # one process owns the folder (under torchrun: rank 0, the writer)
    if owner and args.run_dir:  # a folder another process holds is refused before torch is even imported
        refuse_if_busy(args.run_dir)
    from . import recursive
    from .recursive import sweep

    fields, grid = sweep.split_preset(load_params(args.params_file, args.param))
    config = sweep.run_config(fields)
    run_dir = args.run_dir or sweep.runs_dir_of(grid) / recursive.run_folder_name(config)
    if owner:  # (taken again by the same process, it is already held)
        lock_run_folder(run_dir)
    hooks = recursive.default_hooks(config)  # fails here, at once, for a model or benchmark that cannot be had

    def work() -> int:
        recursive.run(config, run_dir, hooks, progress=not args.no_progress, until_stage=args.until_stage)
        return 0

    return work


def _sweep(args):
    """Check every configuration and the launcher, then return the sweep (a callable)."""
    from .recursive import sweep

    if args.launcher != "slurm":
        allowed = SUBMITIT_LOCAL_OPTIONS if args.launcher == "submitit-local" else ()
        given = [f"--{name.replace('_', '-')}" for name in SLURM_OPTIONS
                 if name not in allowed and getattr(args, name) not in (None, [], False)]
        if given:
            raise ParameterError(f"{', '.join(given)}: option(s) of --launcher slurm, not --launcher {args.launcher}")
    elif args.jobs is not None:
        raise ParameterError("--jobs is for the local launchers: on Slurm the scheduler decides how many run at once")
    params = load_params(args.params_file, args.param)
    runs = sweep.plan(params, methods=args.methods, seeds=args.seeds, runs_dir=args.runs_dir)
    sweep.resolve(runs)
    launch = dict(params_file=args.params_file, pairs=args.param, nproc=args.nproc, until_stage=args.until_stage)
    if args.launcher == "local":
        return lambda: sweep.run_local(runs, jobs=args.jobs or 1, **launch)
    executor = sweep.make_executor(
        args.launcher, args.job_dir or runs[0].folder.parent / "_submitit", nproc=args.nproc, time_min=args.time,
        partition=args.partition, gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb, account=args.account, qos=args.qos, constraint=args.constraint, setup=args.slurm_setup,
        extra=dict(args.slurm_param), max_requeue=args.max_requeue)
    if args.launcher == "submitit-local":  # a local executor's jobs end with this process: wait for them
        return lambda: sweep.run_submitit(runs, executor, jobs=args.jobs or 1, wait=True, **launch)
    return lambda: sweep.run_submitit(runs, executor, wait=args.wait, **launch)


def _collect(args):
    """Check the source and that no run would overwrite another, then return the copy (a callable)."""
    from .recursive.collect import collect_runs, runs_to_collect
    from .results import RUNS_DIR

    dest = args.dest or RUNS_DIR
    runs_to_collect(args.source, dest, args.partial)

    def work() -> int:
        collect_runs(args.source, dest, partial=args.partial)
        return 0

    return work


def _claims(args):
    from .book.report import refresh_claims

    refresh_claims(args.chapters or None)  # a missing default run or a bad word: refused before anything is written

    def work() -> int:
        changed = refresh_claims(args.chapters or None, write=args.refresh)
        for chapter, changes in changed.items():
            state = ("agree" if not changes else ("saved: " if args.refresh else "differ: ") + "; ".join(changes))
            print(f"{chapter}: {state}")
        if args.refresh and any(changed.values()):
            print("rerun notebooks/reproduction_status.py: the status page reads the committed claims")
        return 1 if any(changed.values()) and not args.refresh else 0

    return work


def _checked_then_run(name: str, check, args) -> int:
    """``check(args)`` validates everything and returns the work; an error there is the input's: one line, exit 2."""
    try:
        work = check(args)
    except (ParameterError, ValueError, RuntimeError, FileNotFoundError, FileExistsError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    from .recursive.engine import NonFiniteLossError

    try:
        return work()
    except NonFiniteLossError as error:  # the run's own failure, said in one line (its stages so far are kept)
        print(f"{name}: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    check = {"recursive": _recursive, "sweep": _sweep, "collect": _collect, "claims": _claims}[args.command]
    return _checked_then_run(f"fortifai {args.command}", check, args)


def recursive_main(argv: list[str] | None = None) -> int:
    """``python -m fortifai.recursive ...``: ``fortifai recursive ...`` (torchrun's entry point since before the
    subcommand)."""
    parser = argparse.ArgumentParser(prog="python -m fortifai.recursive", description=RECURSIVE_DESCRIPTION)
    _add_recursive_options(parser)
    return _checked_then_run("fortifai.recursive", _recursive, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
