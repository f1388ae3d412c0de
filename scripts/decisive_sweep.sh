#!/usr/bin/env bash
# The decisive test's runs (presets/llm_recursive/decisive.yaml), in the order that answers first what is asked
# first: the pilot (CE and TCE 0.9), the control arm (regenerate: false), the rest of the preset's seeds, then
# TCE 0.99 and focal 2.0.
# Every step resumes where it stopped, so the same command continues after an interruption.
#
#   git worktree add ../sweep-decisive <commit>      # code pinned at the commit that started the runs
#   cd ../sweep-decisive && bash scripts/decisive_sweep.sh > decisive.log 2>&1 &
#
# Finished runs land in results/llm_recursive/runs/ of the checkout that runs this; to commit them, from main:
#   fortifai collect ../sweep-decisive/results/llm_recursive/runs
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's fortifai, not an installed one
PY=${PY:-.venv/bin/python}
preset=presets/llm_recursive/decisive.yaml
jobs=${JOBS:-2}
# the pilot's and the control arm's seeds: fortifai.claims.decisive.SWEEP; the main sweep's: the preset's, which
# hold the number of pairs decisive.sweep_size computed from the pilot
seeds() { "$PY" -c "from fortifai.claims.decisive import SWEEP; print(*SWEEP['$1'])"; }
"$PY" -m fortifai sweep -f "$preset" --seeds $(seeds pilot_seeds) --jobs "$jobs"
"$PY" -m fortifai sweep -f "$preset" -p regenerate false --seeds $(seeds control_seeds) --jobs "$jobs"
"$PY" -m fortifai sweep -f "$preset" --jobs "$jobs"
# then, with the budget the sweep size left: the paper's other losses on the control arm's seeds
"$PY" -m fortifai sweep -f "$preset" --methods tce-0.99 focal-2.0 --seeds $(seeds control_seeds) --jobs "$jobs"
