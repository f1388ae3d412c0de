"""The read side of runs: finished run folders read back (KR accuracy per stage, the stage table, the KL of the
regenerations, time to failure), aggregated over seeds, beside the paper's numbers.

    runs = load_runs("results/llm_recursive/runs")             # every finished run under the folder
    groups = group_runs(runs)                                   # {(setting, method): [runs, one per seed]}
    values = metric_matrix(groups[key], "kr_split0")            # seeds x stages, in [0, 1] (nan: not measured)
    paper = paper_tables()["D2"]                                # the paper's Tables D2-D5 (Appendix D)

A *setting* is what the paper varies between its tables: the model and the data set (plus, for us, the other
parameters of the tier, so that runs with different settings are never averaged together). A *method* is
the loss with its parameter, as the presets name it: ``ce``, ``tce-0.9``, ``tce-0.99``, ``focal-2.0``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..losses.spec import METHOD_ORDER, Method
from .config import KR_FAILURE_THRESHOLD, RecursiveConfig
from .protocol import RunFiles, run_folders, without_timings


def kr_accuracy(stage: dict, splits: list[int] | None = None) -> float | None:
    """KR accuracy of one stage's metrics over the items of ``splits`` (all splits: KR-total)."""
    kr = stage["kr"]
    keys = [str(k) for k in splits] if splits is not None else list(kr)
    correct = [c for k in keys if k in kr for c in kr[k]["correct"]]
    return sum(correct) / len(correct) if correct else None


def stage_table(result: dict) -> list[dict[str, Any]]:
    """One row per stage of a run: KR split 0, KR over the splits seen so far, KR-total, held-out CE/perplexity."""
    rows = []
    for stage in result["stages"]:
        i = stage["stage"]
        rows.append(dict(
            stage=i, kr_split0=kr_accuracy(stage, [0]), kr_seen=kr_accuracy(stage, list(range(i + 1))),
            kr_total=kr_accuracy(stage), heldout_loss=stage["train"]["heldout_loss"],
            heldout_perplexity=stage["train"]["heldout_perplexity"], real_fraction=stage["train"]["real_fraction"],
        ))
    return rows


def generated_kl(run_dir: str | Path) -> list[dict[str, Any]]:
    """Per stage, the unigram KL of each regenerated split to its real original (Fig. 7), from the run's files.

    Counted over words (whitespace tokens), so that it needs no tokenizer and compares runs of different
    models on the same footing; both the authors' epsilon treatment and the smoothed variant
    (:func:`fortifai.recursive.instruments.divergence.unigram_kl_report`).
    """
    from .instruments.divergence import unigram_kl_report

    files = RunFiles(run_dir)
    data = files.data()
    generated = {i: files.generated(i) for i in files.generated_stages()}
    vocabulary: dict[str, int] = {}
    for texts in [data["splits"]] + [list(g.values()) for g in generated.values()]:
        for split in texts:
            for text in split:
                for word in text.split():
                    vocabulary.setdefault(word, len(vocabulary))

    def ids(texts: list[str]) -> list[int]:
        return [vocabulary[w] for t in texts for w in t.split()]

    out = []
    for i, gen in generated.items():
        keys = sorted(gen, key=int)
        report = unigram_kl_report([ids(gen[k]) for k in keys], [ids(data["splits"][int(k)]) for k in keys],
                                   vocab_size=len(vocabulary))
        out.append({"stage": i, "splits": [int(k) for k in keys], **report})
    return out


def time_to_failure(kr_split0: list[float], threshold: float = KR_FAILURE_THRESHOLD) -> float:
    """Stages until the KR split-0 accuracy first falls below ``threshold``, linearly interpolated (Sec. 4.5).

    0 when it starts below; inf when it never falls below within the run.
    """
    values = [v for v in kr_split0]
    if not values or values[0] < threshold:
        return 0.0
    for i in range(1, len(values)):
        if values[i] < threshold:
            return (i - 1) + (values[i - 1] - threshold) / (values[i - 1] - values[i])
    return math.inf


# --- runs aggregated over seeds, the paper's tables -----------------------------------------------------

