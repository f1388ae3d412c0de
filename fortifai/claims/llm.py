"""The paper's language-model claims judged on our runs: gates first, then paired comparisons over seeds.

    gates = {run.folder.name: run_gate(run) for run in runs}       # can this run test the claim at all?
    claims, details = setting_claims(per_method, "smollm2-135m on wikipedia-offline")

For every run, the gate (:func:`run_gate`): how much the loss masked before failure, how much of split 0 its
first regeneration kept, and the KR-test's chance level measured on the splits M0 had not trained on. The
failure threshold is computed two ways: the paper's fixed 75% (chance 50%, half the gain to 100%), and the
paper's rule on measured numbers (halfway between the measured chance and M0's accuracy on split 0).

Every comparison of a loss with CE is paired by seed (runs of one seed share their splits and questions):
the paired bootstrap interval over seeds decides, the exact sign test and the paired t-test are shown beside
it with the smallest difference the seeds could detect, and McNemar per seed (on the questions) is secondary.
Verdicts come from :func:`fortifai.claims.judge.effect`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import stats
from ..krtest import kr_chance, mcnemar
from .claim import Claim
from . import judge
from ..recursive.config import KR_FAILURE_THRESHOLD
from ..recursive.protocol import read_run_data
from ..recursive.runs import (METRIC_TITLES, Run, kr_accuracy, method_label, paper_headline, paper_tables,
                              time_to_failure)

THRESHOLD_RULES = ("measured", "paper")
PAPER_TABLE = "D2"  # LLaMA-3.2-1B on WikiText-2: the table the paper's figures 6 and A2 draw
PAPER_ITEMS = {"kr_drop": "Fig. 6; Table D2", "kr_split0": "Fig. 6; Table D2", "kr_total": "Figs. 4, A1; Tables 2, 4"}
SMALLEST_EFFECT_SHARE = 0.25  # where the paper gives no size: a quarter of CE's own value is the smallest of interest
BENCHMARK_CHANCE = {"blimp": 0.5, "hellaswag": 0.25}  # a guess's score: BLiMP picks one of 2 sentences, HellaSwag of 4


def paper_effects(method: str = "tce-0.9", table: str = PAPER_TABLE, stage: int = -1) -> dict[str, float | None]:
    """The paper's effects of ``method`` over CE as we test them, computed from its tables
    (``fortifai/data/paper_llm_tables.yaml``) at ``stage`` (-1: M5, the last; a run of fewer stages is compared
    with the paper's value at its own last stage): the time-to-failure ratio from ``table``'s KR-split 0 row
    (interpolated at the 75% threshold, as ours, over all six stages), the difference in KR-split 0 lost from M0
    to ``stage`` (method minus CE, net of the two losses' M0 gap), KR-split 0 and KR-total at ``stage`` (method
    minus CE), and the range of that KR-total gain over Tables D2-D5."""
    from ..recursive.runs import paper_tables, paper_time_to_failure

    tables = paper_tables()
    rows = tables[table]["values"]
    if method not in rows:
        return {"ratio": None, "kr_drop": None, "kr_split0": None, "kr_total": None, "kr_total_range": None}
    split0 = {m: rows[m]["kr_split0"] for m in (method, "ce")}
    gains = [t["values"][method]["kr_total"][stage] - t["values"]["ce"]["kr_total"][stage] for t in tables.values()]
    return dict(ratio=paper_time_to_failure(table, method) / paper_time_to_failure(table, "ce"),
                kr_drop=(split0[method][0] - split0[method][stage]) - (split0["ce"][0] - split0["ce"][stage]),
                kr_split0=split0[method][stage] - split0["ce"][stage],
                kr_total=rows[method]["kr_total"][stage] - rows["ce"]["kr_total"][stage],
                kr_total_range=(min(gains), max(gains)))


def _gamma(run: Run) -> float | None:
    if run.params.get("loss") == "tce":
        return 0.9 if run.params.get("gamma") is None else float(run.params["gamma"])
    return None


def masked_before_failure(run: Run, stages: int | None = None) -> tuple[float | None, str]:
    """``(fraction, source)``: how much of the training tokens the loss masked over stages ``0..stages-1``.

    From ``masked_fraction_by_epoch`` (every batch) when the run recorded it; for older TCE runs, the share of
    the trained split's tokens above gamma under the model *after* training, an upper bound of the average over
    training (confidence grows while a model trains). CE masks nothing (0); focal reports its mean weight.
    """
    stages_used = run.stages[:stages] if stages else run.stages[:1]
    recorded = [s["train"].get("masked_fraction_mean") for s in stages_used]
    if all(v is not None for v in recorded) and recorded:
        return float(np.mean(recorded)), "mean over every training batch"
    if run.params.get("loss") == "ce":
        return 0.0, "CE masks nothing"
    gamma = _gamma(run)
    if gamma is not None and "confidence" in stages_used[0]:
        shares = [s["confidence"]["model"]["trained"]["share_above"].get(str(gamma)) for s in stages_used]
        if all(v is not None for v in shares):
            return float(np.mean(shares)), "share of trained tokens above gamma after training (an upper bound)"
    return None, "not recorded"


def run_chance(run: Run) -> dict[str, Any] | None:
    """The run's measured KR chance (stage 0's ``kr_chance``, else computed from its stored answers)."""
    stage0 = run.stages[0]
    if "kr_chance" in stage0:
        return stage0["kr_chance"]
    data = read_run_data(run.folder)
    if not data.get("kr_items") or not stage0.get("kr"):
        return None
    return kr_chance(data["kr_items"], stage0["kr"], unseen=range(1, len(data["kr_items"])))


def run_gate(run: Run) -> dict[str, Any]:
    """What decides whether one run can test the claim: masking, fidelity, chance, thresholds."""
    masked, source = masked_before_failure(run)
    fidelity = run.stages[0].get("regeneration_fidelity", {}).get("0", {})
    chance = run_chance(run)
    m0 = kr_accuracy(run.stages[0], [0])
    measured = None if chance is None or m0 is None else (chance["accuracy"] + m0) / 2
    return dict(masked_fraction_m0=masked, masked_source=source, ngram4_precision_m0=fidelity.get("ngram4_precision"),
                type_token_ratio_m0=fidelity.get("type_token_ratio"), kr_prefix_survival_m0=fidelity.get("kr_prefix_survival"),
                kr_chance=None if chance is None else chance["accuracy"],
                kr_chance_interval=None if chance is None else [chance["ci_low"], chance["ci_high"]],
                kr_chance_by_kind=None if chance is None else {k: v["accuracy"] for k, v in chance["by_kind"].items()},
                kr_split0_m0=m0, threshold_paper=KR_FAILURE_THRESHOLD, threshold_measured=measured)


def failure_time(run: Run, rule: str = "measured") -> float:
    """Stages until KR-split 0 falls below the run's failure threshold (``rule``: measured or the paper's 75%)."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    threshold = KR_FAILURE_THRESHOLD if rule == "paper" else run_gate(run)["threshold_measured"]
    if threshold is None:
        return math.nan
    return time_to_failure(run.values("kr_split0"), threshold)


