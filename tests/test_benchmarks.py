"""lm-eval wrapper: BLiMP and GSM8K from local copies (the committed excerpts in tests/data) on the tiny model;
without a copy, the hub's when it is reachable, else "not run"; HellaSwag offline is 'not run'."""

import json

import numpy as np
import pytest
import torch

from fortifai.lm import corpus
from fortifai.recursive.instruments import benchmarks
from fortifai.recursive.instruments.benchmarks import blimp_phenomena, run_benchmarks

PHENOMENA = ["adjunct_island", "anaphor_gender_agreement"]
LIMIT = 5  # the excerpts hold 5 pairs per phenomenon and 20 GSM8K problems


@pytest.fixture(scope="module")
def tiny():
    from fortifai.lm.models import load_model

    return load_model("tiny-random", seed=0)


@pytest.fixture(scope="module")
def offline_results(tiny, fixture_data):
    model, tokenizer = tiny
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus, "hub_reachable", lambda *a, **k: False)
        return run_benchmarks(model, tokenizer, data="local", data_dir=str(fixture_data), limit=LIMIT,
                              blimp_phenomena_subset=PHENOMENA, max_gen_toks=32)


def blimp_reference(model, tokenizer, rows):
    """The harness's BLiMP rule, written out: sum log p(' ' + sentence | prefix token), good must beat bad."""
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    correct = []
    with torch.no_grad():
        for row in rows:
            scores = []
            for sentence in (row["sentence_good"], row["sentence_bad"]):
                ids = [prefix] + tokenizer(" " + sentence, add_special_tokens=False)["input_ids"]
                logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
                scores.append(sum(logp[t - 1, ids[t]].item() for t in range(1, len(ids))))
            correct.append(scores[0] > scores[1])
    return float(np.mean(correct))


def read_jsonl(path, limit=None):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:limit]]


def test_the_67_phenomena_have_task_files_and_excerpts(fixture_data):
    assert len(blimp_phenomena()) == 67
    assert set(blimp_phenomena()) == {p.stem for p in (fixture_data / "blimp").glob("*.jsonl")}


def test_blimp_offline_matches_a_reference_scorer(tiny, offline_results, fixture_data):
    blimp = offline_results["blimp"]
    assert blimp["status"] == "ok" and blimp["n"] == LIMIT * len(PHENOMENA) and blimp["data"] == "local"
    for phenomenon in PHENOMENA:
        rows = read_jsonl(fixture_data / "blimp" / f"{phenomenon}.jsonl", LIMIT)
        assert blimp["phenomena"][phenomenon] == pytest.approx(blimp_reference(*tiny, rows))
    assert blimp["value"] == pytest.approx(np.mean([blimp["phenomena"][p] for p in PHENOMENA]))


def test_gsm8k_offline_runs_the_harness_default(offline_results):
    gsm8k = offline_results["gsm8k"]
    assert gsm8k["status"] == "ok" and gsm8k["n"] == LIMIT and gsm8k["metric"] == "exact_match (strict-match)"
    assert gsm8k["value"] == 0.0  # a random model never writes '#### <the answer>'


def test_hellaswag_offline_is_not_run_never_zero(offline_results):
    assert offline_results["hellaswag"] == {"status": "not run: hub unreachable (no offline copy of HellaSwag)"}
    assert list(offline_results) == ["blimp", "hellaswag", "gsm8k"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"tasks": ["mmlu"]}, ValueError, "tasks must be a non-empty subset of"),
    ({"data": "disk"}, ValueError, "data must be one of ('hub', 'local')"),
    ({"limit": 0}, ValueError, "limit must be None (every item) or an int >= 1"),
    ({"blimp_phenomena_subset": ["islands"]}, ValueError, "blimp_phenomena must be None (all 67)"),
    ({"data": "local", "data_dir": "/nonexistent"}, FileNotFoundError, "set data_dir= (or env FORTIFAI_SHARED_DATA)"),
])
def test_bad_arguments_fail_before_any_work(kwargs, error, message):
    with pytest.raises(error) as err:
        run_benchmarks(None, None, **kwargs)
    assert message in str(err.value)


