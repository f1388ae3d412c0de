"""What the chapters call, each against an independent computation: the losses chapter (curves, the bigram model's
mask by frequency, the identities, the benchmark tables), the KR-test chapter, the verdict summaries and
``close_chapter``."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fortifai.book.report import Claim, close_chapter, verdict_summary
from fortifai.claims.judge import VERDICTS
from fortifai.book.status import status_summary
from fortifai.claims import losses as loss_claims
from fortifai.chapters import kr_test as kr_chapter
from fortifai.krtest import KRQuestion
from fortifai.losses import benchmark
from fortifai.chapters import losses as loss_chapter
from fortifai.results import RunRecord


def test_curve_facts_against_closed_forms():
    p, curves = loss_chapter.loss_curves(0.8, [2.0])
    facts = loss_chapter.curve_facts(p, curves, 0.8, [2.0])
    i = np.searchsorted(p, 0.9)
    # focal / CE is (1 - p)^gamma in closed form, at the grid point the chapter reads
    assert facts["focal_2_over_ce_at_p0.9"] == pytest.approx((1 - p[i]) ** 2, rel=1e-9)
    ce_loss, ce_grad = curves["CE"]
    assert ce_loss == pytest.approx(-np.log(p), rel=1e-9)
    assert facts["tce_max_abs_grad_above_gamma"] == 0.0
    assert facts["ce_grad_equals_minus_one_minus_p_max_abs_diff"] < 1e-12


def _bigram_by_hand(words, vocab_size, prior, train_fraction, gamma):
    """p_t of every held-out token from counts in plain Python: (n(prev, w) + prior u(w)) / (n(prev) + prior)."""
    split = int(train_fraction * len(words))
    freq = Counter(words[:split])
    ranked = sorted(freq, key=lambda w: (-freq[w], w))[:vocab_size]
    rank = {w: i for i, w in enumerate(ranked)}
    ids = [rank.get(w, len(ranked)) for w in words]
    train = ids[:split]
    V = len(ranked) + 1
    unigram = Counter(train)
    pairs = Counter(zip(train[:-1], train[1:]))
    out = Counter(train[:-1])
    test = ids[split:]
    p_t = np.array([(pairs[a, b] + prior * unigram[b] / len(train)) / (out[a] + prior)
                    for a, b in zip(test[:-1], test[1:])])
    return p_t, np.array(test[1:]), V


def test_bigram_mask_against_counts_by_hand():
    rng = np.random.default_rng(0)
    # a text with a few very frequent words after fixed ones, so that some p_t exceed gamma
    words = []
    for _ in range(3000):
        words += ["the", "cat"] if rng.random() < 0.5 else [f"w{rng.integers(40)}", "."]
    gamma, vocab = 0.6, 2000  # more than the words: the buckets need 1000 < vocab (as the chapter does)
    text, enc = loss_chapter.bigram_mask(words, vocab, 1.0, 0.8, gamma, alpha=1.0, chunk=333)
    p_t, target, V = _bigram_by_hand(words, vocab, 1.0, 0.8, gamma)
    assert enc["V"] == V == text["vocab"]
    masked = p_t > gamma
    assert 0 < masked.mean() < 1
    assert text["masked_fraction_check"] == pytest.approx(masked.mean(), abs=1e-6)
    assert text["masked_fraction_library"] == pytest.approx(masked.mean(), abs=1e-6)
    ce = -np.log(p_t)
    assert text["share_of_ce_removed"] == pytest.approx(ce[masked].sum() / ce.sum(), rel=1e-4)
    assert text["dynamic_gamma"] == pytest.approx(min(1.0, p_t.mean() + p_t.std()), rel=1e-4)
    top = target < 10  # bucket "1-10": ranks 0..9
    assert text["buckets"][0]["share_of_tokens"] == pytest.approx(top.mean(), abs=1e-6)
    assert text["buckets"][0]["masked_fraction"] == pytest.approx(masked[top].mean(), abs=1e-6)
    assert text["buckets"][0]["mean_focal_weight_gamma2"] == pytest.approx(((1 - p_t[top]) ** 2).mean(), rel=1e-4)


def test_identity_checks_count_the_masked_tokens_apart():
    checks = loss_chapter.identity_checks(seed=3)
    g = torch.Generator().manual_seed(3)
    logits = (3 * torch.randn(256, 50, generator=g, dtype=torch.float64)).numpy()
    tgt = torch.randint(0, 50, (256,), generator=g).numpy()
    tgt[::5] = -100
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    keep = tgt >= 0
    assert checks["n_masked_tokens"] == int((probs[keep, tgt[keep]] > 0.2).sum()) > 0
    assert checks["tce_gamma1_vs_F_cross_entropy"] < 1e-12
    assert checks["focal_gamma0_vs_F_cross_entropy"] < 1e-12
    assert checks["max_abs_grad_at_masked_tokens"] == 0.0


def test_full_size_table_shows_the_committed_rows():
    bench = loss_claims.load_benchmark()
    table = loss_chapter.full_size_markdown(bench).splitlines()
    assert len(table) == 2 + len(bench["rows"])
    for line, row in zip(table[2:], bench["rows"]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == f"{int(row['V'] / 1000)}k"
        assert float(cells[2]) == pytest.approx(row["time_ms"], abs=0.5)
        assert float(cells[5]) == pytest.approx(row["mem_ratio"], abs=0.005)
        assert cells[6] == row["baseline"]


def test_head_shapes_limits_follow_from_the_shapes():
    """The limit of issue 15, weight gradient + 0.25 x logits (float32 MB), recomputed from each row's N, H, V."""
    rows = yaml.safe_load(loss_chapter.HEAD_SHAPES_YAML.read_text())["rows"]
    for row in rows:
        n, h, v = (int(x) for x in row["shape"].split(","))
        assert row["limit_mb"] == pytest.approx(v * h * 4 / 2**20 + 0.25 * n * v * 4 / 2**20, abs=1)
    assert len(loss_chapter.head_shapes_markdown().splitlines()) == 2 + len(rows)