def paired(method_runs: Sequence[Run], baseline_runs: Sequence[Run]) -> list[tuple[Run, Run]]:
    """(method, baseline) runs of the seeds both have, in seed order; refuses a pair whose KR questions differ
    (a seed's runs must share their splits and questions to be compared item by item)."""
    base = {r.seed: r for r in baseline_runs}
    pairs = [(r, base[r.seed]) for r in sorted(method_runs, key=lambda r: r.seed) if r.seed in base]
    for a, b in pairs:
        if read_run_data(a.folder).get("kr_items") != read_run_data(b.folder).get("kr_items"):
            raise ValueError(f"{a.folder.name} and {b.folder.name} have the same seed but other KR questions")
    return pairs


def _answers_differ(pairs: list[tuple[Run, Run]], stage: int = 0) -> tuple[int, int]:
    """Questions answered differently by the two losses' models at ``stage``, and questions, over the seeds."""
    differ = total = 0
    for a, b in pairs:
        for key in a.stages[stage]["kr"]:
            ca, cb = a.stages[stage]["kr"][key]["correct"], b.stages[stage]["kr"][key]["correct"]
            differ += sum(x != y for x, y in zip(ca, cb))
            total += len(ca)
    return differ, total


def compare_failure(pairs: list[tuple[Run, Run]], rule: str = "measured", n_boot: int = 10_000) -> dict[str, Any]:
    """Time to failure of method vs baseline, paired by seed: bootstrap ratio, sign test, paired t, MDD (stages)."""
    n_stages = len(pairs[0][0].stages)
    a = np.array([min(failure_time(m, rule), n_stages) for m, _ in pairs], dtype=float)
    b = np.array([min(failure_time(c, rule), n_stages) for _, c in pairs], dtype=float)
    out = dict(rule=rule, method=a.tolist(), baseline=b.tolist(), seeds=[m.seed for m, _ in pairs],
               censored=int(np.sum(a >= n_stages)), baseline_censored=int(np.sum(b >= n_stages)), stages=n_stages)
    if np.isnan(a).any() or np.isnan(b).any():
        return {**out, "ratio": None}
    boot = stats.paired_bootstrap(a, b, "ratio", n_boot=n_boot)
    t = stats.paired_t(a, b)
    return {**out, "ratio": boot["estimate"], "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
            "sign_test": stats.sign_test(a, b), "paired_t": t,
            "detectable_stages": stats.detectable_difference(len(a), t["sd"])}


