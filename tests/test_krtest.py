"""KR-test: file format, generator, scorer (against a slow reference) and statistics."""

import json
import math
import random

import numpy as np
import pytest
import torch
from scipy import stats

from fortifai import krtest
from fortifai.krtest import (KINDS, KRFormatError, KRQuestion, accuracy_report, bootstrap_ci, entity_inventory,
                             generate_questions, load_questions, location_splits, mcnemar, score_questions,
                             score_questions_per_item, split_sentences, validate_questions, write_questions)

PARAGRAPHS = [
    "South of Heaven is the fourth studio album by American thrash metal band Slayer. It was released on July 5, "
    "1988, by Def Jam Recordings. The album was the band's second collaboration with record producer Rick Rubin. "
    "It sold 500,000 copies in the United States and was not banned in Germany.",
    "The Tower Building is located in Little Rock, Arkansas. It was built in 1840 by producer John Walker for the "
    "army. The building has three floors and its walls are thick. In 1880, Douglas MacArthur was born in the "
    "northwest upper floor. It is the oldest building in the city, and it was sold to France in 1893.",
    "Peanuts are grown in India and China. They are widely grown in the tropics by small farmers. The first "
    "crops were planted in March. A harvest takes five months and yields 2.5 tonnes per hectare.",
    "Short one. Nothing here at all.",
]


@pytest.fixture(scope="module")
def tiny():
    from fortifai.lm.models import load_model

    return load_model("tiny-random", seed=0)


@pytest.fixture(scope="module")
def questions():
    return generate_questions(PARAGRAPHS, per_paragraph=5, seed=0, kinds=KINDS)  # every kind, to check each


# ------------------------------------------------------------------------------------------------- format

def test_write_then_load_round_trips_extra_keys(tmp_path, questions):
    items = [q.to_dict() for q in questions]
    items[0]["source_id"] = "abc"
    path = write_questions(items, tmp_path / "kr.json")
    loaded = load_questions(path)
    assert [q.to_dict() for q in loaded] == items
    assert json.loads(path.read_text())[0]["source_id"] == "abc"


def test_loads_the_authors_format_without_our_keys(tmp_path):
    authors = [{"context": "The arsenal was built.", "sentence_true": "It opened in 1942.",
                "sentence_false": "It opened in 1952.", "location": 51}]
    (tmp_path / "a.json").write_text(json.dumps(authors))
    (q,) = load_questions(tmp_path / "a.json")
    assert (q.location, q.kind, q.change) == (51, None, None)
    assert q.to_dict() == authors[0]


GOOD = {"context": "c", "sentence_true": "t", "sentence_false": "f", "location": 0}


@pytest.mark.parametrize("items, message", [
    ({"context": "c"}, "must be a JSON list"),
    (["text"], "question 0: must be an object"),
    ([{k: v for k, v in GOOD.items() if k != "sentence_false"}], "question 0: missing field(s) sentence_false"),
    ([{**GOOD, "context": "  "}], "question 0: field 'context' must be a non-empty string"),
    ([GOOD, {**GOOD, "sentence_true": ""}], "question 1: field 'sentence_true' must be a non-empty string"),
    ([{**GOOD, "location": -1}], "field 'location' must be an int >= 0"),
    ([{**GOOD, "location": "3"}], "field 'location' must be an int >= 0"),
    ([{**GOOD, "sentence_false": "t"}], "'sentence_true' and 'sentence_false' are the same text"),
    ([GOOD, {**GOOD, "location": 4}], "question 1: duplicate of question 0"),
])
def test_validation_errors_name_the_item_and_field(items, message):
    with pytest.raises(KRFormatError) as err:
        validate_questions(items)
    assert message in str(err.value)


