"""fortifai.book.status: the paper's items joined with the chapters' committed claims; fortifai.book.report.publish_claims."""

import json

import pytest

from fortifai.book import status
from fortifai.book.report import Claim, publish_claims


def test_paper_references_are_parsed_into_items():
    assert status.paper_refs("Figs. 6, A2; Sec. 4.5") == {"Fig. 6", "Fig. A2", "Sec. 4.5"}
    assert status.paper_refs("Eqs. 2-4") == {"Eq. 2", "Eq. 3", "Eq. 4"}
    assert status.paper_refs("Tables 2, 4; Algorithm 1; Appendix A") == {"Table 2", "Table 4", "Algorithm 1",
                                                                         "Appendix A"}
    assert status.paper_refs("") == set()
    with pytest.raises(ValueError, match="paper reference 'Figure"):
        status.paper_refs("Figure two")


def test_every_paper_item_is_listed_once_with_a_chapter():
    refs = [r for item in status.paper_items() for r in item["refs"]]
    assert len(refs) == len(set(refs))
    for needed in ("Eq. 1", "Fig. 1", "Fig. 2", "Fig. 6", "Fig. 9", "Algorithm 1", "Algorithm 2", "Table B1", "Table E6"):
        assert needed in refs


def test_status_rows_join_claims_by_their_paper_items(tmp_path):
    (tmp_path / "gaussian_variance.json").write_text(json.dumps([
        {"claim": "CE collapses", "ours": "11 generations", "verdict": "reproduced", "paper": "Fig. 2; Eq. 1"},
        {"claim": "TCE delays", "ours": "4.3x", "verdict": "partly: less than 2x", "paper": "Fig. 2"}]))
    rows = {", ".join(r["refs"]): r for r in status.status_rows(tmp_path)}
    assert rows["Fig. 2"]["verdict"] == "partly, reproduced" and len(rows["Fig. 2"]["claims"]) == 2
    assert rows["Eq. 1"]["verdict"] == "reproduced"
    assert rows["Fig. 9, Sec. 4.8"]["verdict"] == "not yet"
    table = status.status_markdown(list(rows.values()))
    assert "**partly**: TCE delays (4.3x)" in table and "| not yet |" in table


def test_publish_claims_refuses_other_words_and_never_writes_the_committed_claims(tmp_path, monkeypatch):
    from fortifai import results
    from fortifai.book import report

    monkeypatch.setattr(report, "CLAIMS_DIR", tmp_path / "results" / "claims")
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    metrics = {}
    with pytest.raises(ValueError, match="verdicts must start with one of"):
        publish_claims([Claim("c", "1", "holds")], "toy", tmp_path / "x", metrics)
    note = publish_claims([Claim("c", "1", "reproduced", "Fig. 2")], "toy", tmp_path / "custom", metrics)
    assert metrics["claims"][0]["paper"] == "Fig. 2" and "not compared" in note
    default = results.resolve_output_dir(None, "toy")
    assert "fortifai claims --refresh toy" in publish_claims([Claim("c", "1", "reproduced")], "toy", default, metrics)
    assert not (tmp_path / "results" / "claims").exists()  # a chapter run never writes them
    results.write_json(default / "metrics.json", metrics)
    assert report.refresh_claims(["toy"]) == {"toy": ["new: 'c'"]}  # shown, not written
    assert not (tmp_path / "results" / "claims").exists()
    assert report.refresh_claims(write=True) == {"toy": ["new: 'c'"]}  # every chapter with a default run
    assert report.refresh_claims() == {"toy": []}
    assert "agree" in publish_claims([Claim("c", "2", "reproduced")], "toy", default, metrics)
    note = publish_claims([Claim("c", "2", "partly: smaller")], "toy", default, metrics)
    assert "reproduced -> partly" in note and "--refresh toy" in note
    results.write_json(default / "metrics.json", metrics)
    assert report.refresh_claims(["toy"], write=True) == {"toy": ["'c': reproduced -> partly"]}
    assert results.read_json(tmp_path / "results" / "claims" / "toy.json")[0]["verdict"] == "partly: smaller"
    with pytest.raises(FileNotFoundError, match="chapter 'other' has no default run"):
        report.refresh_claims(["other"])


@pytest.mark.built_book
def test_the_committed_claims_are_the_default_runs_claims():
    """What the status page reads is what the chapters concluded at their defaults (`fortifai claims`): the book
    build executes every chapter at its defaults into results/<chapter>/default, which this test reads after it."""
    from fortifai.book.report import refresh_claims

    compared = refresh_claims()
    words = {chapter: [c for c in changes if c != "text"] for chapter, changes in compared.items()}
    assert len(compared) >= 8 and not any(words.values()), words  # timings in a claim's text vary by machine


def test_the_claims_command_compares_then_refreshes(tmp_path, monkeypatch, capsys):
    from fortifai import cli, results
    from fortifai.book import report

    monkeypatch.setattr(report, "CLAIMS_DIR", tmp_path / "results" / "claims")
    monkeypatch.setattr(results, "default_output_dir",
                        lambda chapter, run_name="default": tmp_path / "results" / chapter / run_name)
    results.write_json(tmp_path / "results" / "toy" / "default" / "metrics.json",
                       {"claims": [{"claim": "c", "ours": "1", "verdict": "reproduced"}]})
    assert cli.main(["claims"]) == 1 and "toy: differ: new: 'c'" in capsys.readouterr().out
    assert cli.main(["claims", "--refresh"]) == 0 and "reproduction_status" in capsys.readouterr().out
    assert cli.main(["claims", "toy"]) == 0 and "toy: agree" in capsys.readouterr().out
    assert cli.main(["claims", "nothing"]) == 2 and "has no default run" in capsys.readouterr().err


def test_the_central_claim_row_holds_no_cost_target():
    """The central claim's row mixed in the losses' cost targets; they have a row of their own (Sec. 5)."""
    rows = {", ".join(r["refs"]): r for r in status.status_rows()}
    central = [c.claim for _, c in rows["Sec. 1"]["claims"]]
    assert central and not any(c.startswith("(cost target)") for c in central)
    assert rows["Sec. 5"]["claims"] and all(c.claim.startswith("(cost target)") for _, c in rows["Sec. 5"]["claims"])
