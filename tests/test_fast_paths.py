"""The fast paths of a recursive stage against the paths they replace: paragraph-context regeneration from one
shared prefill against every window prefilled alone, the one-pass evaluation against each measure apart (and
against a float64 reference), and the precision a machine trains in."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fortifai import krtest, recursive
from fortifai.lm import precision
from fortifai.lm.models import load_model
from fortifai.recursive import regeneration
from fortifai.recursive.engine import _score_kr
from fortifai.recursive.instruments import onepass
from fortifai.recursive.instruments.divergence import confidence_gap
from fortifai.recursive.instruments.likelihood import paragraph_nll
from test_recursive import TOY, toy_paragraphs


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = load_model("tiny-random", seed=0)  # a real (SmolLM2) tokenizer, a small random Llama
    return model.eval(), tokenizer


def paragraph_config(**overrides):
    return recursive.RecursiveConfig(**{**TOY, "paragraph_separator": "blank_line", "regeneration_context": "paragraph",
                                        "new_tokens": 6, "context_tokens": 64, "num_beams": 3,
                                        "repetition_penalty": 3.0, "generation_batch_size": 4, **overrides})


def test_shared_prefill_gives_the_tokens_of_each_window_prefilled_alone(tiny):
    model, tokenizer = tiny
    texts = toy_paragraphs(5, seed=3)
    config = paragraph_config()
    shared, stats = regeneration.regenerate(model, tokenizer, texts, config, progress=False)
    alone, _ = regeneration.regenerate(model, tokenizer, texts, config, progress=False, shared_prefill=False)
    assert shared == alone and shared != texts
    # every paragraph keeps its own first new_tokens; its other windows are regenerated
    stream, segments = regeneration.paragraph_stream(tokenizer, texts)
    assert stats["windows"] == sum(len(range(a + config.new_tokens, b, config.new_tokens)) for a, b in segments)
    for original, new in zip(texts, shared):
        first = tokenizer.decode(tokenizer(original, add_special_tokens=False)["input_ids"][:config.new_tokens])
        assert new.startswith(" ".join(first.split()))


def test_shared_prefill_falls_back_where_a_paragraph_outgrows_the_context(tiny):
    model, tokenizer = tiny
    texts = [" ".join(toy_paragraphs(4, seed=1))]  # one long paragraph: later windows see only context_tokens
    config = paragraph_config(context_tokens=16)
    shared, _ = regeneration.regenerate(model, tokenizer, texts, config, progress=False)
    alone, _ = regeneration.regenerate(model, tokenizer, texts, config, progress=False, shared_prefill=False)
    assert shared == alone


def test_a_paragraph_context_never_reads_the_paragraph_before(tiny):
    model, tokenizer = tiny
    texts = toy_paragraphs(3, seed=4)
    config = paragraph_config()
    base, _ = regeneration.regenerate(model, tokenizer, texts, config, progress=False)
    changed, _ = regeneration.regenerate(model, tokenizer, [toy_paragraphs(1, seed=8)[0]] + texts[1:], config,
                                         progress=False)
    assert changed[1:] == base[1:]  # the stream context would carry the first paragraph into the second


def test_paragraph_context_needs_blank_line_paragraphs():
    with pytest.raises(ValueError, match="regeneration_context='paragraph' needs paragraph_separator='blank_line'"):
        recursive.RecursiveConfig(**{**TOY, "paragraph_separator": "eos", "regeneration_context": "paragraph"}).validate()
    with pytest.raises(ValueError, match="regeneration_context must be one of"):
        recursive.RecursiveConfig(**{**TOY, "regeneration_context": "window"}).validate()


def float64_nll(model, tokenizer, texts, max_length):
    """The mean token NLL of each text from the model's logits in float64: the reference both paths approach."""
    out = []
    for text in texts:
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].double()
        out.append(float(F.cross_entropy(logits, ids[0, 1:])))
    return out


def test_one_pass_scores_as_each_measure_apart(tiny):
    model, tokenizer = tiny
    splits = [toy_paragraphs(4, seed=s) for s in (11, 12)]
    heldout = toy_paragraphs(3, seed=13)
    items = [[q.to_dict() for q in krtest.generate_questions(s, per_paragraph=3, seed=k)] for k, s in enumerate(splits)]
    assert all(len(i) >= 4 for i in items)
    real = {"split0": splits[0], "heldout": heldout}
    texts = {"trained": splits[0], "unseen": heldout, "generated": toy_paragraphs(2, seed=14)}
    margins, nll, probabilities = onepass.score_stage(model, tokenizer, items, real, 48, texts, 32, batch_size=3)
    for got, split_items in zip(margins, items):
        assert np.allclose(got, _score_kr(model, tokenizer, split_items, 8), atol=1e-5, rtol=0)
    reference = confidence_gap(model, tokenizer, texts, 4, 32)["probabilities"]
    for name in texts:  # the same tokens, in the same order, with the same probabilities
        assert probabilities[name].shape == reference[name].shape
        assert np.allclose(probabilities[name], reference[name], atol=1e-5, rtol=0)
    for name, paragraphs in real.items():
        assert np.allclose(nll[name], float64_nll(model, tokenizer, paragraphs, 48), atol=1e-5, rtol=0)
        # the padded per-measure path rounds its fp32 mean less exactly: within 2e-4 of both
        assert np.allclose(nll[name], paragraph_nll(model, tokenizer, paragraphs, 4, 48), atol=2e-4, rtol=0)