def test_load_rejects_invalid_json(tmp_path):
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(KRFormatError, match="not valid JSON"):
        load_questions(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------------------- generator

def test_sentence_splitter_keeps_abbreviations_and_initials():
    text = "Dr. Smith met J. R. Tolkien in the U.S. in 1950. They talked. It was 3.5 hours long!"
    assert split_sentences(text) == ["Dr. Smith met J. R. Tolkien in the U.S. in 1950.", "They talked.",
                                     "It was 3.5 hours long!"]


def test_generator_is_deterministic_by_seed(questions):
    again = generate_questions(PARAGRAPHS, per_paragraph=5, seed=0, kinds=KINDS)
    assert [q.to_dict() for q in again] == [q.to_dict() for q in questions]
    other = generate_questions(PARAGRAPHS, per_paragraph=5, seed=1, kinds=KINDS)
    assert [q.to_dict() for q in other] != [q.to_dict() for q in questions]


def test_every_false_sentence_is_the_true_one_with_exactly_the_recorded_change(questions):
    assert len(questions) >= 8 and len({q.kind for q in questions}) >= 4
    for q in questions:
        change = q.change
        t = q.sentence_true
        assert t[change["start"]:change["start"] + len(change["true"])] == change["true"]
        assert q.sentence_false == t[:change["start"]] + change["false"] + t[change["start"] + len(change["true"]):]
        assert change["true"] != change["false"] and q.kind in KINDS


def test_each_kind_of_change_is_of_its_kind(questions):
    inventory = entity_inventory(PARAGRAPHS)
    for q in questions:
        old, new = q.change["true"], q.change["false"]
        if q.kind == "year":
            assert old.isdigit() and new.isdigit() and 0 < abs(int(old) - int(new)) <= 12
        elif q.kind == "ordinal":
            assert old.lower() in krtest.generate.ORDINALS and new.lower() in krtest.generate.ORDINALS
        elif q.kind == "antonym":
            assert krtest.generate._ANTONYM_OF[old.lower()] == new.lower()
        elif q.kind == "negation":
            assert {old.split()[-1], new.split()[-1]} & {"not", "cannot"} or new == "cannot"
            assert abs(len(old.split()) - len(new.split())) <= 1
        elif q.kind == "entity":
            assert any(old in names and new in names for names in inventory.values())
        elif q.kind == "number":
            assert old != new


def test_contexts_come_from_the_paragraph_and_locations_are_recorded():
    locations = [10, 20, 30, 40]
    made = generate_questions(PARAGRAPHS, per_paragraph=2, seed=3, locations=locations)
    for q in made:
        paragraph = PARAGRAPHS[locations.index(q.location)]
        assert q.sentence_true in paragraph
        assert all(sentence in paragraph for sentence in split_sentences(q.context))
        assert paragraph.index(q.sentence_true) > paragraph.index(split_sentences(q.context)[-1])
    counts = np.bincount([locations.index(q.location) for q in made], minlength=4)
    assert counts.max() <= 2 and counts[3] == 0  # the last paragraph has nothing to change: skipped, not faked


def test_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="per_paragraph must be an int >= 1"):
        generate_questions(PARAGRAPHS, per_paragraph=0)
    with pytest.raises(ValueError, match="kinds must be a non-empty subset"):
        generate_questions(PARAGRAPHS, kinds=["colour"])
    with pytest.raises(ValueError, match="locations must have one entry per paragraph"):
        generate_questions(PARAGRAPHS, locations=[1])


def test_kinds_restricts_the_changes():
    made = generate_questions(PARAGRAPHS, seed=0, kinds=["year"])
    assert made and {q.kind for q in made} == {"year"}


# ------------------------------------------------------------------------------------------------- scorer

def reference_scores(model, tokenizer, questions):
    """One sequence per forward, no padding, full logits: the obvious slow way. Returns (mean, first_k) scores."""
    mean, first_k = [], []
    with torch.no_grad():
        for q in questions:
            ctx = tokenizer(q.context, add_special_tokens=False)["input_ids"]
            conts = [tokenizer(" " + s, add_special_tokens=False)["input_ids"] for s in (q.sentence_true, q.sentence_false)]
            k = min(map(len, conts))
            values = []
            for cont in conts:
                logp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].double(), -1)
                values.append([logp[len(ctx) + t - 1, tok].item() for t, tok in enumerate(cont)])
            mean.append([np.mean(v) for v in values])
            first_k.append([np.mean(v[:k]) for v in values])
    return np.array(mean), np.array(first_k)


def test_batched_scores_match_the_slow_reference(tiny, questions):
    model, tokenizer = tiny
    expected, first_k = reference_scores(model, tokenizer, questions)
    assert np.abs(score_questions(model, tokenizer, questions, batch_size=7) - expected).max() < 1e-4
    unshared = score_questions(model, tokenizer, questions, batch_size=7, sharing="none")
    assert np.abs(unshared - expected).max() < 1e-4
    assert np.abs(score_questions_per_item(model, tokenizer, questions) - expected).max() < 1e-4
    got = score_questions(model, tokenizer, questions, normalization="first_k")
    assert np.abs(got - first_k).max() < 1e-4
    tokens = score_questions(model, tokenizer, questions, return_tokens=True)
    assert np.abs(krtest.reduce_scores(tokens, "first_k") - first_k).max() < 1e-4
    assert not np.allclose(first_k, expected)  # the variant is a different number


def test_batch_size_does_not_change_scores(tiny, questions):
    model, tokenizer = tiny
    one = score_questions(model, tokenizer, questions, batch_size=1)
    for batch_size in (4, 64):
        assert np.abs(score_questions(model, tokenizer, questions, batch_size=batch_size) - one).max() < 1e-5
    for batch_size in (1, 64):
        unshared = score_questions(model, tokenizer, questions, batch_size=batch_size, sharing="none")
        assert np.abs(unshared - one).max() < 1e-5


def test_tree_packing_does_not_change_scores(tiny, questions):
    model, tokenizer = tiny
    longest = max(len(tokenizer(q.context + " " + q.sentence_true)["input_ids"]) for q in questions)
    assert krtest.score.tree_supported(model, longest)  # the tests below exercise the tree, not the fallback
    one_per_row = score_questions(model, tokenizer, questions, pack_tokens=1)
    for pack_tokens in (64, 4096):
        got = score_questions(model, tokenizer, questions, pack_tokens=pack_tokens)
        assert np.abs(got - one_per_row).max() < 1e-5


