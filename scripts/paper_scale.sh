#!/usr/bin/env bash
# The paper's four LLM settings (Tables D2-D5), each with CE, TCE 0.9, TCE 0.99 and focal 2.0, on a GPU machine
# with the Hugging Face hub reachable (LLaMA-3.2-1B is gated: `huggingface-cli login` first).
#
#   bash scripts/paper_scale.sh                      # all four settings, one after another
#   bash scripts/paper_scale.sh paper-llama-wikitext # one setting
#   NPROC=8 bash scripts/paper_scale.sh              # each run data-parallel over 8 GPUs (torchrun)
#
#   NPROC=4 SWEEP_ARGS="--launcher slurm --partition gpu" bash scripts/paper_scale.sh
#                                                    # a Slurm cluster: one job per run, all 16 submitted at once
#
# (each setting is `fortifai sweep -f presets/llm_recursive/<setting>.yaml`; see `fortifai sweep --help`)
#
# Runs land in results/llm_recursive/runs/ (the results chapter reads them) and resume when rerun. Our
# estimate of the cost, from a count of the work: python benchmarks/paper_scale_estimate.py
set -euo pipefail
cd "$(dirname "$0")/.."
settings=("${@:-paper-llama-wikitext paper-gemma-wikitext paper-llama-iow paper-gemma-iow}")
for setting in ${settings[@]}; do
  # shellcheck disable=SC2086  # SWEEP_ARGS: several options, split on spaces
  python -m fortifai sweep -f "presets/llm_recursive/${setting}.yaml" --nproc "${NPROC:-1}" ${SWEEP_ARGS:-}
done