def test_the_engine_scores_one_pass_as_per_measure(tiny):
    model, tokenizer = tiny
    splits = [toy_paragraphs(3, seed=s) for s in (21, 22)]
    data = dict(splits=splits, heldout=toy_paragraphs(2, seed=23),
                kr_items=[[q.to_dict() for q in krtest.generate_questions(s, per_paragraph=2, seed=k)]
                          for k, s in enumerate(splits)])
    hooks = recursive.Hooks(paragraphs=list, base_model=lambda rest: (model, tokenizer), score_kr=_score_kr)
    config = paragraph_config(block_size=32, context_tokens=32)
    scored = {}
    for evaluation in ("per_measure", "one_pass"):
        scored[evaluation] = recursive.engine._score(model, tokenizer, data, splits[1], 0,
                                                     dataclasses.replace(config, evaluation=evaluation), hooks,
                                                     load_base=lambda: (model, tokenizer))
    (kr_a, nll_a, conf_a), (kr_b, nll_b, conf_b) = scored["per_measure"], scored["one_pass"]
    assert kr_a.keys() == kr_b.keys() == {"0", "1"}
    for k in kr_a:
        assert kr_a[k]["correct"] == kr_b[k]["correct"]
        assert np.allclose(kr_a[k]["margin"], kr_b[k]["margin"], atol=1e-5)
    assert nll_a.keys() == nll_b.keys() == {"model", "base"}
    assert conf_a["model"]["trained"]["histogram"] == conf_b["model"]["trained"]["histogram"]
    assert conf_a["base"]["generated"]["mean"] == pytest.approx(conf_b["base"]["generated"]["mean"], abs=1e-6)


def test_auto_precision_follows_the_probe(monkeypatch):
    assert precision.resolve("fp32") == "fp32"
    monkeypatch.setattr(precision, "probe", lambda: dict(device="cpu", cpu_capability="AVX2", native_bf16=False,
                                                         bf16_speedup=0.03))
    assert precision.resolve("auto") == "fp32"
    with pytest.raises(ValueError, match="precision 'bf16' needs native bfloat16.*AVX2.*use precision 'auto' or 'fp32'"):
        precision.resolve("bf16")
    monkeypatch.setattr(precision, "probe", lambda: dict(device="cpu", cpu_capability="AVX512", native_bf16=True,
                                                         bf16_speedup=3.9))
    assert precision.resolve("auto") == precision.resolve("bf16") == "bf16"


def test_the_probe_times_bf16_against_fp32():
    facts = precision.probe()
    assert facts["cpu_capability"] == precision.cpu_capability()
    if facts["device"] == "cpu" and facts["bf16_speedup"] is not None:
        assert facts["native_bf16"] == (facts["bf16_speedup"] >= precision.MIN_SPEEDUP)


def test_a_run_refuses_bf16_where_it_is_not_native(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "probe", lambda: dict(device="cpu", cpu_capability="AVX2", native_bf16=False,
                                                         bf16_speedup=0.03))
    config = recursive.RecursiveConfig(**{**TOY, "precision": "bf16"})
    with pytest.raises(ValueError, match="use precision 'auto' or 'fp32'"):
        recursive.run(config, tmp_path / "run", recursive.Hooks(paragraphs=list, base_model=None), progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_a_regime_run_stops_at_m0():
    config = recursive.RecursiveConfig(**{**TOY, "stage_measures": "regime"})
    with pytest.raises(ValueError, match="until_stage=0"):
        recursive.run(config, "unused", recursive.Hooks(paragraphs=list, base_model=None), progress=False)


def test_a_run_on_the_fast_paths_ends_as_one_on_the_old_paths(tmp_path):
    """End to end, two stages: paragraph contexts and the one-pass evaluation against paragraph contexts prefilled
    window by window and each measure apart: the same text, the same KR answers, margins and NLL to 1e-4."""
    def hooks():
        return recursive.Hooks(
            paragraphs=lambda: toy_paragraphs(60), base_model=lambda rest: load_model("tiny-random", seed=0),
            make_kr_items=lambda split, per, seed: [q.to_dict() for q in krtest.generate_questions(split, per, seed)],
            score_kr=_score_kr, log=lambda m: None)

    base = dict(TOY, stages=2, paragraph_separator="blank_line", regeneration_context="paragraph", new_tokens=6,
                context_tokens=64, kr_per_paragraph=3, precision="fp32", checkpoint_selection="last")
    fast = recursive.run(recursive.RecursiveConfig(**base, evaluation="one_pass"), tmp_path / "fast", hooks(),
                         progress=False)
    slow = recursive.run(recursive.RecursiveConfig(**base, evaluation="per_measure"), tmp_path / "slow", hooks(),
                         progress=False)
    for a, b in zip(fast["stages"], slow["stages"]):
        assert (tmp_path / "fast" / f"stage_{a['stage']}" / "generated.json").read_text() == \
            (tmp_path / "slow" / f"stage_{b['stage']}" / "generated.json").read_text()
        assert a["kr"].keys() == b["kr"].keys() and sum(v["n"] for v in a["kr"].values()) > 0
        for k in a["kr"]:
            assert a["kr"][k]["correct"] == b["kr"][k]["correct"]
            assert np.allclose(a["kr"][k]["margin"], b["kr"][k]["margin"], atol=1e-4)
        for who in a["real_nll"]:
            for name in a["real_nll"][who]:
                assert np.allclose(a["real_nll"][who][name], b["real_nll"][who][name], atol=2e-4)
        assert a["train"]["precision"] == "fp32"
