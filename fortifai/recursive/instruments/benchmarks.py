"""BLiMP, HellaSwag and GSM8K through the LM Evaluation Harness (``lm_eval``), for a model already in memory.

    results = run_benchmarks(model, tokenizer)                                  # the hub's data
    results = run_benchmarks(model, tokenizer, data="local", limit=50)          # a local copy, 50 items a task
    results["blimp"]  -> {"status": "ok", "metric": "acc", "value": 0.81, "stderr": 0.01, "n": 3350, ...}
    results["hellaswag"] -> {"status": "not run: hub unreachable (no offline copy of HellaSwag)"}

What is measured (the harness's defaults, which the paper's tables use):
  ``blimp``      all 67 phenomena, zero-shot, accuracy of ``sentence_good`` over ``sentence_bad``; the group
                 score is the unweighted mean over phenomena (``weight_by_size: false``), as the harness does.
  ``hellaswag``  ``acc_norm`` (log-likelihood normalised by the ending's length in bytes), zero-shot.
  ``gsm8k``      the harness's ``gsm8k`` task: 5-shot ``Question: ... Answer:`` prompts, greedy generation,
                 ``exact_match`` of the number after ``####`` (filter ``strict-match``; ``flexible-extract``, the
                 last number in the answer, is reported alongside).
``data="hub"`` reads the hub's copies (``nyu-mll/blimp``, ``Rowan/hellaswag``, ``openai/gsm8k``) through the
harness's own task files; ``data="local"`` reads the JSONL files ``blimp/<phenomenon>.jsonl`` and
``gsm8k/{train,test}.jsonl`` under ``data_dir``, else under the folder env ``FORTIFAI_SHARED_DATA`` names,
through the task files shipped in ``fortifai/recursive/instruments/tasks/`` (the harness's files with a local loader). When neither
names a folder, ``data="local"`` takes the hub's copies if the hub is reachable and otherwise reports the task
as not run, with how to provide a copy; each result's ``data`` says where its items came from. HellaSwag has
no offline copy: without the hub it is reported as not run, with the reason, never as 0.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Sequence

TASKS = ("blimp", "hellaswag", "gsm8k")
DATA_CHOICES = ("hub", "local")
TASK_DIR = Path(__file__).resolve().parent / "tasks"
METRICS = {"blimp": ("acc", "none"), "hellaswag": ("acc_norm", "none"), "gsm8k": ("exact_match", "strict-match")}
NO_LOCAL_COPY = ("not run: no local copy (data_dir= or env FORTIFAI_SHARED_DATA names none: set it to a folder "
                 "holding blimp/ and gsm8k/) and the hub is unreachable")


def blimp_phenomena() -> list[str]:
    """The 67 BLiMP phenomena (the harness's subtasks ``blimp_<phenomenon>``)."""
    return sorted(p.stem for p in (TASK_DIR / "blimp").glob("*.yaml") if not p.stem.startswith("_"))


def local_dataset(files: dict[str, str], data_dir: str | None = None, **_metadata):
    """The harness's ``custom_dataset`` hook: a DatasetDict of local JSONL files (paths relative to ``data_dir``)."""
    import datasets

    from ...lm.corpus import shared_data_dir

    root = Path(data_dir) if data_dir else shared_data_dir()
    if root is None:
        raise FileNotFoundError("data='local' needs a folder of copies: set data_dir= (or env FORTIFAI_SHARED_DATA) "
                                "to the folder holding blimp/ and gsm8k/, or use data='hub'")
    paths = {split: root / name for split, name in files.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data='local' needs {', '.join(missing)}; set data_dir= (or env FORTIFAI_SHARED_DATA) "
                                f"to the folder holding blimp/ and gsm8k/, or use data='hub'")
    return datasets.DatasetDict({split: datasets.Dataset.from_json(str(p)) for split, p in paths.items()})


def _check(tasks, data, limit, blimp_subset, data_dir) -> tuple[list[str], Path | None]:
    """The tasks and the folder of local copies (None: none named), or one error naming the bad argument."""
    if isinstance(tasks, str):
        tasks = [tasks]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {list(tasks)!r}")
    if data not in DATA_CHOICES:
        raise ValueError(f"data must be one of {DATA_CHOICES} ('local': the copies under data_dir), got {data!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None (every item) or an int >= 1 (items per task), got {limit!r}")
    if blimp_subset is not None:
        bad = [p for p in blimp_subset if p not in blimp_phenomena()]
        if bad or not blimp_subset:
            raise ValueError(f"blimp_phenomena must be None (all 67) or names from fortifai.recursive.instruments.benchmarks.blimp_phenomena(), "
                             f"got unknown {bad or blimp_subset!r}")
    if data == "local":
        from ...lm.corpus import shared_data_dir

        root = Path(data_dir) if data_dir else shared_data_dir()
        for task in tasks:  # a folder that is named must hold the data
            if root is not None and task != "hellaswag" and not (root / task).is_dir():
                raise FileNotFoundError(f"data='local': no {root / task}/; set data_dir= (or env FORTIFAI_SHARED_DATA) "
                                        f"to the folder holding blimp/ and gsm8k/, or use data='hub'")
        return list(tasks), root
    return list(tasks), None


def _summary(task: str, results: dict, n_samples: dict, names: list[str]) -> dict[str, Any]:
    metric, filter_name = METRICS[task]
    key = f"{metric},{filter_name}"
    if task == "blimp" and len(names) > 1 and "blimp" not in results:  # a subset: the group's unweighted mean
        values = [results[n][key] for n in names]
        value, stderr = sum(values) / len(values), math.nan
    else:
        row = results[names[0]]
        value, stderr = row[key], row.get(f"{metric}_stderr,{filter_name}", math.nan)
    members = sorted(n for n in results if n.startswith("blimp_")) if task == "blimp" else names
    out = {"status": "ok", "metric": metric if filter_name == "none" else f"{metric} ({filter_name})",
           "value": float(value), "stderr": float(stderr) if stderr not in (None, "N/A") else math.nan,
           "n": int(sum(n_samples.get(n, {}).get("effective", 0) for n in members))}
    if task == "gsm8k":
        out["flexible_extract"] = float(results["gsm8k"]["exact_match,flexible-extract"])
    if task == "blimp":
        out["phenomena"] = {n.removeprefix("blimp_"): float(results[n][key]) for n in members}
    return out


def run_benchmarks(model, tokenizer, tasks: Sequence[str] = TASKS, data: str = "hub", data_dir: str | None = None,
                   limit: int | None = None, batch_size: int = 8, blimp_phenomena_subset: Sequence[str] | None = None,
                   max_gen_toks: int | None = None, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Run ``tasks`` on a ``transformers`` causal LM through ``lm_eval.simple_evaluate`` and ``HFLM``.

    ``limit``: at most this many items per task (per phenomenon for BLiMP) for CPU runs; None runs all.
    ``blimp_phenomena_subset``: run these phenomena only (their unweighted mean is reported as ``blimp``).
    ``max_gen_toks``: cap GSM8K's generation (the harness's default is 256 tokens).
    Returns, per task, ``status`` ("ok" or "not run: <reason>"), ``metric``, ``value``, ``stderr``, ``n`` and
    ``data``: where the items came from, "local" or "hub" (see the module's docstring for ``data="local"``).
    """
    tasks, root = _check(tasks, data, limit, blimp_phenomena_subset, data_dir)
    from ...lm.corpus import hub_reachable

    out: dict[str, dict[str, Any]] = {}
    source: dict[str, str] = {}  # where each task's items come from: "local" or "hub"
    for task in tasks:
        if data == "local" and task != "hellaswag" and root is not None:
            source[task] = "local"
        elif hub_reachable():
            source[task] = "hub"
        elif task == "hellaswag":
            out[task] = {"status": "not run: hub unreachable (no offline copy of HellaSwag)"}
        elif data == "hub":
            raise RuntimeError(f"data='hub' but the Hugging Face hub is unreachable: pass data='local' with data_dir= "
                               f"(or env FORTIFAI_SHARED_DATA) naming a folder that holds a copy of {task}")
        else:
            out[task] = {"status": NO_LOCAL_COPY}
    runnable = list(source)
    if not runnable:
        return {task: out[task] for task in tasks}

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    names: dict[str, list[str]] = {}
    for task in runnable:
        if task == "blimp" and blimp_phenomena_subset is not None:
            names[task] = [f"blimp_{p}" for p in blimp_phenomena_subset]
        else:
            names[task] = [task]
    local = [t for t in runnable if source[t] == "local"]
    hub = [t for t in runnable if source[t] == "hub"]
    gen_kwargs = {"max_gen_toks": max_gen_toks} if max_gen_toks else None
    for group, manager in ((local, lambda: TaskManager(include_path=str(TASK_DIR), include_defaults=False,
                                                        metadata={"data_dir": str(root)})),
                           (hub, lambda: TaskManager())):
        if not group:
            continue
        evaluated = simple_evaluate(model=lm, tasks=[n for t in group for n in names[t]], task_manager=manager(),
                                    limit=limit, log_samples=False, gen_kwargs=gen_kwargs, bootstrap_iters=1000,
                                    random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                                    fewshot_random_seed=seed)
        for task in group:
            out[task] = _summary(task, evaluated["results"], evaluated.get("n-samples", {}), names[task])
            out[task].update(data=source[task], limit=limit)
    return {task: out[task] for task in tasks}
