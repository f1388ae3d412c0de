"""The instruments of a recursive run: regeneration fidelity, masking over training, measured KR chance,
the authors' KR files with repeated questions, one beam search equal to generate()."""

import json

import pytest
import torch

from fortifai.krtest import KRFormatError, kr_chance, load_questions, proportion_interval
from fortifai.recursive.instruments import fidelity
from fortifai.recursive.instruments.masking import MaskingMonitor, target_probabilities


def test_ngram_precision_is_clipped_and_by_hand():
    reference = "the cat sat on the mat today"
    assert fidelity.ngram_precision(reference, reference) == 1.0
    # 4-grams of the candidate: (the cat sat on) matches, (cat sat on a) and (sat on a rug) do not -> 1/3
    assert fidelity.ngram_precision("the cat sat on a rug", reference) == pytest.approx(1 / 3)
    # a phrase repeated three times matches only as often as the reference holds it
    # 4-grams: 3 x (the cat sat on), 2 x (cat sat on the), 2 x (sat on the cat), 2 x (on the cat sat); the
    # reference holds the first two once each -> 2 of 9 (unclipped it would be 5 of 9)
    repeated = " ".join(["the cat sat on"] * 3)
    assert fidelity.ngram_precision(repeated, reference) == pytest.approx(2 / 9)
    assert fidelity.ngram_precision("too short", reference) is None
    with pytest.raises(ValueError, match="n must be"):
        fidelity.ngram_precision("a b c d", "a b c d", n=0)


def test_type_token_ratio_and_kr_prefix_survival():
    assert fidelity.type_token_ratio(["a b", "a c"]) == 0.75
    items = [{"sentence_true": "The bridge was built in 1901 by the city."},
             {"sentence_true": "It was closed to traffic in 1990 after a flood."}]
    text = ["Long ago the bridge was built in 1901 by the city council.", "Nothing else."]
    assert fidelity.kr_prefix_survival(text, items) == 0.0  # case matters: "The bridge" is not "the bridge"
    text = ["The bridge was built in 1901 by a king."]
    assert fidelity.kr_prefix_survival(text, items) == 0.5


def test_stage_fidelity_compares_with_the_previous_generation_and_the_original():
    data = {"splits": [["w1 w2 w3 w4 w5 w6"], ["x1 x2 x3 x4 x5"]], "kr_items": [[], []]}
    previous = {"0": ["w1 w2 w3 w4 z z"]}
    generated = {"0": ["w1 w2 w3 w4 z z"], "1": ["x1 x2 x3 x4 x5"]}
    out = fidelity.stage_fidelity(1, generated, previous, data)
    assert out["0"]["ngram4_precision"] == 1.0  # unchanged from the text it was regenerated from
    assert out["0"]["ngram4_precision_original"] == pytest.approx(1 / 3)
    assert out["1"]["ngram4_precision"] == 1.0  # split 1 is regenerated from its real text at stage 1


def test_kr_chance_per_kind_with_wilson_interval():
    items = [[{"kind": "year"}] * 2, [{"kind": "year"}, {"kind": "entity"}], [{"kind": "entity"}] * 2]
    answers = {"0": {"correct": [True, True]}, "1": {"correct": [True, False]}, "2": {"correct": [False, False]}}
    out = kr_chance(items, answers, unseen=[1, 2])  # split 0 was trained on: left out
    assert out["accuracy"] == 0.25 and out["n"] == 4
    assert out["by_kind"]["year"]["accuracy"] == 1.0 and out["by_kind"]["entity"]["n"] == 3
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(proportion_interval(1, 4))
    low, high = proportion_interval(1, 4)
    assert low == pytest.approx(0.0456, abs=1e-3) and high == pytest.approx(0.6994, abs=1e-3)  # Wilson, by hand
    with pytest.raises(ValueError, match="answers for"):
        kr_chance(items, {"1": {"correct": [True]}, "2": {"correct": [False, False]}}, unseen=[1, 2])


def test_the_authors_file_with_repeated_questions_loads(tmp_path):
    q = {"context": "c", "sentence_true": "t", "sentence_false": "f", "location": 0}
    other = {**q, "sentence_false": "g"}
    path = tmp_path / "authors.json"
    path.write_text(json.dumps([q, other, q, q]))
    kept = load_questions(path)
    assert len(kept) == 4 and kept.duplicates == 2
    dropped = load_questions(path, duplicates="drop")
    assert [x.sentence_false for x in dropped] == ["f", "g"] and dropped.duplicates == 2
    with pytest.raises(KRFormatError, match="question 2: duplicate of question 0"):
        load_questions(path, duplicates="error")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load_questions(path, duplicates="ignore")


def test_masking_monitor_counts_every_batch_per_epoch(tmp_path):
    # logits that give the target probability ~1 on one of two positions: p_t of the targets is known
    labels = torch.tensor([[0, 1, 2]])
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 1] = 20.0  # position 0 predicts label 1 with p ~ 1; position 1 predicts label 2 with p = 1/4
    p = target_probabilities(logits, labels)
    assert p.shape == (2,) and p[0] > 0.99 and p[1] == pytest.approx(0.25)
    monitor = MaskingMonitor("tce", {"gamma": 0.9}, tmp_path / "masking.json")
    monitor.record(logits, labels)  # no count from the loss: p > gamma -> 1 of 2
    monitor.record(logits, labels, loss_masked_fraction=torch.tensor(0.0))  # the loss's own count wins
    monitor.end_epoch(1.0)
    monitor.record(logits, labels)
    monitor.end_epoch(2.0)
    summary = monitor.summary()
    assert summary["masked_fraction_by_epoch"] == [0.25, 0.5]
    assert summary["masked_fraction_mean"] == pytest.approx(2 / 6)  # over tokens: 1 of 4, then 1 of 2
    assert summary["confident_fraction_by_epoch"]["0.9"] == [0.5, 0.5]
    resumed = MaskingMonitor("tce", {"gamma": 0.9}, tmp_path / "masking.json")
    resumed.restore(1.0)  # a checkpoint after epoch 1: epoch 2 will be trained again
    assert [e["epoch"] for e in resumed.epochs] == [1.0]
    focal = MaskingMonitor("focal", {"gamma": 2.0})
    focal.record(logits, labels)
    focal.end_epoch(1.0)
    assert focal.summary()["masked_fraction_by_epoch"][0] == pytest.approx(((1 - p) ** 2).mean().item())


def test_beam_search_gives_the_tokens_of_generate():
    from fortifai.lm.decoding import beam_search
    from fortifai.lm.models import tiny_random_model

    model = tiny_random_model(vocab_size=97, seed=3)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 97, (3, 12), generator=generator)
    mask = torch.ones_like(ids)
    ids[1, :5], mask[1, :5] = 0, 0  # a left-padded row
    for beams, penalty in ((5, 3.0), (3, 1.0)):
        reference = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8,
                                   num_beams=beams, do_sample=False, repetition_penalty=penalty, pad_token_id=0,
                                   eos_token_id=2)[:, 12:]
        ours = beam_search(model, ids, mask, beams, 8, penalty, eos_token_ids=[2])
        assert torch.equal(ours, reference)
        assert not (ours == 2).any()  # end of sequence forbidden before the last token