def compare_kr(pairs: list[tuple[Run, Run]], metric: str, stage: int = -1, n_boot: int = 10_000) -> dict[str, Any]:
    """KR accuracy (``kr_split0``, ``kr_total`` or ``kr_drop``: M0's split-0 accuracy minus the stage's) of
    method minus baseline, paired by seed; McNemar per seed on the shared questions as secondary."""
    def value(run: Run) -> float:
        if metric == "kr_drop":
            values = run.values("kr_split0")
            return values[0] - values[stage]
        return run.values(metric)[stage]

    a = np.array([value(m) for m, _ in pairs])
    b = np.array([value(c) for _, c in pairs])
    boot = stats.paired_bootstrap(a, b, "difference", n_boot=n_boot)
    t = stats.paired_t(a, b)
    per_seed = []
    for m, c in pairs:
        splits = None if metric == "kr_total" else ["0"]
        keys = splits or sorted(m.stages[stage]["kr"], key=int)
        ca = [x for k in keys for x in m.stages[stage]["kr"][k]["correct"]]
        cb = [x for k in keys for x in c.stages[stage]["kr"][k]["correct"]]
        test = mcnemar(ca, cb)
        per_seed.append({"seed": m.seed, "b": test["b"], "c": test["c"], "n": test["n"], "p_value": test["p_value"]})
    n_questions = sum(s["n"] for s in per_seed)
    discordant = sum(s["b"] + s["c"] for s in per_seed) / n_questions if n_questions else 0.0
    # the decision rests on the paired t interval: with 3 seeds the bootstrap has 10 distinct resamples and
    # its percentile interval is far too narrow; it is kept beside it
    return dict(metric=metric, method=a.tolist(), baseline=b.tolist(), difference=t["difference"],
                ci_low=t["ci_low"], ci_high=t["ci_high"], bootstrap=boot, sign_test=stats.sign_test(a, b), paired_t=t,
                detectable_seeds=stats.detectable_difference(len(a), t["sd"]),
                detectable_questions=stats.detectable_proportion_difference(n_questions, discordant),
                mcnemar_per_seed=per_seed)


