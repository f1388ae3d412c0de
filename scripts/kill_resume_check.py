"""The resume check: SIGKILL a recursive run in the middle of a stage's training, rerun the same
command, and compare its metrics.json with an uninterrupted run's.

    python scripts/kill_resume_check.py -f presets/llm_recursive/cpu.yaml -p method ce --kill-stage 1

Two runs of the same command into two folders under ``--work-dir``: the reference runs through; the other is
killed (SIGKILL, the whole process group) as soon as the Trainer has saved its first checkpoint of stage
``--kill-stage``, then started again with the same command, which resumes inside that stage. Both use one
thread per process, so that their arithmetic is the same. Timings (seconds, tokens per second) are the only
fields allowed to differ; the script prints what differs and exits 1 if anything else does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fortifai.book.runner import add_params_options, load_params  # noqa: E402
from fortifai.recursive import sweep  # noqa: E402
from fortifai.recursive.protocol import without_timings  # noqa: E402


def differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_params_options(parser, "a preset, e.g. presets/llm_recursive/cpu.yaml")
    parser.add_argument("--kill-stage", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/fortifai-kill-check"))
    args = parser.parse_args()
    try:  # the parameters are checked before anything starts
        sweep.run_config(sweep.split_preset(load_params(args.params_file, args.param))[0])
    except ValueError as error:  # fortifai.book.runner.ParameterError too
        parser.error(str(error))
    shutil.rmtree(args.work_dir, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def command(folder: Path) -> list[str]:
        return sweep.command_line(folder, args.params_file, args.param)

    reference, resumed = args.work_dir / "reference", args.work_dir / "resumed"
    args.work_dir.mkdir(parents=True)
    started = time.perf_counter()
    victim = subprocess.Popen(command(resumed), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    first = subprocess.Popen(command(reference), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    trainer = resumed / f"stage_{args.kill_stage}" / "trainer"
    while victim.poll() is None and not list(trainer.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.02)  # a smoke stage keeps its checkpoint for well under a second
    if victim.poll() is not None:
        print(f"the run ended (exit {victim.returncode}) before stage {args.kill_stage} saved a checkpoint")
        return 1
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    checkpoints = sorted(p.name for p in trainer.glob("checkpoint-*"))
    print(f"killed at {time.perf_counter() - started:.0f} s in stage {args.kill_stage}: checkpoints {checkpoints}, "
          f"finished stages {sorted(p.parent.name for p in resumed.glob('stage_*/metrics.json'))}")
    again = subprocess.run(command(resumed), cwd=REPO, env=env, capture_output=True, text=True)
    first.wait()
    if again.returncode or first.returncode:
        print(f"exit codes: reference {first.returncode}, resumed {again.returncode}\n{again.stderr[-2000:]}")
        return 1
    resumed_from = [line for line in again.stdout.splitlines() + again.stderr.splitlines() if "resuming" in line]
    print("\n".join(resumed_from) or "(no resume message)")
    a = without_timings(json.loads((reference / "metrics.json").read_text()))
    b = without_timings(json.loads((resumed / "metrics.json").read_text()))
    diff = differences(a, b)
    print(f"metrics.json without timings: {'identical' if not diff else f'{len(diff)} differences'} "
          f"({time.perf_counter() - started:.0f} s in all)")
    for line in diff[:20]:
        print("  " + line)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
