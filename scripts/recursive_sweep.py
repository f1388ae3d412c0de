"""Run every (method, seed) of a preset of the recursive protocol, each in its own process, resumable.

    python scripts/recursive_sweep.py -f presets/llm_recursive/cpu.yaml                    # the book's cpu tier
    python scripts/recursive_sweep.py -f presets/llm_recursive/cpu-wikitext.yaml --jobs 2 --seeds 0 1 2
    python scripts/recursive_sweep.py -f presets/llm_recursive/paper-llama-wikitext.yaml   # a GPU machine

Each run goes to ``<runs-dir>/<method>-seed<seed>-<fingerprint>/`` (the folder the chapters read, the
fingerprint a hash of all its parameters) with its log beside it (``.log``). A finished run is skipped, an
interrupted one resumes at its first unfinished stage, so the same command can simply be run again.
``--jobs N`` runs N at a time, each with cores/N threads (two single-thread runs use two CPU cores better
than one two-thread run of a small model). ``--nproc N`` spreads each run over N processes (GPUs) with
torchrun. The methods and seeds are the preset's unless given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fortifai import recursive  # noqa: E402
from fortifai.runner import parse_value  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--params-file", type=Path, required=True)
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--runs-dir", type=Path, default=REPO / "results" / "llm_recursive" / "runs")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--nproc", type=int, default=1, help="processes (GPUs) per run, through torchrun")
    parser.add_argument("--until-stage", type=int, help="stop every run after this stage (0: the M0 gate)")
    args = parser.parse_args()
    preset = yaml.safe_load(args.params_file.read_text()) or {}
    methods = args.methods or preset.pop("methods", ["ce"])
    seeds = args.seeds if args.seeds is not None else preset.pop("seeds", [0])
    for notebook_only in ("methods", "seeds", "output_dir", "runs_dir", "kr_failure_threshold"):
        preset.pop(notebook_only, None)
    overrides = {k: parse_value(v) for k, v in args.param}
    jobs = []  # every configuration is checked before the first run starts
    for seed in seeds:  # seed by seed: a complete comparison of the methods comes first
        for method in methods:
            config = recursive.RecursiveConfig.from_dict({**preset, **overrides, **recursive.parse_method(method),
                                                          "seed": seed})
            jobs.append((method, seed, args.runs_dir / recursive.run_folder_name(config)))
    threads = max(1, (os.cpu_count() or 1) // args.jobs)

    def launch(job) -> tuple[str, int, float]:
        method, seed, folder = job
        if (folder / "metrics.json").is_file():
            return folder.name, 0, 0.0
        folder.parent.mkdir(parents=True, exist_ok=True)
        command = recursive.command_line(args.params_file, [("method", method), ("seed", seed), *args.param], folder,
                                         args.nproc, args.until_stage)
        started = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        with open(folder.parent / f"{folder.name}.log", "a") as log:
            code = subprocess.call(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        return folder.name, code, time.perf_counter() - started

    failed = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for name, code, seconds in pool.map(launch, jobs):
            status = "skipped (finished)" if not seconds else ("done" if code == 0 else f"FAILED (exit {code})")
            print(f"{name}: {status} in {seconds / 60:.1f} min", flush=True)
            failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