def _fmt_ratio(c: dict[str, Any]) -> str:
    bound = "≥ " if c["censored"] else ""
    every_run_censored = c["censored"] == c["baseline_censored"] == len(c["seeds"])
    detectable = ("not estimable (every run censored)" if every_run_censored
                  else f"{c['detectable_stages']:.2f} stages")
    return (f"{bound}{c['ratio']:.2f}x [{c['ci_low']:.2f}, {c['ci_high']:.2f}] over {len(c['seeds'])} paired seeds "
            f"({c['rule']} threshold; sign test {c['sign_test']['positive']} of {c['sign_test']['n']} seeds longer, "
            f"p = {c['sign_test']['p_value']:.2g}; detectable at 80% power: {detectable})")


def _t_interval(t: dict[str, Any], points: bool = True, label: str = "paired t 95%") -> str:
    """A t interval (:func:`fortifai.stats.paired_t`'s ``ci_low``, ``ci_high``) as text, in points of accuracy or
    as it is; "no interval" for one seed."""
    if not np.isfinite(t["ci_low"]):
        return "no interval"
    return (f"{label} [{t['ci_low'] * 100:+.1f}, {t['ci_high'] * 100:+.1f}]" if points else
            f"{label} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]")


def _fmt_points(c: dict[str, Any]) -> str:
    tests = ", ".join(f"seed {s['seed']}: {s['b']}/{s['c']} p = {s['p_value']:.2g}" for s in c["mcnemar_per_seed"])
    boot = c["bootstrap"]
    interval = _t_interval(c)
    return (f"{c['difference'] * 100:+.1f} points, {interval} "
            f"over {len(c['method'])} seeds (p = {c['paired_t']['p_value']:.2g}; paired bootstrap "
            f"[{boot['ci_low'] * 100:+.1f}, {boot['ci_high'] * 100:+.1f}]; sign test {c['sign_test']['positive']} of "
            f"{c['sign_test']['n']}, p = {c['sign_test']['p_value']:.2g}; detectable: "
            f"{c['detectable_seeds'] * 100:.1f} points over seeds, {c['detectable_questions'] * 100:.1f} over the "
            f"questions; McNemar method-only/baseline-only right, {tests})")


def regime_label(ce_runs: Sequence[Run]) -> str:
    """``" [memorisation regime]"`` where the setting's CE runs memorise at M0 (their held-out real text damaged
    beyond the regime criterion (a), or KR-split 0 above criterion (b)'s 90%: :func:`fortifai.claims.regime.
    memorising`), else ``""``: what the closing claims add to the setting's name."""
    from . import regime

    values = []
    for run in ce_runs:
        try:
            values.append(regime.point_values(run.stages[0]))
        except (KeyError, IndexError, TypeError):  # an M0 without KR or training records: not measured
            continue
    return f" [{regime.MEMORISATION}]" if regime.memorising(values) else ""


def superseded(label: str) -> str:
    """Why a setting's verdicts are folded under the decisive test's: ``label`` is :func:`regime_label`'s."""
    why = ("its M0 memorises split 0 (regime criteria (a) or (b) fail), so regeneration hands memorised facts back "
           "and there is little to delay" if label else "it ran before the decisive test's plan was fixed")
    return f"superseded by the decisive test, which has more seeds and a plan fixed before its runs; {why}"


