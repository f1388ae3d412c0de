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
Verdicts come from :func:`fortifai.report.judge`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import stats
from ..krtest import kr_chance, mcnemar
from ..llm_results import Run, method_label, paper_headline, paper_tables
from ..recursive import KR_FAILURE_THRESHOLD, kr_accuracy, read_run_data, time_to_failure
from ..report import Claim, judge

PAPER_THRESHOLD = KR_FAILURE_THRESHOLD  # Sec. 4.5: the paper's rule, one definition in fortifai.recursive.config
THRESHOLD_RULES = ("measured", "paper")
PAPER_TABLE = "D2"  # LLaMA-3.2-1B on WikiText-2: the table the paper's figures 6 and A2 draw
PAPER_ITEMS = {"kr_drop": "Fig. 6; Table D2", "kr_split0": "Fig. 6; Table D2", "kr_total": "Figs. 4, A1; Tables 2, 4"}
SMALLEST_EFFECT_SHARE = 0.25  # where the paper gives no size: a quarter of CE's own value is the smallest of interest


def paper_effects(method: str = "tce-0.9", table: str = PAPER_TABLE) -> dict[str, float | None]:
    """The paper's effects of ``method`` over CE as we test them, computed from its tables
    (``fortifai/data/paper_llm_tables.yaml``): the time-to-failure ratio from ``table``'s KR-split 0 row (interpolated
    at the 75% threshold, as ours), the difference in KR-split 0 lost from M0 to M5 (method minus CE), KR-split 0 and
    KR-total at M5 (method minus CE), and the range of that KR-total gain over Tables D2-D5."""
    from ..llm_results import paper_tables, paper_time_to_failure

    tables = paper_tables()
    rows = tables[table]["values"]
    if method not in rows:
        return {"ratio": None, "kr_drop": None, "kr_split0": None, "kr_total": None, "kr_total_range": None}
    split0 = {m: rows[m]["kr_split0"] for m in (method, "ce")}
    gains = [t["values"][method]["kr_total"][-1] - t["values"]["ce"]["kr_total"][-1] for t in tables.values()]
    return dict(ratio=paper_time_to_failure(table, method) / paper_time_to_failure(table, "ce"),
                kr_drop=(split0[method][0] - split0[method][-1]) - (split0["ce"][0] - split0["ce"][-1]),
                kr_split0=split0[method][-1] - split0["ce"][-1],
                kr_total=rows[method]["kr_total"][-1] - rows["ce"]["kr_total"][-1],
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
                kr_split0_m0=m0, threshold_paper=PAPER_THRESHOLD, threshold_measured=measured)


