"""A regime that learns before it forgets: the criteria a recursive setting must meet before it can test the
central claim, fixed in code before the calibration runs that apply them, and the CE pilot's go/no-go.

The first decisive test ran in a memorisation regime: fine-tuning raised held-out real-text NLL from 2.95 to 3.75
nats, M0 answered 94% of split 0's KR questions, and regeneration handed the memorised facts back, so CE lost no
KR margin in four stages and there was nothing for TCE to delay. A calibration run trains M0 alone (``stages: 2``
for a second, unseen split that measures the KR chance; ``stage_measures: regime``, ``until_stage=0``: nothing
regenerated) at one point of :data:`GRID`; :func:`point_values` reads what the criteria need from it.

Committed before any calibration run, and never changed after:

- :data:`CRITERIA` (a)-(e) and :func:`passes`;
- :func:`choose`: among the points whose CE seeds all pass (a), (b), (d), (e) and whose TCE 0.9 seeds pass
  (c), the one with the largest KR gain over chance (room to fall), ties within :data:`TIE_POINTS` broken by
  the shorter projected run; if none passes, the point nearest to passing by :func:`distance` (the sum over the
  criteria of each shortfall relative to its threshold);
- :data:`PILOT` and :func:`pilot_verdict`: the CE pilot in the chosen regime, six stages, and the ladder tried on
  a no-go.

    values = point_values(run_folder)                 # a calibration run's measured values
    choice = choose(points, rates)                    # fortifai.claims.regime.CHOICE_KEYS
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

# (a)-(e), each a threshold on a value point_values measures (e: projected from the benchmark's speeds)
CRITERIA = {
    "a": dict(value="heldout_damage", max=0.10,
              text="M0's held-out real-text NLL at most 0.10 nats above the base model's (fine-tuning teaches "
                   "without damage)"),
    "b": dict(value="kr_gain", min=0.15, also=dict(value="kr_split0", max=0.90),
              text="KR accuracy on split 0 at M0 at least 15 points above the measured chance, and at most 90%"),
    "c": dict(value="masked_fraction", min=0.05, loss="tce-0.9",
              text="TCE 0.9 masks at least 5% of the targets at M0"),
    "d": dict(value="kr_questions", min=100, text="at least 100 KR questions on split 0 per seed"),
    "e": dict(value="projected_minutes", max=120.0,
              text="a 6-stage run projected at <= 120 min on one core (paragraph contexts, precision auto)"),
}
CE_CRITERIA = ("a", "b", "d", "e")  # judged on the CE seeds of a point; (c) on its TCE 0.9 seeds
TIE_POINTS = 0.02  # KR gains within 2 points of the best count as tied
PROJECTED_STAGES = 6

# the calibration grid: every split size, epoch count and learning rate appears three times, once with each value
# of the other two (a Latin square), 9 points from 12 to 96 leads, 1 to 4 epochs, 2e-5 to 1e-4
SPLIT_PARAGRAPHS = (12, 48, 96)
EPOCHS = (1, 2, 4)
LEARNING_RATES = (2e-5, 5e-5, 1e-4)
GRID = [dict(split_paragraphs=s, epochs=EPOCHS[e], learning_rate=LEARNING_RATES[(i + e) % 3])
        for i, s in enumerate(SPLIT_PARAGRAPHS) for e in range(3)]
CE_SEEDS = (0, 1)
# what every calibration run shares: the decisive preset's model, data, batch and decoding, with the speed paths
BASE = dict(model="smollm2-135m", dataset="wikipedia-offline-counterfactual", stages=2, heldout_paragraphs=16,
            min_paragraph_words=60, batch_size=4, micro_batch_size=4, block_size=128, context_tokens=256,
            new_tokens=32, num_beams=5, repetition_penalty=3.0, generation_batch_size=16, kr_per_paragraph=50,
            eval_batch_size=16, checkpoint_selection="last", last_stage_regenerates="split0",
            paragraph_separator="blank_line", regeneration_context="paragraph", evaluation="one_pass",
            precision="auto", stage_measures="regime", benchmarks=[])

# the CE pilot in the chosen regime: go/no-go fixed before it runs
PILOT = dict(
    stages=6, seeds=(0, 1), control_seeds=(0,), method="ce",
    go_accuracy_drop=0.08, go_margin_drop=0.10,
    rule=("go if CE's KR-split-0 accuracy falls by at least 8 points from M0 to M5, or its mean KR margin by at "
          "least 0.10 nats, on average over the seeds, and by more than on the control arm (regenerate: false, "
          "same seeds' mean); otherwise no-go"),
    # tried in order on a no-go, at most two rungs; then the finding is stated
    ladder=({"do_sample": True, "num_beams": 1, "temperature": 1.0, "top_p": 1.0},  # Shumailov et al.'s sampling
            {"epochs": "half"}),
)


def point_values(stage0: Mapping[str, Any]) -> dict[str, Any]:
    """What the criteria read from a calibration run's ``stage_0/metrics.json``: held-out damage (M0's mean held-out
    NLL minus the base model's), KR accuracy on split 0 and the measured chance (on split 1, never trained on),
    their difference, the number of split-0 questions, the share of trained tokens above p = 0.9 at the end of M0
    and, for TCE, the masked fraction over M0's training."""
    def mean(values):
        values = [float(v) for v in values or []]
        return sum(values) / len(values) if values else math.nan

    nll = stage0.get("real_nll", {})  # runs made before the real-text NLL was recorded have none: nan
    kr0, chance = stage0["kr"].get("0", {}), stage0.get("kr_chance", {})
    train = stage0["train"]
    values = dict(
        heldout_nll=mean(nll.get("model", {}).get("heldout")), base_heldout_nll=mean(nll.get("base", {}).get("heldout")),
        split0_nll=mean(nll.get("model", {}).get("split0")), base_split0_nll=mean(nll.get("base", {}).get("split0")),
        kr_split0=kr0.get("accuracy"), kr_chance=chance.get("accuracy"), kr_questions=kr0.get("n"),
        share_above_09=stage0.get("confidence", {}).get("model", {}).get("trained", {}).get("share_above", {})
        .get("0.9", math.nan),
        masked_fraction=train.get("masked_fraction_mean"), train_tokens=train["train_tokens"],
        train_blocks=train.get("train_blocks"),
    )
    values["heldout_damage"] = values["heldout_nll"] - values["base_heldout_nll"]
    values["kr_gain"] = (values["kr_split0"] - values["kr_chance"]
                         if values["kr_chance"] is not None and values["kr_split0"] is not None else None)
    return values