def setting_claims(per: dict[str, list[Run]], name: str, rule: str = "measured",
                   n_boot: int = 10_000) -> tuple[list[Claim], dict[str, Any]]:
    """The closing claims of one setting (runs by method, CE among them) and the numbers behind each.

    Long because it is one setting's table: one short block per claim, in the order the chapter prints them."""
    claims, details = [], {"gates": {}, "comparisons": {}}
    for method, runs in per.items():
        for run in runs:
            details["gates"][run.folder.name] = {"method": method, "seed": run.seed, **run_gate(run)}
    if "ce" not in per:
        return claims, details
    drift = drift_claim(per["ce"], name)
    if drift:
        claims.append(drift[0])
        details["comparisons"]["ce drift"] = drift[1]
    for method in ("tce-0.9", "focal-2.0", "tce-0.99"):
        pairs = paired(per.get(method, []), per["ce"])
        if not pairs:
            continue
        gates = [run_gate(m) for m, _ in pairs]
        masked = [g["masked_fraction_m0"] for g in gates if g["masked_fraction_m0"] is not None]
        fidelity = [g["ngram4_precision_m0"] for g in gates if g["ngram4_precision_m0"] is not None]
        gate_args = dict(masked_fraction=float(np.mean(masked)) if masked and method.startswith("tce") else None,
                         fidelity=float(np.mean(fidelity)) if fidelity else None)
        differ, total = _answers_differ(pairs)
        parts = ([f"masks {gate_args['masked_fraction']:.1%} at M0"] if gate_args["masked_fraction"] is not None else [])
        if gate_args["fidelity"] is not None:
            parts.append(f"M0 regeneration keeps {gate_args['fidelity']:.0%} of 4-grams")
        parts.append(f"M0 answers {differ} of {total} KR questions differently from CE's M0")
        gate_text = "gate: " + ", ".join(parts)
        label = method_label(method)
        paper = paper_effects(method)
        failure = {r: compare_failure(pairs, r, n_boot) for r in THRESHOLD_RULES}
        details["comparisons"][f"{method} time to failure"] = failure
        main = failure[rule]
        if main["ratio"] is not None:
            censored = (f"no CE run fell below the threshold within its {main['stages']} stages: there is no "
                        "failure to delay") if main["baseline_censored"] == len(pairs) else None
            verdict, why = judge.effect(main["ci_low"], main["ci_high"], 1.0, paper["ratio"], seeds=len(pairs),
                                        estimate=main["ratio"], nothing_to_delay=censored, **gate_args)
            other = failure["paper" if rule == "measured" else "measured"]
            other_text = (f"; {other['rule']} threshold: {other['ratio']:.2f}x [{other['ci_low']:.2f}, "
                          f"{other['ci_high']:.2f}]" if other["ratio"] is not None else "")
            headline = (f"; the abstract says {paper_headline()['abstract']}x, the conclusion "
                        f"{paper_headline()['conclusion']}x" if method == "tce-0.9" else "")
            claims.append(Claim(f"{name}: {label} delays failure over CE (Table {PAPER_TABLE} interpolated at "
                                f"{KR_FAILURE_THRESHOLD:.0%}: "
                                f"{paper['ratio']:.2f}x{headline})",
                                _fmt_ratio(main) + other_text + f"; {gate_text}", f"{verdict}: {why}",
                                "Figs. 6, A2; Sec. 4.5"))
        if method != "tce-0.9":
            continue
        last = len(pairs[0][0].stages) - 1
        # like with like: the paper's values at our last stage (its M5 where we ran six stages or more)
        at = min(last, len(paper_tables()[PAPER_TABLE]["values"]["ce"]["kr_split0"]) - 1)
        same = paper_effects(method, stage=at)
        rows = paper_tables()[PAPER_TABLE]["values"]
        ce0, ce_at = rows["ce"]["kr_split0"][0], rows["ce"]["kr_split0"][at]
        m0, m_at = rows[method]["kr_split0"][0], rows[method]["kr_split0"][at]
        low, high = same["kr_total_range"]
        for metric, text, paper_gain in (
                ("kr_drop", f"{label} loses less of split 0's KR accuracy from M0 to M{last} than CE (Table "
                            f"{PAPER_TABLE}, M0 to M{at}: CE {ce0:.1%} to {ce_at:.1%}, {label} {m0:.1%} to "
                            f"{m_at:.1%})", same["kr_drop"]),
                ("kr_split0", f"{label} keeps more of the regenerated split's facts at M{last} (Table {PAPER_TABLE} "
                              f"M{at}: {m_at:.1%} vs {ce_at:.1%})", same["kr_split0"]),
                ("kr_total", f"{label} retains more knowledge than CE at M{last} (Tables D2-D5 at M{at}: KR-total "
                             f"{low * 100:+.1f} to {high * 100:+.1f} points)", same["kr_total"])):
            c = compare_kr(pairs, metric, n_boot=n_boot)
            details["comparisons"][f"{method} {metric}"] = c
            # a claim about what is lost from M0 needs a loss: CE's own, over the seeds, beyond noise
            baseline_loss = stats.paired_t(np.array(c["baseline"]), np.zeros(len(pairs))) if metric == "kr_drop" else None
            verdict, why = judge.effect(c["ci_low"], c["ci_high"], 0.0, paper_gain, seeds=len(pairs),
                                        estimate=c["difference"], **gate_args,
                                        baseline_loss=None if baseline_loss is None else
                                        (baseline_loss["difference"], baseline_loss["ci_low"], baseline_loss["ci_high"]))
            claims.append(Claim(f"{name}: {text}", _fmt_points(c), f"{verdict}: {why}", PAPER_ITEMS[metric]))
        kl = compare_kl(pairs, n_boot=n_boot)
        details["comparisons"][f"{method} kl"] = kl
        smallest = SMALLEST_EFFECT_SHARE * float(np.mean(kl["baseline"]))
        verdict, why = judge.effect(kl["ci_low"], kl["ci_high"], 0.0, seeds=len(pairs), estimate=kl["difference"],
                                    smallest=smallest, **gate_args)
        claims.append(Claim(f"{name}: {label} keeps the KL divergence of generated to real text below CE's (Fig. 7: "
                            "'significantly lower', no number given)",
                            f"smoothed word-unigram KL at M{last}, CE minus {label} {kl['difference']:+.3f}, "
                            f"{_t_interval(kl, points=False)} over {len(pairs)} seeds (sign test "
                            f"{kl['sign_test']['positive']} of {kl['sign_test']['n']})", f"{verdict}: {why}",
                            "Figs. 7, A3"))
        for metric in BENCHMARK_CHANCE:
            found = benchmark_claim(pairs, metric, name, at, gate_args)
            if found:
                claims.append(found[0])
                details["comparisons"][f"{method} {metric}"] = found[1]
    details["n_comparisons"] = len(claims)
    return claims, details


