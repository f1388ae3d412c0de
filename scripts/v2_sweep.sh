#!/usr/bin/env bash
# The v2 decisive test's runs (presets/llm_recursive/decisive-v2.yaml; the plan: fortifai.claims.decisive_v2):
# the pilot of every arm (the preset's methods on seeds 0-2), every arm on the mechanism contrasts' seeds (CE, TCE
# 0.9, rmask and focal to the plan's minimum), the control arm (CE and TCE 0.9, regenerate: false), then the CE/TCE
# 0.9 pairs the sample size asks for (decisive_v2.sweep_seeds, from the runs finished). The plan's counts are fixed;
# this order finishes the bounded ones (the contrasts, the control arm) before the primary's open-ended pairs.
# Every step resumes where it stopped; a run committed part-way (fortifai collect --partial) first trains its
# finished stages again from their committed text. A session's machine keeps no weights: collect before it ends.
#
#   git worktree add ../v2 HEAD && ln -s "$PWD/.venv" ../v2/.venv     # code pinned at the commit that starts them
#   cd ../v2 && OMP_NUM_THREADS=1 nohup bash scripts/v2_sweep.sh > ../v2-sweep.log 2>&1 &
#
# Arguments go to every `fortifai sweep` (default: --jobs $JOBS, 2), e.g. one Slurm job per run:
#   bash scripts/v2_sweep.sh --launcher slurm --partition gpu --gpus-per-node 1 --time 120
# (Slurm: every step is submitted at once; run the script again once the pilot has finished M5, for its pairs.)
#
# From main, before the session ends (finished runs, and the finished stages of the runs going):
#   fortifai collect ../v2/results/llm_recursive/runs --partial
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's fortifai, not an installed one
PY=${PY:-.venv/bin/python}
preset=presets/llm_recursive/decisive-v2.yaml
launch=("$@")
[ $# -gt 0 ] || launch=(--jobs "${JOBS:-2}")
seeds() {
  "$PY" -c "from fortifai.claims.decisive_v2 import sweep_seeds
from fortifai.experiments.calibration import REGIME_DIR, read_v2_preset
from fortifai.results import read_json
pilot = read_json(REGIME_DIR / 'choice.json').get('pilot', {})
print(*sweep_seeds(read_v2_preset(), pilot, 'results/llm_recursive/runs')['$1'])"
}
"$PY" -m fortifai sweep -f "$preset" "${launch[@]}"
"$PY" -m fortifai sweep -f "$preset" --seeds $(seeds rmask-0.9) "${launch[@]}"
"$PY" -m fortifai sweep -f "$preset" -p regenerate false --methods ce tce-0.9 --seeds $(seeds control) "${launch[@]}"
"$PY" -m fortifai sweep -f "$preset" --methods ce tce-0.9 --seeds $(seeds ce) "${launch[@]}"
