"""Unigram KL divergence (authors' epsilon and smoothed) and the confidence gap's per-token probabilities."""

import math

import numpy as np
import pytest
import torch
from scipy.special import rel_entr

from fortifai.recursive.instruments.divergence import (confidence_gap, confidence_summary, kl_from_counts, token_counts,
                                 token_probabilities, unigram_kl, unigram_kl_report)


def test_kl_equals_scipy_when_no_token_is_missing():
    p, q = np.array([5.0, 3.0, 2.0]), np.array([2.0, 2.0, 6.0])
    expected = rel_entr(p / p.sum(), q / q.sum()).sum()
    assert kl_from_counts(p, q, "authors") == pytest.approx(expected, rel=1e-12)
    assert kl_from_counts(p, p, "authors") == 0.0 and kl_from_counts(p, p, "smoothed") == 0.0


def test_authors_epsilon_on_a_token_the_original_never_uses():
    # P = (1/2, 1/2, 0), Q = (1, 0, 0): zeros become 1e-10 in both, without renormalising
    got = unigram_kl([0, 1], [0, 0, 0, 0], vocab_size=3, method="authors", epsilon=1e-10)
    expected = 0.5 * math.log(0.5) + 0.5 * math.log(0.5 / 1e-10) + 1e-10 * math.log(1e-10 / 1e-10)
    assert got == pytest.approx(expected, rel=1e-12) and got == pytest.approx(10.820, abs=1e-3)


def test_smoothed_kl_is_lidstone():
    got = unigram_kl([[0], [1]], [0, 0, 0, 0], vocab_size=3, method="smoothed", alpha=0.5)
    p = (np.array([1, 1, 0]) + 0.5) / (2 + 1.5)
    q = (np.array([4, 0, 0]) + 0.5) / (4 + 1.5)
    assert got == pytest.approx(float(np.sum(p * np.log(p / q))), rel=1e-12)
    assert got < unigram_kl([0, 1], [0, 0, 0, 0], vocab_size=3)  # smoothing tames the unseen token


def test_report_per_split_and_total():
    gen = [[0, 1, 1], [2, 2]]
    orig = [[0, 1], [2, 0]]
    report = unigram_kl_report(gen, orig, vocab_size=3)
    assert [s["tokens"] for s in report["splits"]] == [3, 2] and report["total"]["tokens"] == 5
    assert report["splits"][0]["authors"] == pytest.approx(unigram_kl(gen[0], orig[0], 3))
    assert report["total"]["smoothed"] == pytest.approx(unigram_kl(gen[0] + gen[1], orig[0] + orig[1], 3, "smoothed"))


@pytest.mark.parametrize("call, message", [
    (lambda: token_counts([0, 5], vocab_size=3), "token ids must lie in [0, vocab_size=3)"),
    (lambda: kl_from_counts([1, 0], [1, 1], method="js"), "method must be one of ('authors', 'smoothed')"),
    (lambda: kl_from_counts([0, 0], [1, 1]), "both texts must contain at least one token"),
    (lambda: kl_from_counts([1, 1], [1, 1, 1]), "same vocabulary"),
    (lambda: unigram_kl_report([[0]], [], 3), "one original split per generated split"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


@pytest.fixture(scope="module")
def tiny():
    from fortifai.lm.models import load_model

    return load_model("tiny-random", seed=0)


TEXTS = ["The album was released on July 5, 1988, by Def Jam Recordings.",
         "Peanuts are grown in the tropics by small and large commercial producers, both as a grain and an oil crop."]


def test_token_probabilities_match_one_text_at_a_time(tiny):
    model, tokenizer = tiny
    got = token_probabilities(model, tokenizer, TEXTS, batch_size=2)
    expected = []
    with torch.no_grad():
        for text in TEXTS:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            probs = torch.softmax(model(torch.tensor([ids])).logits[0].double(), -1)
            expected += [probs[t - 1, ids[t]].item() for t in range(1, len(ids))]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    windows = token_probabilities(model, tokenizer, TEXTS, max_length=8)
    assert len(windows) < len(got)  # each 8-token window's first token is context only


def test_confidence_gap_summarises_each_named_set(tiny):
    model, tokenizer = tiny
    gap = confidence_gap(model, tokenizer, {"trained": TEXTS[:1], "unseen": TEXTS[1:]})
    for name, texts in (("trained", TEXTS[:1]), ("unseen", TEXTS[1:])):
        probs = token_probabilities(model, tokenizer, texts)
        np.testing.assert_allclose(gap["probabilities"][name], probs, rtol=1e-5)
        assert gap["summaries"][name]["mean"] == pytest.approx(probs.mean(), rel=1e-5)
    with pytest.raises(ValueError, match="texts must name at least one set"):
        confidence_gap(model, tokenizer, {})


def test_confidence_summary_on_constructed_probabilities():
    s = confidence_summary([0.1, 0.5, 0.95, 0.995])
    assert s["n_tokens"] == 4 and s["mean"] == pytest.approx(0.63625) and s["median"] == pytest.approx(0.725)
    assert s["share_above"] == {"0.5": 0.5, "0.7": 0.5, "0.8": 0.5, "0.9": 0.5, "0.99": 0.25}
    assert s["mean_log_prob"] == pytest.approx(np.mean(np.log([0.1, 0.5, 0.95, 0.995])))
    with pytest.raises(ValueError, match="no token probabilities"):
        confidence_summary([])
