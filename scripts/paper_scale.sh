#!/usr/bin/env bash
# The paper's four LLM settings (Tables D2-D5), each with CE, TCE 0.9, TCE 0.99 and focal 2.0, on a GPU machine
# with the Hugging Face hub reachable (LLaMA-3.2-1B is gated: `huggingface-cli login` first).
#
#   bash scripts/paper_scale.sh                      # all four settings, one after another
#   bash scripts/paper_scale.sh paper-llama-wikitext # one setting
#   NPROC=8 bash scripts/paper_scale.sh              # data-parallel over 8 GPUs (torchrun through accelerate)
#
# Runs land in results/llm_recursive/runs/ (the results chapter reads them) and resume when rerun. Our
# estimate of the cost, from a FLOP count: python benchmarks/paper_scale_estimate.py
set -euo pipefail
cd "$(dirname "$0")/.."
settings=("${@:-paper-llama-wikitext paper-gemma-wikitext paper-llama-iow paper-gemma-iow}")
for setting in ${settings[@]}; do
  preset="presets/llm_recursive/${setting}.yaml"
  if [[ "${NPROC:-1}" -gt 1 ]]; then
    for method in ce tce-0.9 tce-0.99 focal-2.0; do
      name=$(python -c "import yaml,sys; from fortifai import recursive as r; p=yaml.safe_load(open('$preset')); \
[p.pop(k, None) for k in ('methods', 'seeds')]; c=r.RecursiveConfig.from_dict({**p, **r.parse_method('$method')}); \
print(r.run_folder_name('$method', c))")
      torchrun --nproc_per_node "$NPROC" -m fortifai.recursive -f "$preset" -p method "$method" \
        -o "results/llm_recursive/runs/$name"
    done
  else
    python scripts/recursive_sweep.py -f "$preset"
  fi
done