def drift_claim(runs: Sequence[Run], name: str) -> tuple[Claim, dict[str, Any]] | None:
    """Table E6 on CE's runs: how far split 0's regenerated text drifts from its real text, the word 4-gram
    precision against the real text at M0 (the first regeneration) minus at the last stage, t interval over seeds;
    the paper gives no size, so a quarter of M0's precision is the smallest drift of interest. None where a run
    did not record it. Gated on the first regeneration keeping its content (:func:`fortifai.claims.judge.gate`)."""
    def precision(run: Run, stage: int) -> float | None:
        return run.stages[stage].get("regeneration_fidelity", {}).get("0", {}).get("ngram4_precision_original")

    values = np.array([[precision(r, 0), precision(r, -1)] for r in runs if len(r.stages) > 1], dtype=float)
    if not len(values) or not np.all(np.isfinite(values)):
        return None
    t, last = stats.paired_t(values[:, 0], values[:, 1]), len(runs[0].stages) - 1
    verdict, why = judge.effect(t["ci_low"], t["ci_high"], 0.0, seeds=len(values), estimate=t["difference"],
                                smallest=SMALLEST_EFFECT_SHARE * float(values[:, 0].mean()),
                                fidelity=float(values[:, 0].mean()))
    interval = _t_interval(t, label="t95")
    claim = Claim(f"{name}: under CE, split 0's regenerated text drifts from its real text stage by stage (Table "
                  "E6: 'the message delivered by the text quickly changes'; no number given)",
                  f"word 4-gram precision against the real text {values[:, 0].mean():.1%} at M0, "
                  f"{values[:, 1].mean():.1%} at M{last}: a fall of {t['difference'] * 100:+.1f} points, {interval} "
                  f"over {len(values)} seeds", f"{verdict}: {why}", "Table E6")
    return claim, dict(m0=values[:, 0].tolist(), last=values[:, 1].tolist(), **t)