METRICS = ("blimp", "hellaswag", "gsm8k", "kr_split0", "kr_total")
METRIC_TITLES = {"blimp": "BLiMP", "hellaswag": "HellaSwag", "gsm8k": "GSM8K", "kr_split0": "KR-split 0",
                 "kr_total": "KR-total", "kr_seen": "KR on the splits trained so far",
                 "heldout_perplexity": "perplexity of held-out real text"}
# what distinguishes a run from its seed-siblings without making it another setting
PER_RUN = ("loss", "gamma", "alpha", "seed", "keep_checkpoints")


def method_label(method: str) -> str:
    """"TCE γ=0.9" for "tce-0.9": the label of the loss a preset's method string names."""
    return Method.parse(method).label


@dataclass
class Run:
    """One finished run of the recursive protocol: its parameters and every stage's metrics."""

    folder: Path
    params: dict[str, Any]
    stages: list[dict[str, Any]]

    @property
    def method(self) -> str:
        known = {f.name for f in dataclasses.fields(RecursiveConfig)}
        return RecursiveConfig(**{k: v for k, v in self.params.items() if k in known}).method()

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    @property
    def setting(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted((k, _hashable(v)) for k, v in self.params.items() if k not in PER_RUN))

    def values(self, metric: str) -> list[float]:
        """Per stage, ``metric`` as a fraction; nan where it was not measured."""
        extra = ("heldout_perplexity", "kr_seen", "kr_margin_split0", "real_nll_split0", "real_nll_heldout")
        if metric not in METRICS and metric not in extra:
            raise ValueError(f"metric must be one of {METRICS + extra}, got {metric!r}")
        out = []
        for stage in self.stages:
            if metric == "kr_split0":
                value = kr_accuracy(stage, [0])
            elif metric == "kr_margin_split0":  # the mean per-question margin (true minus false continuation)
                margin = stage.get("kr", {}).get("0", {}).get("margin")
                value = float(np.mean(margin)) if margin else None
            elif metric in ("real_nll_split0", "real_nll_heldout"):  # mean per-paragraph NLL of real text
                nll = stage.get("real_nll", {}).get("model", {}).get(metric.removeprefix("real_nll_"))
                value = float(np.mean(nll)) if nll else None
            elif metric == "kr_total":
                value = kr_accuracy(stage)
            elif metric == "kr_seen":
                value = kr_accuracy(stage, list(range(stage["stage"] + 1)))
            elif metric == "heldout_perplexity":
                value = stage["train"]["heldout_perplexity"]
            else:
                result = stage.get("benchmarks", {}).get(metric, {})
                value = result.get("value") if result.get("status") == "ok" else None
            out.append(math.nan if value is None else float(value))
        return out

    def status(self, metric: str) -> str:
        """"ok", or why ``metric`` was not measured in this run."""
        if metric.startswith("kr"):
            return "ok"
        if metric not in self.params.get("benchmarks", []):
            return "not run: not among this run's benchmarks"
        return self.stages[0].get("benchmarks", {}).get(metric, {}).get("status", "not run")


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _measures(files: RunFiles, i: int) -> dict[str, Any]:
    metrics = without_timings(files.stage_metrics(i))
    train = metrics.pop("train")
    metrics.pop("generation", None)  # decoding speed
    return {**metrics, **{k: train.get(k) for k in ("train_loss", "heldout_loss")},
            "generated": files.generated(i) if files.generated_file(i).is_file() else None}


def identical_stages(a: str | Path, b: str | Path) -> tuple[int, int]:
    """``(same, both)``: of the stages both runs have finished (``both``), how many leading ones hold exactly the same
    measures (KR answers and margins, real-text NLL, confidence, regeneration fidelity, the training and held-out
    losses) and the same regenerated text, timings and provenance aside: two runs of one configuration made apart
    (in other sessions, from other commits), and what the claim "same seed, same result on CPU" says of them."""
    a, b = RunFiles(a), RunFiles(b)
    both = min(a.finished_count(), b.finished_count())
    same = 0
    while same < both and _measures(a, same) == _measures(b, same):
        same += 1
    return same, both