def failure_time(run: Run, rule: str = "measured") -> float:
    """Stages until KR-split 0 falls below the run's failure threshold (``rule``: measured or the paper's 75%)."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    threshold = PAPER_THRESHOLD if rule == "paper" else run_gate(run)["threshold_measured"]
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


def _fmt_points(c: dict[str, Any]) -> str:
    tests = ", ".join(f"seed {s['seed']}: {s['b']}/{s['c']} p = {s['p_value']:.2g}" for s in c["mcnemar_per_seed"])
    boot = c["bootstrap"]
    interval = (f"paired t 95% [{c['ci_low'] * 100:+.1f}, {c['ci_high'] * 100:+.1f}]" if np.isfinite(c["ci_low"])
                else "no interval")
    return (f"{c['difference'] * 100:+.1f} points, {interval} "
            f"over {len(c['method'])} seeds (p = {c['paired_t']['p_value']:.2g}; paired bootstrap "
            f"[{boot['ci_low'] * 100:+.1f}, {boot['ci_high'] * 100:+.1f}]; sign test {c['sign_test']['positive']} of "
            f"{c['sign_test']['n']}, p = {c['sign_test']['p_value']:.2g}; detectable: "
            f"{c['detectable_seeds'] * 100:.1f} points over seeds, {c['detectable_questions'] * 100:.1f} over the "
            f"questions; McNemar method-only/baseline-only right, {tests})")


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
        gate_text = (f"gate: masks {gate_args['masked_fraction']:.1%} at M0" if gate_args["masked_fraction"] is not None
                     else "gate:") + (f", M0 regeneration keeps {gate_args['fidelity']:.0%} of 4-grams"
                                      if gate_args["fidelity"] is not None else "")
        gate_text += f", M0 answers {differ} of {total} KR questions differently from CE's M0"
        label = method_label(method)
        paper = paper_effects(method)
        failure = {r: compare_failure(pairs, r, n_boot) for r in THRESHOLD_RULES}
        details["comparisons"][f"{method} time to failure"] = failure
        main = failure[rule]
        if main["ratio"] is not None:
            verdict, why = judge(main["ci_low"], main["ci_high"], 1.0, paper["ratio"], main["ratio"],
                                 len(pairs), **gate_args)
            if main["baseline_censored"] == len(pairs) and verdict != "inconclusive":
                verdict, why = "inconclusive", (f"no CE run fell below the threshold within its {main['stages']} "
                                                "stages: there is no failure to delay")
            other = failure["paper" if rule == "measured" else "measured"]
            other_text = (f"; {other['rule']} threshold: {other['ratio']:.2f}x [{other['ci_low']:.2f}, "
                          f"{other['ci_high']:.2f}]" if other["ratio"] is not None else "")
            headline = (f"; the abstract says {paper_headline()['abstract']}x, the conclusion "
                        f"{paper_headline()['conclusion']}x" if method == "tce-0.9" else "")
            claims.append(Claim(f"{name}: {label} delays failure over CE (Table {PAPER_TABLE} interpolated at 75%: "
                                f"{paper['ratio']:.2f}x{headline})",
                                _fmt_ratio(main) + other_text + f"; {gate_text}", f"{verdict}: {why}",
                                "Figs. 6, A2; Sec. 4.5"))
        if method != "tce-0.9":
            continue
        last = len(pairs[0][0].stages) - 1
        rows = paper_tables()[PAPER_TABLE]["values"]
        ce0, ce5 = rows["ce"]["kr_split0"][0], rows["ce"]["kr_split0"][-1]
        m0, m5 = rows[method]["kr_split0"][0], rows[method]["kr_split0"][-1]
        low, high = paper["kr_total_range"]
        for metric, text, paper_gain in (
                ("kr_drop", f"{label} loses less of split 0's KR accuracy from M0 to M{last} than CE (Table "
                            f"{PAPER_TABLE}, M0 to M5: CE {ce0:.1%} to {ce5:.1%}, {label} {m0:.1%} to {m5:.1%})",
                 paper["kr_drop"]),
                ("kr_split0", f"{label} keeps more of the regenerated split's facts at M{last} (Table {PAPER_TABLE} "
                              f"M5: {m5:.1%} vs {ce5:.1%})", paper["kr_split0"]),
                ("kr_total", f"{label} retains more knowledge than CE at M{last} (Tables D2-D5 at M5: KR-total "
                             f"{low * 100:+.1f} to {high * 100:+.1f} points)", paper["kr_total"])):
            c = compare_kr(pairs, metric, n_boot=n_boot)
            details["comparisons"][f"{method} {metric}"] = c
            verdict, why = judge(c["ci_low"], c["ci_high"], 0.0, paper_gain, c["difference"], len(pairs), **gate_args)
            claims.append(Claim(f"{name}: {text}", _fmt_points(c), f"{verdict}: {why}", PAPER_ITEMS[metric]))
        kl = compare_kl(pairs, n_boot=n_boot)
        details["comparisons"][f"{method} kl"] = kl
        smallest = SMALLEST_EFFECT_SHARE * float(np.mean(kl["baseline"]))
        verdict, why = judge_without_paper_size(kl["ci_low"], kl["ci_high"], smallest, len(pairs), **gate_args)
        claims.append(Claim(f"{name}: {label} keeps the KL divergence of generated to real text below CE's (Fig. 7: "
                            "'significantly lower', no number given)",
                            f"smoothed word-unigram KL at M{last}, CE minus {label} {kl['difference']:+.3f}, "
                            + (f"paired t 95% [{kl['ci_low']:+.3f}, {kl['ci_high']:+.3f}]" if np.isfinite(kl["ci_low"])
                               else "no interval") + f" over {len(pairs)} seeds (sign test "
                            f"{kl['sign_test']['positive']} of {kl['sign_test']['n']})", f"{verdict}: {why}",
                            "Figs. 7, A3"))
    details["n_comparisons"] = len(claims)
    return claims, details


def judge_without_paper_size(low: float, high: float, smallest: float, seeds: int, **gate) -> tuple[str, str]:
    """A claim whose paper gives no size, judged against ``smallest``, the smallest effect of interest (a quarter
    of CE's own value): "no difference detected" only when the interval holds 0 and excludes it."""
    verdict, why = judge(low, high, 0.0, smallest, None, seeds, **gate)
    if verdict == "not reproduced" and low <= 0 <= high:
        return "no difference detected", (f"the interval holds 0 and excludes the smallest effect of interest "
                                          f"({smallest:+.3g}, a quarter of CE's value)")
    if verdict == "underpowered" and np.isfinite(low):
        why = f"the interval holds both 0 and the smallest effect of interest ({smallest:+.3g}, a quarter of CE's value)"
    return verdict, why


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


# --- the decisive test: its plan, fixed in code before its runs (issue 19) and never changed after -----------------

PLAN = dict(
    setting="SmolLM2-135M on the counterfactual Wikipedia leads (presets/llm_recursive/smollm2.yaml), stages M0..M3",
    dataset="wikipedia-offline-counterfactual", model="smollm2-135m", stages=4,
    method="tce-0.9", baseline="ce", primary="kr_margin_split0",
    secondaries=("kr_split0", "real_nll_split0"),
    paper_table="D2", paper_stage=5, paper_stage_same_length=3, level=0.95, n_boot=10_000, power=0.8,
)
ENDPOINTS = {
    "kr_margin_split0": "the mean KR margin of split 0 (score of the true continuation minus the false one, nats)",
    "kr_split0": "KR accuracy on split 0",
    "real_nll_split0": "the mean token NLL of split 0's original paragraphs (higher is worse)",
}
VERDICT_RULE = ("on the 95% paired bootstrap interval [lo, hi] of the share of CE's M0-to-M3 loss that TCE 0.9 "
                "avoids: inconclusive if CE's own loss is not above 0 (the lower end of its 95% t interval over "
                "seeds; nothing to delay); reproduced if lo > 0 and hi >= the paper's share; partly if lo > 0 and hi "
                "< the paper's share; not reproduced if lo <= 0 and hi < the paper's share; underpowered if lo <= 0 "
                "and hi >= the paper's share")


def endpoint_values(run: Run, endpoint: str) -> list[float]:
    """Per stage, the endpoint's value for ``run`` (nan where the stage did not record it)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}")
    out = []
    for stage in run.stages:
        if endpoint == "kr_split0":
            value = kr_accuracy(stage, [0])
        elif endpoint == "kr_margin_split0":
            margin = stage.get("kr", {}).get("0", {}).get("margin")
            value = float(np.mean(margin)) if margin else None
        else:
            nll = stage.get("real_nll", {}).get("model", {}).get("split0")
            value = float(np.mean(nll)) if nll else None
        out.append(math.nan if value is None else float(value))
    return out


def endpoint_loss(run: Run, endpoint: str, stage: int = PLAN["stages"] - 1) -> float:
    """What ``run`` lost on ``endpoint`` from M0 to ``stage``, positive when it got worse (a drop in margin or
    accuracy, a rise in NLL)."""
    values = endpoint_values(run, endpoint)
    if stage >= len(values):
        return math.nan
    change = values[stage] - values[0]
    return change if endpoint == "real_nll_split0" else -change


def share_avoided(method_loss: Sequence[float], baseline_loss: Sequence[float], n_boot: int = PLAN["n_boot"],
                  level: float = PLAN["level"], seed: int = 0) -> dict[str, Any]:
    """``1 - mean(method's loss) / mean(baseline's loss)`` over paired seeds, with its paired percentile bootstrap
    interval (seed indices resampled, both losses of a drawn seed taken together); resamples where the baseline
    lost nothing have no share and are counted (``undefined_resamples``), not used."""
    a, b = np.asarray(method_loss, dtype=float), np.asarray(baseline_loss, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or not np.isfinite(b).all():
        raise ValueError(f"method_loss and baseline_loss must be finite per-seed values of one length, got {a} and {b}")
    estimate = 1 - a.mean() / b.mean() if b.mean() > 0 else math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    defined = mb > 0
    boot = 1 - ma[defined] / mb[defined]
    low, high = (np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf") if boot.size
                 else (math.nan, math.nan))
    return dict(estimate=float(estimate), ci_low=float(low), ci_high=float(high), n=int(a.size), level=level,
                undefined_resamples=float(1 - defined.mean()), method_loss=a.tolist(), baseline_loss=b.tolist())


def paper_share(stage: int = PLAN["paper_stage"], table: str = PLAN["paper_table"],
                method: str = PLAN["method"]) -> float:
    """The share of CE's KR-split 0 loss from M0 to ``stage`` that ``method`` avoids in the paper's ``table``:
    Table D2 gives 1 - 13.3/16.0 at M5 and 1 - 6.7/9.0 at M3."""
    from ..llm_results import paper_tables

    values = paper_tables()[table]["values"]
    loss = {m: values[m]["kr_split0"][0] - values[m]["kr_split0"][stage] for m in (method, "ce")}
    return 1 - loss[method] / loss["ce"]


def headline_share(ratio: float) -> float:
    """The share of CE's loss a method avoids at any stage when both decline linearly from one start and the method
    takes ``ratio`` times as long to reach the same level (its slope is CE's divided by ``ratio``)."""
    if not ratio > 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    return 1 - 1 / ratio


def plan_verdict(baseline_loss: Sequence[float], low: float, high: float, paper: float,
                 level: float = PLAN["level"]) -> tuple[str, str]:
    """The verdict of :data:`VERDICT_RULE` on the share's interval ``[low, high]``, CE's per-seed losses and the
    paper's share on the same footing."""
    b = np.asarray(baseline_loss, dtype=float)
    t = stats.paired_t(b, np.zeros_like(b), level=level)
    if not (b.size >= 2 and np.isfinite(t["ci_low"]) and t["ci_low"] > 0):
        return "inconclusive", (f"CE's own loss from M0 is not above 0 beyond the noise (mean {t['difference']:+.3g}, "
                                f"{level:.0%} t interval [{t['ci_low']:+.3g}, {t['ci_high']:+.3g}] over {b.size} "
                                "seeds): there is nothing to delay")
    if not (np.isfinite(low) and np.isfinite(high)):
        return "underpowered", "no interval"
    if low > 0:
        if high >= paper:
            return "reproduced", f"the share lies above 0 and its interval reaches the paper's {paper:.0%}"
        return "partly", f"TCE avoids part of CE's loss beyond the noise, less than the paper's {paper:.0%}"
    if high < paper:
        return "not reproduced", f"the interval holds no effect and excludes the paper's {paper:.0%}"
    return "underpowered", f"the interval holds both no effect and the paper's {paper:.0%}"


def seeds_for_power(method_loss: Sequence[float], baseline_loss: Sequence[float], paper: float | None = None,
                    power: float = PLAN["power"]) -> dict[str, Any]:
    """Seed pairs for ``power`` to tell the paper's share from none: a share ``s`` of CE's mean loss ``L`` avoided
    is a mean paired difference (CE's loss minus the method's) of ``s L``; its spread over seeds is the pilot's."""
    a, b = np.asarray(method_loss, dtype=float), np.asarray(baseline_loss, dtype=float)
    paper = paper_share() if paper is None else paper
    sd = float(np.std(b - a, ddof=1)) if a.size > 1 else math.nan
    effect = paper * float(b.mean())
    n = stats.pairs_for_power(effect, sd, power=power) if np.isfinite(sd) and effect > 0 else None
    return dict(pairs=n, effect=effect, sd=sd, pilot_pairs=int(a.size), power=power, paper_share=paper)


def decisive_pairs(per: dict[str, list[Run]], endpoint: str) -> tuple[list[float], list[float], list[int]]:
    """Per seed both arms finished to the plan's last stage: (method's loss, CE's loss, seeds) on ``endpoint``."""
    pairs = [(m, c) for m, c in paired(per.get(PLAN["method"], []), per.get(PLAN["baseline"], []))
             if len(m.stages) >= PLAN["stages"] and len(c.stages) >= PLAN["stages"]]
    return ([endpoint_loss(m, endpoint) for m, _ in pairs], [endpoint_loss(c, endpoint) for _, c in pairs],
            [m.seed for m, _ in pairs])


def decisive_test(recursive: dict[str, list[Run]], control: dict[str, list[Run]] | None = None) -> dict[str, Any]:
    """The plan applied: the primary endpoint's share with its interval and verdict, the secondaries' shares, the
    arm-by-loss interaction (TCE's advantage in loss under self-consumption minus its advantage with real text
    only, per seed of both arms), and the seed pairs the observed spread asks for."""
    paper = paper_share()
    out: dict[str, Any] = dict(plan=PLAN, rule=VERDICT_RULE, paper_share=paper,
                               paper_share_same_length=paper_share(PLAN["paper_stage_same_length"]),
                               headline=headline_share(paper_headline()["abstract"]),
                               endpoints={})
    for endpoint in (PLAN["primary"], *PLAN["secondaries"]):
        method_loss, baseline_loss, seeds = decisive_pairs(recursive, endpoint)
        if not seeds:
            out["endpoints"][endpoint] = dict(seeds=[], verdict="not yet", why="no seed has both runs to M3")
            continue
        share = share_avoided(method_loss, baseline_loss)
        verdict, why = plan_verdict(baseline_loss, share["ci_low"], share["ci_high"], paper)
        entry = dict(seeds=seeds, **share, verdict=verdict, why=why,
                     power=seeds_for_power(method_loss, baseline_loss, paper))
        if control:
            c_method, c_base, c_seeds = decisive_pairs(control, endpoint)
            both = sorted(set(seeds) & set(c_seeds))
            if len(both) >= 2:
                advantage = {s: b - m for s, m, b in zip(seeds, method_loss, baseline_loss)}
                c_advantage = {s: b - m for s, m, b in zip(c_seeds, c_method, c_base)}
                entry["interaction"] = stats.paired_t([advantage[s] for s in both], [c_advantage[s] for s in both])
                entry["interaction"]["seeds"] = both
        out["endpoints"][endpoint] = entry
    return out


def decisive_settings(groups: dict[tuple, list[Run]]) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
    """From :func:`fortifai.llm_results.group_runs`: the plan's setting's runs by method, recursive arm and control
    arm (``regenerate: false``)."""
    arms: tuple[dict[str, list[Run]], dict[str, list[Run]]] = ({}, {})
    for (setting, method), runs in groups.items():
        params = dict(setting)
        if (params.get("dataset"), params.get("model"), params.get("stages"), params.get("paragraph_separator")) == (
                PLAN["dataset"], PLAN["model"], PLAN["stages"], "blank_line"):
            arms[0 if params.get("regenerate", True) else 1].setdefault(method, []).extend(runs)
    return arms


def decisive_markdown(result: dict[str, Any]) -> str:
    """The plan and, where runs are in, each endpoint's share of CE's loss avoided with its verdict, as a table."""
    rows = ["| endpoint | seeds | CE's loss M0→M3 | TCE 0.9's | share of CE's loss avoided (95% paired bootstrap) "
            "| verdict | seed pairs for 80% power |", "|---|---|---|---|---|---|---|"]
    for endpoint, e in result["endpoints"].items():
        if not e["seeds"]:
            rows.append(f"| {ENDPOINTS[endpoint]} | 0 | | | | {e['verdict']} | |")
            continue
        interval = (f"[{e['ci_low']:+.0%}, {e['ci_high']:+.0%}]" if np.isfinite(e["ci_low"]) else "no interval")
        pairs = e["power"]["pairs"]
        rows.append(f"| {ENDPOINTS[endpoint]} | {len(e['seeds'])} | {np.mean(e['baseline_loss']):+.3g} "
                    f"| {np.mean(e['method_loss']):+.3g} | {e['estimate']:+.0%} {interval} | **{e['verdict']}**: "
                    f"{e['why']} | {pairs if pairs is not None else 'more than 10,000'} |")
    return "\n".join(rows)