def test_quick_benchmark_ratios_are_to_each_rows_baseline():
    rows = benchmark.quick_benchmark(["ce", "tce", "linear+tce", "chunked_tce"], 64, 128, 16, repeats=1,
                                     memory_cases=())
    by = {r["case"]: r for r in rows}
    assert by["tce"]["base"] == "ce" and by["chunked_tce"]["base"] == "linear+tce"
    chunked, plain = by["chunked_tce"], by["linear+tce"]
    assert chunked["time_vs_base"] == pytest.approx(chunked["time_ms"] / plain["time_ms"])
    assert by["tce"]["time_vs_base"] == pytest.approx(by["tce"]["time_ms"] / by["ce"]["time_ms"])


def test_authors_tce_is_our_tce():
    g = torch.Generator().manual_seed(0)
    logits, target = 3 * torch.randn(40, 7, generator=g), torch.randint(0, 7, (40,), generator=g)
    from fortifai.losses import truncated_cross_entropy

    assert benchmark.authors_tce(logits, target).item() == pytest.approx(
        truncated_cross_entropy(logits, target, benchmark.GAMMA).item(), rel=1e-5)


def _question(kind, location, true="Paris", false="Rome"):
    return KRQuestion(context="c", sentence_true=f"It is {true}.", sentence_false=f"It is {false}.", location=location,
                      kind=kind, change={"start": 6, "true": true, "false": false})


def test_kr_analysis_against_direct_counts():
    questions = [_question("entity" if i % 2 else "number", i) for i in range(20)]
    drawn = kr_chapter.Drawn(100, list(range(20)), questions)
    rng = np.random.default_rng(1)
    scored = {role: {"mean": rng.normal(size=(20, 2)) + [[shift, 0]], "first_k": rng.normal(size=(20, 2)),
                     "score_s": 1.0} for role, shift in (("pretrained", 1.0), ("control seed 0", 0.0),
                                                         ("control seed 1", 0.0))}
    found = kr_chapter.analyse(drawn, scored, ["control seed 0", "control seed 1"], n_splits=2, n_boot=200, seed=0)
    right = {r: s["mean"][:, 0] > s["mean"][:, 1] for r, s in scored.items()}
    assert found["accuracy"]["pretrained"]["total"]["accuracy"] == pytest.approx(right["pretrained"].mean())
    pooled = np.concatenate([right["control seed 0"], right["control seed 1"]])
    assert found["control_pooled"]["accuracy"] == pytest.approx(pooled.mean())
    odd = np.arange(20) % 2 == 1
    assert found["accuracy_by_kind"]["control"]["entity"]["accuracy"] == pytest.approx(
        np.concatenate([right["control seed 0"][odd], right["control seed 1"][odd]]).mean())
    assert found["accuracy_first_k"]["pretrained"] == pytest.approx(
        np.mean(scored["pretrained"]["first_k"][:, 0] > scored["pretrained"]["first_k"][:, 1]))
    b = int(np.sum(right["pretrained"] & ~right["control seed 0"]))
    assert found["mcnemar"]["b"] == b
    assert "It is **Paris**." in kr_chapter.examples_markdown(questions)


CLAIMS = [Claim("a", "1", "reproduced: x", "Fig. 2"), Claim("b", "2", "partly: y"), Claim("c", "3", "reproduced: z"),
          Claim("d", "4", "not reproduced: w", "Table 1")]