def load_runs(runs_dir: str | Path, partial: bool = False) -> list[Run]:
    """Every finished run (``metrics.json`` present) in the folders under ``runs_dir``, sorted by name.

    ``partial``: also runs still going, with the stages they have finished (at least M0); for what needs
    only the first stages (the gate at M0, Fig. 1), never for a comparison through the stages.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs_dir {runs_dir} does not exist; run notebooks/llm_recursive.py or "
                                "`fortifai sweep -f PRESET` first")
    runs = []
    for folder in run_folders(runs_dir):
        files = RunFiles(folder)
        if files.complete():
            result = files.metrics()
            runs.append(Run(folder, result["params"], result["stages"]))
        elif partial and files.manifest_file.is_file() and files.stage_metrics_file(0).is_file():
            runs.append(Run(folder, files.params(), files.finished_stages()))
    return runs


def group_runs(runs: Sequence[Run]) -> dict[tuple, list[Run]]:
    """``{(setting, method): runs sorted by seed}``; one run per seed (a repeated seed is an error)."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault((run.setting, run.method), []).append(run)
    for key, members in groups.items():
        members.sort(key=lambda r: r.seed)
        seeds = [r.seed for r in members]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"two runs of {key[1]} with the same seed and setting: "
                             f"{[str(r.folder) for r in members]}")
    return groups


def setting_name(setting: tuple) -> str:
    """``<model> on <dataset>``, with what sets the setting apart from older ones of the same pair: paragraphs
    kept through regeneration (``paragraph_separator: blank_line``), each paragraph regenerated from its own text
    (``regeneration_context: paragraph``, the authors' decoding) and the control arm (``regenerate: false``);
    chapters key their tables and metrics by it, so two settings never share a name."""
    params = dict(setting)
    tags = [tag for tag, present in (("paragraphs kept", params.get("paragraph_separator") == "blank_line"),
                                     ("each regenerated from its own text",
                                      params.get("regeneration_context") == "paragraph"),
                                     ("control arm: real text only", params.get("regenerate") is False)) if present]
    return f"{params['model']} on {params['dataset']}" + (f" ({', '.join(tags)})" if tags else "")


def metric_matrix(runs: Sequence[Run], metric: str) -> np.ndarray:
    """Seeds x stages array of ``metric`` (nan where not measured)."""
    return np.array([run.values(metric) for run in runs], dtype=float)


def padded(rows: Sequence[Sequence[float | None]]) -> np.ndarray:
    """Rows of unequal length (runs still going have fewer stages) as one float array, nan where a row ends early
    and where a value is None."""
    width = max(map(len, rows), default=0)
    return np.array([[np.nan if v is None else v for v in row] + [np.nan] * (width - len(row)) for row in rows],
                    dtype=float)


def mean_and_sem(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and its standard error (0 with one seed)."""
    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=0)
    with warnings.catch_warnings():  # all-nan columns and single seeds are expected: nan mean, 0 error
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0) if values.size else values
        sem = np.where(n > 1, np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)), 0.0)
    return mean, sem


def times_to_failure(runs: Sequence[Run], threshold: float = KR_FAILURE_THRESHOLD) -> list[float]:
    """Per run (seed), stages until KR split 0 falls below ``threshold`` (inf: not within the run)."""
    return [time_to_failure(run.values("kr_split0"), threshold) for run in runs]


@lru_cache(maxsize=1)
def _paper_file() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parent.parent / "data" / "paper_llm_tables.yaml").read_text())


def paper_headline() -> dict[str, float]:
    """TCE 0.9's time-to-failure ratio over CE as the paper's text states it: ``{"abstract": 2.3, "conclusion": 1.7}``."""
    return dict(_paper_file()["headline"])


def paper_setting() -> dict[str, str]:
    """The paper's fine-tuning setting as the chapter shows it beside ours (Sec. 4.1.3 and the authors' decoding),
    from the ``setting:`` block of ``fortifai/data/paper_llm_tables.yaml``: ``{"learning rate": "2e-05", ...}``."""
    return {label: str(value) for label, value in _paper_file()["setting"].items()}


@lru_cache(maxsize=1)
def paper_tables() -> dict[str, Any]:
    """The paper's Tables D2-D5 as fractions: ``{table: {model, dataset, values: {method: {metric: [M0..M5]}}}}``."""
    raw = _paper_file()
    out = {}
    for name, table in raw["tables"].items():
        values = {m: {metric: [stage[metric][j] / 100 for stage in table["stages"]] for metric in raw["metrics"]}
                  for j, m in enumerate(raw["methods"])}
        out[name] = {"model": table["model"], "dataset": table["dataset"], "values": values}
    return out