def test_prefix_tree_shares_prefixes_and_masks_along_ancestors():
    tokens, parents, depths, paths = krtest.score.prefix_tree([[5, 6, 7], [5, 6, 8], [5, 9]])
    assert tokens == [5, 6, 7, 8, 9] and parents == [-1, 0, 1, 1, 0] and depths == [0, 1, 2, 2, 1]
    assert paths == [[0, 1, 2], [0, 1, 3], [0, 4]]
    sees = krtest.score._tree_mask(parents, 6) == 0
    assert sees[3].tolist() == [True, True, False, True, False, False]  # 8 sees 5, 6 and itself, not its sibling 7
    assert sees[5].tolist() == [False] * 5 + [True]  # padding sees itself only


def test_scorer_accepts_dicts_and_rejects_bad_arguments(tiny, questions):
    model, tokenizer = tiny
    dicts = [q.to_dict() for q in questions[:3]]
    assert score_questions(model, tokenizer, dicts).shape == (3, 2)
    with pytest.raises(ValueError, match="normalization must be one of"):
        score_questions(model, tokenizer, dicts, normalization="sum")
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        score_questions(model, tokenizer, dicts, batch_size=0)
    with pytest.raises(ValueError, match="sharing must be one of"):
        score_questions(model, tokenizer, dicts, sharing="prefix")
    with pytest.raises(KRFormatError, match="missing field"):
        score_questions(model, tokenizer, [{"context": "x"}])


# --------------------------------------------------------------------------------------------- statistics

def test_bootstrap_interval_on_constructed_accuracies():
    assert bootstrap_ci([True] * 50) == (1.0, 1.0)
    n = 400
    correct = np.arange(n) % 4 != 0  # 75 %
    low, high = bootstrap_ci(correct, n_boot=4000, seed=1)
    half_width = 1.96 * math.sqrt(0.75 * 0.25 / n)  # normal approximation
    assert low < 0.75 < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_location_splits_are_contiguous_and_balanced():
    locations = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert location_splits(locations, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="more than the 6 distinct locations"):
        location_splits(locations, 7)


def test_accuracy_report_total_and_splits():
    correct = [True, True, True, True, False, False, True, False]
    report = accuracy_report(correct, [0, 0, 1, 1, 2, 2, 3, 3], n_splits=2, n_boot=500)
    assert report["total"]["accuracy"] == pytest.approx(5 / 8) and report["total"]["n"] == 8
    assert [s["accuracy"] for s in report["splits"]] == [1.0, 0.25]
    assert report["splits"][1]["locations"] == [2, 3]


def test_mcnemar_on_constructed_pairs():
    a = np.array([True] * 10 + [True] * 30 + [False] * 5)
    b = np.array([False] * 10 + [True] * 30 + [False] * 5)  # b = 10 discordant for A, c = 0
    exact = mcnemar(a, b)
    assert (exact["b"], exact["c"]) == (10, 0)
    assert exact["p_value"] == pytest.approx(2 * 0.5 ** 10)
    chi2 = mcnemar(a, b, method="chi2")
    assert chi2["statistic"] == pytest.approx(10.0) and chi2["p_value"] == pytest.approx(stats.chi2.sf(10, 1))
    assert mcnemar(a, b, method="chi2-corrected")["statistic"] == pytest.approx(8.1)
    assert mcnemar(a, a)["p_value"] == 1.0
    symmetric = mcnemar(np.r_[a, b], np.r_[b, a])
    assert symmetric["b"] == symmetric["c"] and symmetric["p_value"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar(a, b[:-1])


def test_the_default_kinds_leave_out_antonyms_and_negations():
    from fortifai.krtest import DEFAULT_KINDS

    made = generate_questions(PARAGRAPHS, per_paragraph=5, seed=0)
    assert made and {q.kind for q in made} <= set(DEFAULT_KINDS)
    assert not {"antonym", "negation"} & set(DEFAULT_KINDS)


def test_a_year_past_2037_gets_an_earlier_year_and_other_years_draw_as_before():
    """Counterfactual text holds years up to 2039, where no shift of up to 12 years stays at or before 2025: the
    change is to an earlier year (this crashed seed 2 of the v2 runs); any other year draws exactly as before."""
    from fortifai.krtest.generate import _number_changes

    for seed in range(20):
        change, = _number_changes("It opened in 2039.", random.Random(seed))
        assert change.kind == "year" and 2027 <= int(change.false) < 2039
        rng, reference = random.Random(seed), random.Random(seed)
        change, = _number_changes("It opened in 2020.", rng)
        assert int(change.false) == 2020 + reference.choice([d for d in range(-12, 13) if d and 2020 + d <= 2025])