def benchmark_claim(pairs: list[tuple[Run, Run]], metric: str, name: str, at: int,
                    gates: dict[str, Any]) -> tuple[Claim, dict[str, Any]] | None:
    """Fig. 5 on one benchmark of :data:`BENCHMARK_CHANCE`: TCE 0.9 minus CE at the last stage (paired t over
    seeds) against Table D2's difference at stage ``at``; None where a run did not measure it. Gated, beside
    ``gates``, on CE's M0 scoring above the benchmark's chance beyond the noise (a model at chance has nothing to
    lose on it, and two losses at chance differ by noise alone)."""
    ours = np.array([[m.values(metric)[-1], c.values(metric)[-1], c.values(metric)[0]] for m, c in pairs])
    if not np.all(np.isfinite(ours)):
        return None
    chance, title = BENCHMARK_CHANCE[metric], METRIC_TITLES[metric]
    start = stats.paired_t(ours[:, 2], np.full(len(ours), chance))
    at_chance = (None if start["ci_low"] > 0 else
                 f"CE's M0 scores {title} {ours[:, 2].mean():.1%} (t95 [{chance + start['ci_low']:.1%}, "
                 f"{chance + start['ci_high']:.1%}] over {len(ours)} seeds), not above chance ({chance:.0%}): the "
                 f"model has nothing to lose on it")
    t = stats.paired_t(ours[:, 0], ours[:, 1])
    rows, last = paper_tables()[PAPER_TABLE]["values"], len(pairs[0][0].stages) - 1
    paper = rows["tce-0.9"][metric][at] - rows["ce"][metric][at]
    verdict, why = judge.effect(t["ci_low"], t["ci_high"], 0.0, paper, seeds=len(pairs), estimate=t["difference"],
                                nothing_to_delay=at_chance, **gates)
    interval = _t_interval(t)
    claim = Claim(f"{name}: {method_label('tce-0.9')} scores above CE on {title} at M{last} (Fig. 5: 'outperforms "
                  f"baselines (CE) across all benchmarks consistently'; Table {PAPER_TABLE} M{at}: "
                  f"{rows['tce-0.9'][metric][at]:.1%} vs {rows['ce'][metric][at]:.1%})",
                  f"{t['difference'] * 100:+.1f} points, {interval} over {len(ours)} seeds; CE's M0 "
                  f"{ours[:, 2].mean():.1%}, chance {chance:.0%}", f"{verdict}: {why}", f"Fig. 5; Table {PAPER_TABLE}")
    return claim, dict(metric=metric, method=ours[:, 0].tolist(), baseline=ours[:, 1].tolist(),
                       baseline_m0=ours[:, 2].tolist(), chance=chance, paper=paper, **t)


def compare_kl(pairs: list[tuple[Run, Run]], stage: int = -1, n_boot: int = 10_000) -> dict[str, Any]:
    """Smoothed unigram KL of the regenerated splits to the real ones at ``stage`` (:func:`generated_kl`),
    baseline minus method (positive: the method stays closer to the real text), paired by seed."""
    from ..recursive import generated_kl

    def kl(run: Run) -> float:
        return generated_kl(run.folder)[stage]["total"]["smoothed"]

    a = np.array([kl(c) for _, c in pairs])  # baseline
    b = np.array([kl(m) for m, _ in pairs])  # method
    t = stats.paired_t(a, b)
    return dict(baseline=a.tolist(), method=b.tolist(), difference=t["difference"], ci_low=t["ci_low"],
                ci_high=t["ci_high"], paired_t=t, sign_test=stats.sign_test(a, b),
                bootstrap=stats.paired_bootstrap(a, b, "difference", n_boot=n_boot))
