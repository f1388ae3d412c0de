"""The chapter "Language-model results": each of its tables and figures from the runs, in one call each.

    chapter = ChapterRuns.load("results/llm_recursive/runs")   # the runs by setting and method
    gates = run_gates(chapter)                                  # {run folder: its gate at M0}
    gate_table(chapter, gates)                                  # a Markdown table
    kl = kl_figures(chapter, publish)                           # one figure per setting; the numbers drawn

Tables are Markdown strings. A figure function draws one figure per setting, hands it to ``publish(fig, name)``
(:meth:`fortifai.book.plotting.FigureLog.publish`) and returns the numbers it drew, for the chapter's ``metrics.json``
(:func:`chapter_metrics`). The statistics are :mod:`fortifai.claims.llm`'s; this module arranges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..claims import llm as llm_claims
from ..results import REPO_ROOT, read_json
from ..recursive.config import KR_FAILURE_THRESHOLD
from ..recursive.protocol import RunFiles, read_run_data
from ..recursive.runs import (METRICS, Run, by_method, generated_kl, group_runs, load_runs, mean_and_sem, method_label,
                   metric_matrix, padded, paper_headline, paper_setting, paper_tables, paper_time_to_failure,
                   plot_stages, setting_name, stage_table_markdown, times_to_failure)

Publish = Callable[[Any, str], None]
KR_PRIOR = REPO_ROOT / "results" / "gates" / "kr_prior.json"  # written by scripts/kr_prior.py
PASSAGE_CHARS = 300  # Table E6 shows the first characters of each passage
KL_KINDS = ("authors", "smoothed")
GAMMA_PANELS = (("ttf", "time to failure (stages)"), ("kr_split0", "KR-split 0 at the last stage (%)"),
                ("kr_total", "KR-total at the last stage (%)"))
# the rows of the setting table: a label of the paper's setting (paper_llm_tables.yaml) and how a run shows it
SETTING_ROWS = (
    ("learning rate", lambda p: f"{p['learning_rate']:g}"),
    ("epochs", lambda p: str(p["epochs"])),
    ("checkpoint", lambda p: {"last": "last epoch", "heldout_loss": "best held-out CE"}[p["checkpoint_selection"]]),
    ("split", lambda p: f"{p['split_paragraphs']} paragraphs"),
    ("batch (blocks)", lambda p: str(p["batch_size"])),
    ("context / new tokens / beams", lambda p: f"{p['context_tokens']} / {p['new_tokens']} / {p['num_beams']}"),
    ("stages", lambda p: str(p["stages"])),
)


def pretrained_first(settings: Iterable[tuple]) -> list[tuple]:
    """Settings without repeats, pretrained models first (the main evidence), scratch models after, by name."""
    return sorted(set(settings), key=lambda s: (str(dict(s)["model"]).startswith("scratch"), setting_name(s)))


@dataclass
class ChapterRuns:
    """The runs the chapter reads. ``started``: every run with M0 finished (the gate needs no more), by (setting,
    method); ``groups``: the finished runs of the methods with at least ``min_seeds`` of them; ``gate_settings``:
    the settings of ``started``, ``settings``: those of ``groups`` with CE finished (the comparisons), each
    pretrained models first."""

    started: dict[tuple, list[Run]]
    groups: dict[tuple, list[Run]]
    gate_settings: list[tuple]
    settings: list[tuple]

    @classmethod
    def load(cls, runs_dir: str | Path, min_seeds: int = 1) -> "ChapterRuns":
        started = group_runs(load_runs(runs_dir, partial=True))
        finished = {key: [r for r in runs if len(r.stages) == r.params["stages"]] for key, runs in started.items()}
        groups = {key: runs for key, runs in finished.items() if len(runs) >= min_seeds}
        gate_settings = pretrained_first(s for s, _ in started)
        if not gate_settings:
            raise RuntimeError(f"no run in {runs_dir} has finished M0; run `fortifai sweep` first")
        settings = [s for s in pretrained_first(s for s, _ in groups) if "ce" in by_method(groups, s)]
        return cls(started, groups, gate_settings, settings)

    def per(self, setting: tuple, started: bool = False) -> dict[str, list[Run]]:
        """One setting's runs by method, CE first: the finished ones (``started``: every run at M0 or later)."""
        return by_method(self.started if started else self.groups, setting)


def paper_for(table: str) -> dict[str, Any]:
    """The paper's table ``table`` (D2-D5) of :func:`fortifai.recursive.runs.paper_tables`; ValueError naming the
    tables otherwise."""
    if table not in paper_tables():
        raise ValueError(f"paper_table must be one of {sorted(paper_tables())}, got {table!r}")
    return paper_tables()[table]


