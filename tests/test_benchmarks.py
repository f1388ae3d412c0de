"""lm-eval wrapper: BLiMP and GSM8K offline from ../shared/data on the tiny model; HellaSwag offline is 'not run'."""

import json

import numpy as np
import pytest
import torch

from fortifai import benchmarks, corpus
from fortifai.benchmarks import blimp_phenomena, run_benchmarks

PHENOMENA = ["adjunct_island", "anaphor_gender_agreement"]
LIMIT = 10


@pytest.fixture(scope="module")
def tiny():
    from fortifai.models import load_model

    return load_model("tiny-random", seed=0)


@pytest.fixture(scope="module")
def offline_results(tiny):
    model, tokenizer = tiny
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus, "hub_reachable", lambda *a, **k: False)
        return run_benchmarks(model, tokenizer, data="local", limit=LIMIT, blimp_phenomena_subset=PHENOMENA,
                              max_gen_toks=32)


def blimp_reference(model, tokenizer, phenomenon, limit):
    """The harness's BLiMP rule, written out: sum log p(' ' + sentence | prefix token), good must beat bad."""
    rows = [json.loads(line) for line in (corpus.shared_data_dir() / "blimp" / f"{phenomenon}.jsonl").open()][:limit]
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


def test_the_67_phenomena_match_the_shared_data():
    assert len(blimp_phenomena()) == 67
    assert set(blimp_phenomena()) == {p.stem for p in (corpus.shared_data_dir() / "blimp").glob("*.jsonl")}


def test_blimp_offline_matches_a_reference_scorer(tiny, offline_results):
    blimp = offline_results["blimp"]
    assert blimp["status"] == "ok" and blimp["n"] == LIMIT * len(PHENOMENA) and blimp["data"] == "local"
    for phenomenon in PHENOMENA:
        assert blimp["phenomena"][phenomenon] == pytest.approx(blimp_reference(*tiny, phenomenon, LIMIT))
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
    ({"data": "local", "data_dir": "/nonexistent"}, FileNotFoundError, "set data_dir="),
])
def test_bad_arguments_fail_before_any_work(kwargs, error, message):
    with pytest.raises(error) as err:
        run_benchmarks(None, None, **kwargs)
    assert message in str(err.value)


def test_hub_data_offline_names_the_local_choice(monkeypatch):
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(RuntimeError, match="pass data='local'"):
        run_benchmarks(None, None, tasks=["blimp"], data="hub")
    assert run_benchmarks(None, None, tasks=["hellaswag"])["hellaswag"]["status"].startswith("not run: hub unreachable")
