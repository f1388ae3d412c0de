"""fortifai.claims.judge: the one place verdict words are given, each rule against hand-worked cases."""

import ast
import math
from pathlib import Path

import pytest

from fortifai.claims import judge
from fortifai.claims.judge import effect

PACKAGE = Path(__file__).resolve().parents[1] / "fortifai"


def test_effect_words():
    assert effect(1.2, 3.0, 1.0, paper_effect=2.3)[0] == "reproduced"
    assert effect(1.1, 1.5, 1.0, paper_effect=2.3)[0] == "partly"
    assert effect(0.8, 2.5, 1.0, paper_effect=2.3)[0] == "underpowered"
    assert effect(0.8, 1.2, 1.0, paper_effect=2.3)[0] == "not reproduced"
    assert effect(0.5, 0.9, 1.0, paper_effect=2.3) == ("not reproduced", "the opposite direction, beyond the noise")
    assert effect(0.8, 2.5, 1.0, paper_effect=2.3, seeds=1)[0] == "underpowered"
    # a claim in the negative direction (a smaller drop): the paper's side is below zero
    assert effect(-0.09, -0.01, 0.0, paper_effect=-0.036)[0] == "reproduced"
    assert effect(0.01, 0.09, 0.0, paper_effect=-0.036)[0] == "not reproduced"


def test_the_gates_come_first_in_their_order():
    verdict, why = effect(1.2, 3.0, 1.0, paper_effect=2.3, masked_fraction=0.009)
    assert verdict == "inconclusive" and "0.9%" in why
    assert effect(1.2, 3.0, 1.0, paper_effect=2.3, masked_fraction=0.2, fidelity=0.1)[0] == "inconclusive"
    assert effect(1.2, 3.0, 1.0, paper_effect=2.3, masked_fraction=0.2, fidelity=0.6)[0] == "reproduced"
    verdict, why = effect(1.2, 3.0, 1.0, paper_effect=2.3, nothing_to_delay="no CE run failed")
    assert (verdict, why) == ("inconclusive", "no CE run failed")
    assert effect(1.2, 3.0, 1.0, paper_effect=2.3, masked_fraction=0.01, nothing_to_delay="x")[1] != "x"


@pytest.mark.parametrize("loss, word", [((0.016, -0.012, 0.044), "inconclusive"), ((0.05, 0.01, 0.09), "underpowered")])
def test_a_loss_claim_needs_a_baseline_that_lost_something(loss, word):
    """The decisive setting's split-0 KR loss read 'not reproduced' where CE's own loss held 0 (nothing to delay)."""
    # TCE 0.9 minus CE, +1.13 points [-2.32, +4.57] over 8 seeds, against Table D2's -2.3 at M3
    verdict, why = effect(-0.0232, 0.0457, 0.0, -0.023, seeds=8, estimate=0.0113, baseline_loss=loss)
    assert verdict == word
    if word == "inconclusive":
        assert why.startswith("CE's own loss from M0 is not above 0 beyond the noise (mean +0.016, t95 [-0.012, +0.044]")


def test_without_a_paper_size_the_smallest_effect_of_interest_decides():
    cases = {(-0.01, 0.02): "not reproduced", (-0.01, 0.2): "underpowered", (0.05, 0.2): "reproduced",
             (0.01, 0.05): "reproduced", (-0.2, -0.05): "not reproduced"}
    for (low, high), word in cases.items():
        assert effect(low, high, 0.0, smallest=0.1, seeds=3)[0] == word, (low, high)
    assert effect(-0.01, 0.02, 0.0, smallest=0.1, seeds=3)[1].startswith("no difference detected")
    # a smallest effect below the null turns the direction, as the paper's effect does
    assert effect(-0.2, -0.05, 0.0, smallest=-0.1, seeds=3)[0] == "reproduced"


def test_a_missing_measurement_is_not_computed_never_a_verdict():
    assert effect(0.1, 0.2, 0.0, paper_effect=0.3, estimate=math.nan)[0] == "not computed"
    assert effect(0.1, 0.2, 0.0, paper_effect=0.3, estimate=None)[0] == "partly"  # no estimate given: the interval
    assert judge.check(True, "held", "missed", values=[1.0, math.nan]).startswith("not computed")
    assert judge.check(False, "held", "missed", values=[None]).startswith("not computed")
    assert judge.graded(True, True, "why", values=[math.nan]).startswith("not computed")
    assert judge.check(True, "never failed", "x", values=[math.inf]) == "reproduced: never failed"  # inf is a value


def test_check_graded_and_per_seed():
    assert judge.check(True, "held", "missed") == "reproduced: held"
    assert judge.check(False, "held", "missed") == "not reproduced: missed"
    assert judge.check(True, "held", "missed", limited="on a bigram model") == "partly: held, on a bigram model"
    assert judge.check(True, "held", "missed", seeds=1).startswith("underpowered")
    assert [judge.graded(f, p, "w").split(":")[0] for f, p in ((True, True), (False, True), (False, False))] == \
        ["reproduced", "partly", "not reproduced"]
    assert judge.per_seed(3, 3, "lower").startswith("reproduced: lower in every seed (3 of 3)")
    assert judge.per_seed(3, 3, "better", clear=False) == "partly: better in every seed (3 of 3), by less than the seed-to-seed range"
    assert judge.per_seed(3, 3, "better", clear=True).endswith("by more than the seed-to-seed range")
    assert judge.per_seed(2, 3, "lower") == "partly: lower in 2 of 3 seeds"
    assert judge.per_seed(1, 3, "lower") == "not reproduced: lower in 1 of 3 seeds"
    assert judge.per_seed(2, 4, "lower").startswith("not reproduced")  # half is not most
    assert judge.per_seed(1, 1, "lower").startswith("underpowered")
    with pytest.raises(ValueError, match="word must be one of"):
        judge.say("confirmed", "x")


def test_the_decisive_plans_rules_are_the_judges():
    from fortifai.claims import decisive, decisive_v2

    assert decisive.VERDICT_RULE is judge.SHARE_RULE and decisive_v2.CONTRAST_RULE is judge.CONTRAST_RULE
    # the share rule, case by case as its text states it (paper's share 0.17)
    for (low, high), word in {(0.05, 0.4): "reproduced", (0.02, 0.1): "partly", (-0.1, 0.1): "not reproduced",
                              (-0.1, 0.5): "underpowered"}.items():
        assert decisive.plan_verdict([1.0, 1.2, 0.9, 1.1], low, high, paper=0.17)[0] == word


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    out = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
           and id(n) not in docs]
    out += [v.value for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
            for v in n.values if isinstance(v, ast.Constant)]
    return out


def test_no_module_but_the_judge_writes_a_verdict_word():
    """Verdict words in code (strings other than docstrings) appear in the judge alone."""
    words = ("reproduced", "partly", "underpowered", "inconclusive")
    writers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if any(w in s for s in _string_constants(p) for w in words))
    assert writers == ["claims/judge.py"], writers