def mean_text(values: Sequence[float | None], fmt: str = "{:.1%}") -> str:
    """The mean of the values that are not None, formatted; "–" when there is none."""
    values = [v for v in values if v is not None]
    return fmt.format(float(np.mean(values))) if values else "–"


def runs_table(chapter: ChapterRuns) -> str:
    """Per setting, each method with its seeds finished / seeds at M0 or later."""
    rows = ["| setting | methods (seeds finished / at M0 or later) |", "|---|---|"]
    for s in chapter.gate_settings:
        rows.append(f"| {setting_name(s)} | " + ", ".join(
            f"{method_label(m)} ({len(chapter.groups.get((s, m), []))} / {len(runs)})"
            for m, runs in chapter.per(s, started=True).items()) + " |")
    return "\n".join(rows)


def decisive_summary(decisive: dict[str, Any]) -> str:
    """The paper's values on the decisive test's footing and its verdict rule, from
    :func:`fortifai.claims.decisive.decisive_test`'s result."""
    return (f"The paper's share of CE's loss avoided (Table D2, KR-split 0): **{decisive['paper_share']:.0%}** from "
            f"M0 to M5, {decisive['paper_share_same_length']:.0%} from M0 to M3; the abstract's "
            f"{paper_headline()['abstract']}x under a linear decline: {decisive['headline']:.0%}.\n\n"
            f"**Rule**: {decisive['rule']}.")


def setting_table(chapter: ChapterRuns) -> str:
    """What each setting ran (read from its runs' parameters) beside the paper's setting."""
    paper = paper_setting()
    rows = ["| | " + " | ".join(setting_name(s) for s in chapter.gate_settings) + " | paper |",
            "|---|" + "---|" * (len(chapter.gate_settings) + 1)]
    for label, show in SETTING_ROWS:
        rows.append(f"| {label} | " + " | ".join(show(dict(s)) for s in chapter.gate_settings)
                    + f" | {paper[label]} |")
    return "\n".join(rows)


def kr_figures(chapter: ChapterRuns, paper: dict[str, Any], threshold: float, publish: Publish) -> None:
    """Figs. 4, A1 and 6, A2 per setting (``kr_stages_<i>``): KR-split 0 with the failure ``threshold``, KR-total;
    ours (mean ± standard error over seeds) and the ``paper`` table's (dashed)."""
    import matplotlib.pyplot as plt

    for i, setting in enumerate(chapter.settings):
        per = chapter.per(setting)
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
        plot_stages(axes[0], per, "kr_split0", paper)
        axes[0].axhline(threshold * 100, color="red", ls=":", lw=1)
        plot_stages(axes[1], per, "kr_total", paper)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{setting_name(setting)} (dashed: paper, {paper['model']} on {paper['dataset']})")
        publish(fig, f"kr_stages_{i}")


def run_gates(chapter: ChapterRuns) -> dict[str, dict[str, Any]]:
    """Every started run's gate at M0 (:func:`fortifai.claims.llm.run_gate`), by run folder name."""
    return {r.folder.name: llm_claims.run_gate(r) for s in chapter.gate_settings
            for runs in chapter.per(s, started=True).values() for r in runs}


def gate_table(chapter: ChapterRuns, gates: dict[str, dict[str, Any]]) -> str:
    """Per setting and method, the gate at M0 (mean over seeds): masked share, 4-gram precision, type/token ratio,
    KR prefix survival, KR chance with its interval, KR-split 0, and the paper's and the measured threshold."""
    rows = ["| setting | method | seeds | masked at M0 | 4-gram precision of M0's regeneration | type/token ratio "
            "(original) | KR true sentences surviving | KR chance [95%] | KR-split 0 at M0 | threshold: paper / "
            "measured |", "|---|---|---|---|---|---|---|---|---|---|"]
    for setting in chapter.gate_settings:
        for method, runs in chapter.per(setting, started=True).items():
            g = [gates[r.folder.name] for r in runs]
            ttr = mean_text([x["type_token_ratio_m0"] for x in g], "{:.2f}")
            ttr_original = mean_text([r.stages[0].get("regeneration_fidelity", {}).get("0", {}).get(
                "type_token_ratio_original") for r in runs], "{:.2f}")
            chance = [x["kr_chance_interval"] for x in g if x["kr_chance_interval"]]
            rows.append(
                f"| {setting_name(setting)} | {method_label(method)} | {len(runs)} | "
                f"{mean_text([x['masked_fraction_m0'] for x in g])} | {mean_text([x['ngram4_precision_m0'] for x in g])} | "
                f"{ttr} ({ttr_original}) | {mean_text([x['kr_prefix_survival_m0'] for x in g])} | "
                f"{mean_text([x['kr_chance'] for x in g])} [{mean_text([c[0] for c in chance])}, "
                f"{mean_text([c[1] for c in chance])}] | {mean_text([x['kr_split0_m0'] for x in g])} | "
                f"{KR_FAILURE_THRESHOLD:.0%} / {mean_text([x['threshold_measured'] for x in g])} |")
    return "\n".join(rows)