def test_verdict_summary_names_the_listed_claims_and_counts_the_folded_ones():
    from dataclasses import replace

    folded = [CLAIMS[0], *(replace(c, folded="superseded") for c in CLAIMS[1:])]
    text = verdict_summary(folded)  # a folded row cannot decide: the opening counts the listed
    assert text.splitlines()[0] == "**Verdicts:** 1 reproduced (1 claim)."
    assert text.count("\n| **") == 1 and text.endswith("\n\n3 more are folded in the closing table, each group under "
                                                           "why it cannot decide the claim, with its verdicts counted "
                                                           "there.")


def test_verdict_summary_counts():
    text = verdict_summary(CLAIMS)
    assert text.splitlines()[0] == "**Verdicts:** 2 reproduced, 1 partly, 1 not reproduced (4 claims)."
    assert "| **not reproduced** | d | 4 | Table 1 |" in text and text.count("\n| **") == 4
    for word in set(VERDICTS) - {c.word for c in CLAIMS}:
        assert word not in text.splitlines()[0]


def test_status_summary_counts_items_without_claims():
    rows = [{"refs": ["Fig. 2"], "claims": [("x", CLAIMS[0])]}, {"refs": ["Fig. 9"], "claims": []}]
    text = status_summary(rows, {"x": CLAIMS[:2], "y": CLAIMS[2:]})
    assert "2 reproduced, 1 partly, 1 not reproduced (4 claims in 2 chapters)" in text
    assert "**1 of 2** items" in text and "not yet: Fig. 9." in text


def test_the_status_page_counts_folded_claims_apart():
    """A folded row (``Claim.folded``, as :func:`fold` publishes it) is not counted among the verdicts, as the
    chapter's own opening does not; an item whose only claims are folded says so."""
    from dataclasses import replace

    from fortifai.book.report import fold
    from fortifai.book.status import status_markdown

    groups = [("decisive", CLAIMS[:1], None), ("old setting", CLAIMS[1:3], "superseded"), ("empty", [], None)]
    published = fold(groups)
    assert [c.folded for c in published] == ["", "superseded", "superseded"] and published[0] is CLAIMS[0]
    assert [c.claim for c in published] == ["a", "b", "c"]
    text = status_summary([{"refs": ["Fig. 2"], "claims": [("x", published[0])]}], {"x": published})
    assert "**Verdicts:** 1 reproduced (1 claims in 1 chapters; 2 more folded in their chapters' closing tables, not " \
           "counted)." in text
    assert "2 more folded" not in status_summary([], {"x": CLAIMS[:1]})
    on_table = replace(CLAIMS[3], folded="superseded")
    table = status_markdown([{"refs": ["Table 1"], "what": "w", "chapter": "x",
                              "claims": [("x", on_table), ("x", CLAIMS[0])]}])
    assert "| **reproduced**: a (1)<br>folded, **not reproduced**: d (4) |" in table  # the listed claims first


def test_status_rows_mark_an_item_whose_only_claims_are_folded(tmp_path):
    (tmp_path / "gmm_collapse.json").write_text(json.dumps([
        {"claim": "TCE delays", "ours": "1.1x", "verdict": "partly: x", "paper": "Fig. 6", "folded": "superseded"},
        {"claim": "CE collapses", "ours": "3", "verdict": "reproduced", "paper": "Fig. 2"},
        {"claim": "TCE delays", "ours": "4x", "verdict": "underpowered: y", "paper": "Fig. 2", "folded": "old"}]))
    from fortifai.book.status import status_rows

    rows = {", ".join(r["refs"]): r for r in status_rows(tmp_path)}
    assert rows["Fig. 6, Fig. A2, Sec. 4.5"]["verdict"] == "folded (partly)" and rows["Fig. 2"]["verdict"] == "reproduced"


def test_close_chapter_writes_once(tmp_path, monkeypatch):
    import fortifai.results as results

    written = []
    real = results.write_json
    monkeypatch.setattr(results, "write_json", lambda path, data: written.append(Path(path).name) or real(path, data))
    monkeypatch.setattr(results, "resolve_output_dir", lambda output_dir, notebook: tmp_path / "default")  # not ours
    record = RunRecord(tmp_path, params={"x": 1})
    metrics = {"value": 2.5}
    close_chapter("some_chapter", record, metrics, CLAIMS[:2], timings={"t_s": 1.0})
    assert written.count("metrics.json") == 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["value"] == 2.5 and [c["claim"] for c in saved["claims"]] == ["a", "b"]
    assert json.loads((tmp_path / "run.json").read_text())["timings_s"] == {"t_s": 1.0}
    assert not math.isnan(saved["value"])