def test_hub_data_offline_names_the_local_choice(monkeypatch):
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(RuntimeError, match=r"pass data='local' with data_dir= \(or env FORTIFAI_SHARED_DATA\)"):
        run_benchmarks(None, None, tasks=["blimp"], data="hub")
    assert run_benchmarks(None, None, tasks=["hellaswag"])["hellaswag"]["status"].startswith("not run: hub unreachable")


def test_local_data_with_no_copy_named_and_no_hub_is_not_run_and_says_how(monkeypatch):
    monkeypatch.delenv("FORTIFAI_SHARED_DATA", raising=False)
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    results = run_benchmarks(None, None, data="local", limit=3)  # no model is needed: nothing runs
    assert list(results) == ["blimp", "hellaswag", "gsm8k"]
    for task in ("blimp", "gsm8k"):
        assert results[task] == {"status": benchmarks.NO_LOCAL_COPY}
        assert "set it to a folder holding blimp/ and gsm8k/" in results[task]["status"]
    with pytest.raises(FileNotFoundError, match=r"set data_dir= \(or env FORTIFAI_SHARED_DATA\)"):
        benchmarks.local_dataset({"train": "gsm8k/train.jsonl"})


def test_local_data_with_no_copy_named_takes_the_hubs_items_when_reachable(monkeypatch, fixture_data):
    import lm_eval
    import lm_eval.models.huggingface
    import lm_eval.tasks

    calls = []

    def simple_evaluate(model, tasks, task_manager, **kwargs):
        calls.append((tasks, task_manager))
        return {"results": {"gsm8k": {"exact_match,strict-match": 0.25, "exact_match,flexible-extract": 0.5}},
                "n-samples": {"gsm8k": {"effective": 4}}}

    monkeypatch.delenv("FORTIFAI_SHARED_DATA", raising=False)
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(lm_eval.models.huggingface, "HFLM", lambda **kwargs: "lm")
    monkeypatch.setattr(lm_eval.tasks, "TaskManager", lambda **kwargs: kwargs)
    monkeypatch.setattr(lm_eval, "simple_evaluate", simple_evaluate)
    result = run_benchmarks(None, None, tasks=["gsm8k"], data="local", limit=4)["gsm8k"]
    assert calls == [(["gsm8k"], {})]  # the harness's own task files (TaskManager()), not fortifai/recursive/instruments/tasks
    assert result["data"] == "hub" and result["value"] == 0.25 and result["n"] == 4
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(fixture_data))
    calls.clear()
    assert run_benchmarks(None, None, tasks=["gsm8k"], data="local", limit=4)["gsm8k"]["data"] == "local"
    assert calls[0][1]["include_path"] == str(benchmarks.TASK_DIR)  # a named copy wins over the hub


def test_the_excerpts_are_the_first_lines_of_the_full_copies(fixture_data, shared_data):
    excerpts = sorted(p.relative_to(fixture_data) for p in fixture_data.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(excerpts) == 67 + 2 + 1
    for relative in excerpts:
        lines = (fixture_data / relative).read_bytes().splitlines(keepends=True)
        with open(shared_data / relative, "rb") as full:
            assert [full.readline() for _ in lines] == lines, relative
        assert (fixture_data / relative).stat().st_size < 200_000


def test_blimp_from_the_copy_the_environment_names(tiny, shared_data, monkeypatch):
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(shared_data))
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    limit = 12  # more pairs than the excerpts hold: these come from the full copy
    blimp = run_benchmarks(*tiny, tasks=["blimp"], data="local", limit=limit, blimp_phenomena_subset=PHENOMENA[:1])
    assert blimp["blimp"]["n"] == limit and blimp["blimp"]["data"] == "local"
    rows = read_jsonl(shared_data / "blimp" / f"{PHENOMENA[0]}.jsonl", limit)
    assert blimp["blimp"]["value"] == pytest.approx(blimp_reference(*tiny, rows))