def chance_by_kind(runs: Sequence[Run]) -> dict[str, tuple[float, int]]:
    """KR chance by kind of change pooled over ``runs``: ``{kind: (questions answered right, questions)}``."""
    pooled: dict[str, tuple[float, int]] = {}
    for run in runs:
        for kind, entry in (llm_claims.run_chance(run) or {}).get("by_kind", {}).items():
            right, n = pooled.get(kind, (0.0, 0))
            pooled[kind] = (right + entry["accuracy"] * entry["n"], n + entry["n"])
    return pooled


def chance_by_kind_table(chapter: ChapterRuns) -> str:
    """Per setting, the KR chance of its CE runs by kind of change, pooled over seeds (%)."""
    rows = ["| setting | chance by kind |", "|---|---|"]
    for setting in chapter.gate_settings:
        pooled = chance_by_kind(chapter.per(setting, started=True).get("ce", []))
        rows.append(f"| {setting_name(setting)} | " + ", ".join(
            f"{kind} {right / n:.0%} (n={n})" for kind, (right, n) in sorted(pooled.items())) + " |")
    return "\n".join(rows)


def kr_prior_table(path: str | Path = KR_PRIOR) -> str:
    """The base model's KR accuracy on the real and the counterfactual text before training (``path``, written by
    ``scripts/kr_prior.py``), or a line saying it was not measured."""
    if not Path(path).is_file():
        return "Not measured here: `python scripts/kr_prior.py` writes it."
    prior = read_json(path)
    rows = [f"| {source} | {r['accuracy']:.1%} [{r['interval'][0]:.1%}, {r['interval'][1]:.1%}] | {r['n']} | "
            + ", ".join(f"{kind} {k['accuracy']:.0%} (n={k['n']})" for kind, k in r["by_kind"].items()) + " |"
            for source, r in prior["sources"].items()]
    return (f"{prior['model']}, {prior['paragraphs']} paragraphs (seed {prior['seed']}):\n\n"
            "| text | accuracy [95%] | questions | by kind |\n|---|---|---|---|\n" + "\n".join(rows))


def fidelity_values(runs: Sequence[Run], key: str = "ngram4_precision") -> np.ndarray:
    """Runs x stages: split 0's regeneration fidelity ``key`` (nan where not recorded or the stage not done)."""
    return padded([[st.get("regeneration_fidelity", {}).get("0", {}).get(key) for st in r.stages] for r in runs])


def masked_by_epoch(runs: Sequence[Run], method: str) -> np.ndarray | None:
    """Every epoch of every stage in order: the masked fraction, mean over runs (CE: the share of targets above 0.9,
    which TCE 0.9 would have masked); None unless every stage of every run recorded it."""
    epochs = [[(st["train"].get("masked_fraction_by_epoch") if method != "ce" else
                st["train"].get("confident_fraction_by_epoch", {}).get("0.9")) for st in r.stages] for r in runs]
    if not all(all(e for e in run_epochs) for run_epochs in epochs):
        return None
    return np.nanmean(padded([[v for stage in run_epochs for v in stage] for run_epochs in epochs]), axis=0)