MEMORISATION = "memorisation regime"  # the label of a setting whose M0 memorises (see memorising)


def memorising(values: Sequence[Mapping[str, Any]]) -> bool | None:
    """Whether a setting's M0 memorises, from its CE runs' :func:`point_values`: fine-tuning damages held-out text
    beyond criterion (a) or KR-split 0 lies above criterion (b)'s 90% ceiling, on the mean over the runs. None when
    neither was measured (runs made before the real-text NLL was recorded and without KR on split 0)."""
    def mean(key):
        finite = [float(v[key]) for v in values if v.get(key) is not None and math.isfinite(float(v[key]))]
        return sum(finite) / len(finite) if finite else None

    damage, kr = mean("heldout_damage"), mean("kr_split0")
    if damage is None and kr is None:
        return None
    return bool((damage is not None and damage > CRITERIA["a"]["max"])
                or (kr is not None and kr > CRITERIA["b"]["also"]["max"]))


def optimizer_steps(train_blocks: int | None, epochs: int, batch_size: int) -> float:
    """The optimizer steps of a stage that trains ``epochs`` over ``train_blocks`` blocks, ``batch_size`` a step."""
    return epochs * -(-train_blocks // batch_size) if train_blocks else math.nan


def projected_minutes(split_tokens: float, heldout_tokens: float, epochs: int, rates: Mapping[str, float],
                      stages: int = PROJECTED_STAGES) -> float:
    """Minutes of a ``stages``-stage run on one core: stage i trains ``epochs`` passes over i + 1 splits of
    ``split_tokens`` tokens, regenerates them (split 0 alone at the last stage), and scores every split's
    paragraphs (with their KR questions), the held-out text and one regenerated split, at the one-core rates of
    ``benchmarks/recursive.py``: ``training_tokens_per_s``, ``regeneration_tokens_per_s`` and
    ``evaluation_tokens_per_s`` (tokens of text scored per second, questions included)."""
    seconds = 0.0
    for i in range(stages):
        seconds += epochs * (i + 1) * split_tokens / rates["training_tokens_per_s"]
        regenerated = 1 if i == stages - 1 else i + 1
        seconds += regenerated * split_tokens / rates["regeneration_tokens_per_s"]
        seconds += ((stages + 1) * split_tokens + heldout_tokens) / rates["evaluation_tokens_per_s"]
    return seconds / 60


def benchmark_rates(benchmark: Mapping[str, Any], precision: str = "auto") -> dict[str, float]:
    """The one-core rates :func:`projected_minutes` needs, from ``results/benchmarks/recursive.json``; training in
    the precision ``auto`` chose there, or in ``fp32`` (a machine without native bf16)."""
    if benchmark.get("threads") != 1:
        raise ValueError(f"the projection needs one-core rates, the benchmark ran on {benchmark.get('threads')} threads")
    train = benchmark["training"]
    fp32 = train["tokens_per_s"] if benchmark["precision"] == "fp32" else train.get("fp32_tokens_per_s")
    return dict(training_tokens_per_s=fp32 if precision == "fp32" else train["tokens_per_s"],
                regeneration_tokens_per_s=benchmark["regeneration"]["tokens_per_s"],
                evaluation_tokens_per_s=benchmark["evaluation"]["text_tokens"] / benchmark["evaluation"]["seconds"])


def _shortfalls(values: Mapping[str, Any], names: Sequence[str]) -> dict[str, float]:
    """Per criterion, how far ``values`` fall short of it, relative to its threshold (0: met; inf: not measured)."""
    out = {}
    for name in names:
        rule, total = CRITERIA[name], 0.0
        for part in (rule, rule.get("also")):
            if not part:
                continue
            value = values.get(part["value"])
            if value is None or (isinstance(value, float) and math.isnan(value)):
                total = math.inf
                break
            if "min" in part:
                total += max(0.0, part["min"] - value) / abs(part["min"])
            if "max" in part:
                total += max(0.0, value - part["max"]) / abs(part["max"])
        out[name] = total
    return out


def passes(values: Mapping[str, Any], names: Sequence[str]) -> dict[str, bool]:
    """Per criterion in ``names``: whether ``values`` meet it."""
    return {name: short == 0.0 for name, short in _shortfalls(values, names).items()}


def distance(ce_values: Sequence[Mapping[str, Any]], tce_values: Sequence[Mapping[str, Any]]) -> float:
    """How far a point is from passing: the mean over its CE seeds of the summed relative shortfalls on (a), (b),
    (d), (e), plus the mean over its TCE 0.9 seeds of (c)'s; where TCE 0.9 was not run (it runs only where CE
    passes (a) and (b)), (c) counts as a full shortfall, 1 (masking nothing)."""
    ce = [sum(_shortfalls(v, CE_CRITERIA).values()) for v in ce_values]
    tce = [sum(_shortfalls(v, ("c",)).values()) for v in tce_values]
    return (sum(ce) / len(ce) if ce else math.inf) + (sum(tce) / len(tce) if tce else UNRUN_SHORTFALL)


UNRUN_SHORTFALL = 1.0
# changes to this module after the first calibration run existed, with their date and effect (the chapter lists them)
CHANGES = [
    dict(date="2026-12-07", after="3 CE runs at 12 leads (none committed)",
         change="distance: an unrun TCE 0.9 counts as a full shortfall on (c), 1, instead of infinity",
         effect=("as first written every point without a TCE run (all that fail (a) or (b)) was infinitely far, so "
                 "'the nearest point' was arbitrary among them; the rule for passing points is unchanged")),
]


def choose(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen point from ``points`` (each ``split_paragraphs``, ``epochs``, ``learning_rate``, ``loss``,
    ``seed``, the measured values and ``passes``): the rule of the module docstring. Returns ``{"point": {...},
    "rule": "passes" | "nearest", "distance"}`` (``point`` None when no point has a CE run)."""
    by_point: dict[tuple, dict[str, list]] = {}
    for p in points:
        key = (p["split_paragraphs"], p["epochs"], p["learning_rate"])
        by_point.setdefault(key, {"ce": [], "tce-0.9": []}).setdefault(p["loss"], []).append(p)
    summary = []
    for key, runs in by_point.items():
        ce, tce = runs["ce"], runs["tce-0.9"]
        if not ce:
            continue
        gain = sum(r["kr_gain"] for r in ce) / len(ce) if all(r["kr_gain"] is not None for r in ce) else -math.inf
        minutes = (sum(r["projected_minutes"] for r in ce) / len(ce)
                   if all(r["projected_minutes"] is not None for r in ce) else math.inf)
        ok = (all(all(r["passes"][c] for c in CE_CRITERIA) for r in ce) and bool(tce)
              and all(r["passes"]["c"] for r in tce))
        summary.append(dict(split_paragraphs=key[0], epochs=key[1], learning_rate=key[2], kr_gain=gain,
                            projected_minutes=minutes, passes=ok, distance=distance(ce, tce)))
    if not summary:
        return dict(point=None, rule=None, distance=None)
    passing = [s for s in summary if s["passes"]]
    if passing:
        best = max(s["kr_gain"] for s in passing)
        tied = [s for s in passing if s["kr_gain"] >= best - TIE_POINTS]
        return dict(point=min(tied, key=lambda s: s["projected_minutes"]), rule="passes", distance=0.0)
    nearest = min(summary, key=lambda s: s["distance"])
    return dict(point=nearest, rule="nearest", distance=nearest["distance"])


def pilot_verdict(recursive_runs: Sequence[Mapping[str, Any]], control_runs: Sequence[Mapping[str, Any]]) -> dict:
    """``go`` or ``no-go`` by :data:`PILOT`'s rule from each run's ``{"accuracy": [M0..M5], "margin": [M0..M5]}``
    on split 0 (means over its questions)."""
    def drops(runs, key):
        values = [r[key][0] - r[key][-1] for r in runs]
        return sum(values) / len(values) if values else math.nan

    accuracy, margin = drops(recursive_runs, "accuracy"), drops(recursive_runs, "margin")
    control_accuracy, control_margin = drops(control_runs, "accuracy"), drops(control_runs, "margin")
    by_accuracy = accuracy >= PILOT["go_accuracy_drop"] and accuracy > control_accuracy
    by_margin = margin >= PILOT["go_margin_drop"] and margin > control_margin
    return dict(verdict="go" if by_accuracy or by_margin else "no-go", accuracy_drop=accuracy, margin_drop=margin,
                control_accuracy_drop=control_accuracy, control_margin_drop=control_margin,
                go_by="accuracy" if by_accuracy else "margin" if by_margin else None)