def paper_time_to_failure(table: str, method: str, threshold: float = KR_FAILURE_THRESHOLD) -> float:
    """Time to failure computed the way we compute ours, from the paper's KR-split 0 row of ``table``."""
    return time_to_failure(paper_tables()[table]["values"][method]["kr_split0"], threshold)


def fmt_cell(mean: float, sem: float, n: int, scale: float = 100, digits: int = 1) -> str:
    """``71.2 ± 1.3`` (mean ± standard error over ``n`` seeds, times ``scale``: in % by default), ``–`` when
    not measured."""
    if not np.isfinite(mean):
        return "–"
    return f"{mean * scale:.{digits}f}" + (f" ± {sem * scale:.{digits}f}" if n > 1 else "")


def by_method(groups: dict[tuple, list[Run]], setting: tuple) -> dict[str, list[Run]]:
    """The runs of one setting, keyed by method, in the paper's order (CE first)."""
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    found = {method: runs for (s, method), runs in groups.items() if s == setting}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def stage_table_markdown(runs_by_method: dict[str, list[Run]], metrics: Sequence[str] = METRICS,
                         paper: dict[str, Any] | None = None, stages: Sequence[int] | None = None) -> str:
    """Tables D2-D5 in our numbers (mean ± standard error over seeds, %) with the paper's beside each.

    ``paper``: one of :func:`paper_tables`; ``stages``: the rows to show (default all; Tables 1-4 are
    ``[0]`` and ``[5]``). A metric no run measured shows its reason once, below the table.
    """
    n_stages = max(len(runs[0].stages) for runs in runs_by_method.values())
    stages = list(range(n_stages)) if stages is None else list(stages)
    shown = [m for m in metrics if any(r.status(m) == "ok" for runs in runs_by_method.values() for r in runs)]
    missing = {m: next(iter(runs_by_method.values()))[0].status(m) for m in metrics if m not in shown}
    head = ["stage", "method", "seeds"]
    for m in shown:
        head += [f"{METRIC_TITLES[m]} ours"] + ([f"{METRIC_TITLES[m]} paper"] if paper else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i in stages:
        for method, runs in runs_by_method.items():
            cells = [f"M{i}", method_label(method), str(len(runs))]
            for m in shown:
                values = metric_matrix(runs, m)
                mean, sem = mean_and_sem(values[:, i:i + 1]) if values.shape[1] > i else (np.array([np.nan]),) * 2
                cells.append(fmt_cell(mean[0], sem[0], len(runs)))
                if paper:
                    row = paper["values"].get(method, {}).get(m)
                    cells.append(f"{row[i] * 100:.1f}" if row and i < len(row) else "–")
            lines.append("| " + " | ".join(cells) + " |")
    notes = [f"{METRIC_TITLES[m]}: {reason}" for m, reason in missing.items()]
    return "\n".join(lines) + ("\n\n" + "; ".join(notes) + "." if notes else "")


def plot_stages(ax, runs_by_method: dict[str, list[Run]], metric: str, paper: dict[str, Any] | None = None,
                colors: dict[str, str] | None = None) -> None:
    """Mean over seeds per stage (line) with ± one standard error (band); the paper's values dashed."""
    for j, (method, runs) in enumerate(runs_by_method.items()):
        color = (colors or {}).get(method, f"C{j}")
        values = metric_matrix(runs, metric)
        if np.isfinite(values).any():
            mean, sem = mean_and_sem(values)
            x = np.arange(values.shape[1])
            scale = 100 if metric in METRICS or metric == "kr_seen" else 1  # accuracies in %
            ax.plot(x, mean * scale, marker="o", color=color, label=f"{method_label(method)} (n={len(runs)})")
            if len(runs) > 1:
                ax.fill_between(x, (mean - sem) * scale, (mean + sem) * scale, color=color, alpha=0.2, lw=0)
        row = paper["values"].get(method, {}).get(metric) if paper else None
        if row:
            ax.plot(np.arange(len(row)), np.array(row) * 100, ls="--", marker=".", color=color, alpha=0.6)
    ax.set(xlabel="stage (model $M_i$)", ylabel="accuracy (%)", title=METRIC_TITLES.get(metric, metric))