def fidelity_figures(chapter: ChapterRuns, publish: Publish) -> None:
    """Per setting (``gate_<i>``, runs at M0 or later): split 0's 4-gram precision through the stages against
    its input and against the original, and the masked fraction per epoch where recorded."""
    import matplotlib.pyplot as plt

    for i, setting in enumerate(chapter.gate_settings):
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
        for j, (method, runs) in enumerate(chapter.per(setting, started=True).items()):
            for ax, key in zip(axes[:2], ("ngram4_precision", "ngram4_precision_original")):
                mean, _ = mean_and_sem(fidelity_values(runs, key))
                ax.plot(np.arange(len(mean)), mean * 100, marker="o", color=f"C{j}", label=method_label(method))
            series = masked_by_epoch(runs, method)
            if series is not None:
                axes[2].plot(np.arange(len(series)), series * 100, color=f"C{j}",
                             label=method_label(method) + (" (share above 0.9)" if method == "ce" else ""))
        axes[0].set(title="split 0: 4-gram precision vs its input (%)", xlabel="stage (model $M_i$)")
        axes[1].set(title="split 0: 4-gram precision vs the original (%)", xlabel="stage (model $M_i$)")
        axes[2].set(title="masked per epoch (%)", xlabel="epoch, all stages in order")
        axes[0].legend(fontsize=8)
        if axes[2].get_legend_handles_labels()[0]:
            axes[2].legend(fontsize=8)
        else:
            axes[2].text(0.5, 0.5, "not recorded by these runs", transform=axes[2].transAxes, ha="center")
        fig.suptitle(setting_name(setting))
        publish(fig, f"gate_{i}")


def _failure_row(name: str, method: str, rule: str, c: dict[str, Any], paper_ttf: dict[str, float]) -> str:
    shown = ", ".join(f"{m:.2f} vs {b:.2f}" for m, b in zip(c["method"], c["baseline"]))
    cell = "–" if c["ratio"] is None else \
        f"{'≥ ' if c['censored'] else ''}{c['ratio']:.2f}x [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
    sign = "–" if c["ratio"] is None else (f"{c['sign_test']['positive']} of {c['sign_test']['n']} longer, "
                                          f"p = {c['sign_test']['p_value']:.2g}")
    p = paper_ttf.get(method)
    paper_cell = "–" if p is None or rule != "paper" else f"{p:.2f} ({p / paper_ttf['ce']:.2f}x)"
    return f"| {name} | {method_label(method)} | {rule} | {shown} | {cell} | {sign} | {paper_cell} |"


def failure_table(chapter: ChapterRuns, paper_table: str, n_boot: int = 10_000) -> tuple[str, dict[str, Any]]:
    """Sec. 4.5: every loss's time to failure paired with CE's by seed, under both threshold rules
    (:func:`fortifai.claims.llm.compare_failure`), beside the paper's from ``paper_table`` at its threshold.
    Returns the Markdown table and the comparisons by ``"<setting> | <method> | <rule>"``."""
    paper_ttf = {m: paper_time_to_failure(paper_table, m, KR_FAILURE_THRESHOLD)
                 for m in paper_tables()[paper_table]["values"]}
    rows = ["| setting | method | threshold | time to failure per seed | paired ratio to CE [95%] | sign test | "
            f"paper ({paper_table}) |", "|---|---|---|---|---|---|---|"]
    failure = {}
    for setting in chapter.settings:
        per = chapter.per(setting)
        for method, runs in per.items():
            if method == "ce":
                continue
            pairs = llm_claims.paired(runs, per["ce"])
            for rule in llm_claims.THRESHOLD_RULES:
                c = failure[f"{setting_name(setting)} | {method} | {rule}"] = llm_claims.compare_failure(
                    pairs, rule, n_boot=n_boot)
                rows.append(_failure_row(setting_name(setting), method, rule, c, paper_ttf))
    return "\n".join(rows), failure


def gamma_of(method: str) -> float:
    """TCE's threshold gamma of a method name ("tce-0.7": 0.7); CE is TCE with gamma = 1 (nothing masked)."""
    return 1.0 if method == "ce" else float(method.split("-")[1])


def gamma_sweep(per: dict[str, list[Run]], threshold: float = KR_FAILURE_THRESHOLD) -> dict[str, dict[str, list]]:
    """Where TCE ran at two or more thresholds: per panel (:data:`GAMMA_PANELS`) and method (in order of gamma, CE
    last), the per-seed values: time to failure at ``threshold`` ("never": the run's length) and KR accuracy (%)
    at the last stage. Empty with fewer than two TCE thresholds."""
    methods = [m for _, m in sorted((gamma_of(m), m) for m in per if m.startswith("tce-"))]
    if len(methods) < 2:
        return {}
    out: dict[str, dict[str, list]] = {}
    for what, _ in GAMMA_PANELS:
        out[what] = {}
        for method in methods + ["ce"]:
            runs = per[method]
            if what == "ttf":
                values = np.minimum(times_to_failure(runs, threshold), len(runs[0].stages))
            else:
                values = metric_matrix(runs, what)[:, -1] * 100
            out[what][method] = np.asarray(values, dtype=float).tolist()
    return out


