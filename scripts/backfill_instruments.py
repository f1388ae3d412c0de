"""Add the instruments to runs made before the engine recorded them, from their stored text and answers.

    python scripts/backfill_instruments.py [RUNS_DIR]        # default results/llm_recursive/runs

Per run: ``regeneration_fidelity`` in every stage's metrics (fortifai.recursive.instruments.fidelity, from the
regenerated text and the run's data) and ``kr_chance`` in stage 0's (fortifai.krtest.kr_chance, from M0's stored answers on the splits it
had not trained on). No model is loaded. The masked fraction per epoch cannot be recovered: it needs the
training batches; the chapters fall back to the share of trained tokens above gamma, an upper bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fortifai.krtest import kr_chance  # noqa: E402
from fortifai.recursive import RunFiles  # noqa: E402
from fortifai.recursive.instruments.fidelity import backfill_run  # noqa: E402
from fortifai.results import RUNS_DIR, read_json, write_json  # noqa: E402


def add_chance(run_dir: Path) -> bool:
    files = RunFiles(run_dir)
    data = files.data()
    stage0 = files.stage_metrics_file(0)
    metrics = read_json(stage0)
    chance = kr_chance(data["kr_items"], metrics["kr"], unseen=range(1, len(data["kr_items"])))
    if metrics.get("kr_chance") == chance:
        return False
    metrics["kr_chance"] = chance
    write_json(stage0, metrics)
    result = files.metrics()
    result["stages"][0]["kr_chance"] = chance
    write_json(files.metrics_file, result)
    return True


def main() -> int:
    runs_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else RUNS_DIR
    for run_dir in sorted(p for p in runs_dir.iterdir() if RunFiles(p).complete()):
        stages = backfill_run(run_dir)
        chance = add_chance(run_dir)
        print(f"{run_dir.name}: fidelity in {stages} stage(s){', KR chance' if chance else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