def gamma_sweep_figures(chapter: ChapterRuns, threshold: float, publish: Publish) -> dict[str, list[float]]:
    """Per setting with two or more TCE thresholds (``gamma_sweep_<i>``): :func:`gamma_sweep` against gamma, mean
    ± standard error over seeds. Returns the values by ``"<setting> | <method> | <panel>"``."""
    import matplotlib.pyplot as plt

    out = {}
    for i, setting in enumerate(chapter.settings):
        values = gamma_sweep(chapter.per(setting), threshold)
        if not values:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, (what, title) in zip(axes, GAMMA_PANELS):
            stats = [mean_and_sem(np.asarray(v, dtype=float)[:, None]) for v in values[what].values()]
            ax.errorbar([gamma_of(m) for m in values[what]], [mean[0] for mean, _ in stats],
                        yerr=[sem[0] for _, sem in stats], marker="o", capsize=3)
            ax.set(xlabel="gamma (1 = CE)", title=title)
            out.update({f"{setting_name(setting)} | {m} | {what}": v for m, v in values[what].items()})
        fig.suptitle(setting_name(setting))
        publish(fig, f"gamma_sweep_{i}")
    return out


def benchmarks_figures(chapter: ChapterRuns, paper: dict[str, Any], publish: Publish) -> None:
    """Fig. 5 per setting (``benchmarks_<i>``): BLiMP, HellaSwag, GSM8K per stage beside the paper's; a benchmark
    not measured says why."""
    import matplotlib.pyplot as plt

    for i, setting in enumerate(chapter.settings):
        per = chapter.per(setting)
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, metric in zip(axes, ("blimp", "hellaswag", "gsm8k")):
            plot_stages(ax, per, metric, paper)
            status = per["ce"][0].status(metric)
            if status != "ok":
                ax.text(0.5, 0.08, f"ours {status}", transform=ax.transAxes, ha="center", fontsize=8, wrap=True)
        if axes[0].get_legend_handles_labels()[0]:
            axes[0].legend(fontsize=8)
        fig.suptitle(f"{setting_name(setting)} (dashed: paper, {paper['model']} on {paper['dataset']})")
        publish(fig, f"benchmarks_{i}")


def kl_values(runs: Sequence[Run]) -> dict[str, np.ndarray]:
    """Per kind (:data:`KL_KINDS`), runs x stages: the unigram KL of all the regenerated text to the real text
    (:func:`fortifai.recursive.generated_kl`)."""
    per_run = [generated_kl(run.folder) for run in runs]
    return {kind: np.array([[row["total"][kind] for row in stages] for stages in per_run]) for kind in KL_KINDS}


def kl_figures(chapter: ChapterRuns, publish: Publish) -> dict[str, list]:
    """Figs. 7, A3 per setting (``kl_<i>``): :func:`kl_values`, mean ± standard error over seeds. Returns the values
    by ``"<setting> | <method> | <kind>"``."""
    import matplotlib.pyplot as plt

    out = {}
    for i, setting in enumerate(chapter.settings):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for j, (method, runs) in enumerate(chapter.per(setting).items()):
            values = kl_values(runs)
            for ax, kind in zip(axes, KL_KINDS):
                mean, sem = mean_and_sem(values[kind])
                x = np.arange(values[kind].shape[1])
                ax.plot(x, mean, marker="o", color=f"C{j}", label=method_label(method))
                ax.fill_between(x, mean - sem, mean + sem, color=f"C{j}", alpha=0.2, lw=0)
                ax.set(title=f"KL(generated || real), {kind}", xlabel="stage (model $M_i$)")
                out[f"{setting_name(setting)} | {method} | {kind}"] = values[kind].tolist()
        axes[0].legend(fontsize=8)
        fig.suptitle(setting_name(setting))
        publish(fig, f"kl_{i}")
    return out


def stage_tables(chapter: ChapterRuns, paper: dict[str, Any], methods: Sequence[str] | None = None,
                 stages: Sequence[int] | None = None) -> str:
    """Tables D2-D5 per setting (:func:`fortifai.recursive.runs.stage_table_markdown`); ``methods`` and ``stages``
    restrict them (Tables 1-4: CE and TCE 0.9 at M0 and M5)."""
    tables = []
    for setting in chapter.settings:
        per = {m: r for m, r in chapter.per(setting).items() if methods is None or m in methods}
        tables.append(f"**{setting_name(setting)}**\n\n" + stage_table_markdown(per, paper=paper, stages=stages))
    return "\n\n".join(tables)


def regenerated(run: Run, stage: int) -> dict[str, list[str]]:
    """What stage ``stage``'s model regenerated: ``{split: [paragraphs]}``."""
    return RunFiles(run.folder).generated(stage)


def passage_table(chapter: ChapterRuns) -> str:
    """Table E6 per setting: the first paragraph of split 0 of each method's first seed as it was and as each
    stage regenerated it (first :data:`PASSAGE_CHARS` characters); notes when the methods drew other splits."""
    out = []
    for setting in chapter.settings:
        per = chapter.per(setting)
        first_runs = {m: runs[0] for m, runs in per.items()}
        real = read_run_data(per["ce"][0].folder)["splits"][0][0]
        same_data = all(read_run_data(r.folder)["splits"][0][0] == real for r in first_runs.values())
        lines = ["| stage | " + " | ".join(method_label(m) for m in first_runs) + " |",
                 "|---" * (len(first_runs) + 1) + "|",
                 "| real | " + " | ".join([real[:PASSAGE_CHARS].replace("|", "/")] * len(first_runs)) + " |"]
        for i in range(len(per["ce"][0].stages)):
            cells = [regenerated(r, i)["0"][0][:PASSAGE_CHARS].replace("|", "/").replace("\n", " ")
                     for r in first_runs.values()]
            lines.append(f"| M{i} | " + " | ".join(cells) + " |")
        note = "" if same_data else "\n\n(The methods' first seeds drew different splits: the passages differ.)"
        out.append(f"**{setting_name(setting)}**, seed {per['ce'][0].seed}\n\n" + "\n".join(lines) + note)
    return "\n\n".join(out)


def chapter_claims(chapter: ChapterRuns, n_boot: int = 10_000, planned: Mapping[tuple, str] = {}) -> tuple[dict, list]:
    """Every setting's claims (:func:`fortifai.claims.llm.setting_claims`, labelled by its regime): their details and
    one folded group per setting (why: ``planned``'s where a plan's own rows decide); a control arm makes none."""
    details, groups = {}, []
    for setting in chapter.settings:
        if dict(setting).get("regenerate", True) is False:
            continue
        per = chapter.per(setting)
        label = llm_claims.regime_label(per.get("ce", []))
        rows, details[setting_name(setting)] = llm_claims.setting_claims(per, setting_name(setting) + label,
                                                                         n_boot=n_boot)
        groups.append((setting_name(setting) + label, rows, planned.get(setting) or llm_claims.superseded(label)))
    return details, groups


def closing_claims(chapter: ChapterRuns, test: dict[str, Any], recursive_arm: dict[str, list[Run]],
                   n_boot: int = 10_000, planned: Mapping[tuple, str] = {}) -> tuple[dict[str, Any], list[tuple]]:
    """The closing table: the details, and the groups (title, claims, why folded or None) for
    :func:`fortifai.book.report.grouped_claims_markdown`: the decisive test's rows, then every setting's
    (:func:`chapter_claims`); :func:`fortifai.book.report.fold` makes them the chapter's claims."""
    from ..claims import decisive

    details, groups = chapter_claims(chapter, n_boot, planned)
    label = llm_claims.regime_label(recursive_arm.get("ce", []))
    return details, [(f"The decisive test{label}", decisive.decisive_claims(test, label), None), *groups]


def chapter_metrics(chapter: ChapterRuns, runs_dir: str | Path, paper_table: str, threshold: float,
                    gates: dict, failure: dict, comparisons: dict, kl: dict, sweep: dict,
                    figures: list[str]) -> dict[str, Any]:
    """The chapter's ``metrics.json`` (before its claims): per setting and method the seeds, run folders and every
    metric per stage, and what the tables and figures computed."""
    settings = {setting_name(s): {m: {"seeds": [r.seed for r in runs], "folders": [r.folder.name for r in runs],
                                      **{metric: metric_matrix(runs, metric).tolist() for metric in METRICS}}
                                  for m, runs in chapter.per(s).items()} for s in chapter.settings}
    paper_ttf = {t: {m: paper_time_to_failure(t, m, KR_FAILURE_THRESHOLD) for m in v["values"]}
                 for t, v in paper_tables().items()}
    return dict(runs_dir=str(runs_dir), paper_table=paper_table, kr_failure_threshold=threshold, settings=settings,
                gates=gates, time_to_failure=failure, comparisons=comparisons, paper_time_to_failure=paper_ttf,
                kl=kl, gamma_sweep=sweep, figures=figures)
