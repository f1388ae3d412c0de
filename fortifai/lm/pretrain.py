"""Small causal LMs trained from scratch: the stand-in for M0's pretraining when no pretrained model fits a CPU.

A byte-level BPE tokenizer is fitted to the pretraining text (``tokenizers``), a small Llama or Gemma-3
architecture is initialised and trained with plain cross entropy by ``transformers.Trainer``. The result
is cached under ``FORTIFAI_CACHE`` (default ``~/.cache/fortifai``) keyed by the architecture, the
training settings and a hash of the text, so the one-time pretraining is paid once per machine.

Model names (the ``model`` parameter of the recursive engine):

``scratch-llama-tiny``   about 0.3M parameters: tests and the smoke tier (seconds)
``scratch-llama-small``  about 1.4M parameters: the cpu tier (minutes, once)
``scratch-gemma3-small`` the same size with Gemma-3's architecture
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..packaged import cache_dir
from ..results import ordinary_modes

__all__ = ["SCRATCH_MODELS", "ScratchSpec", "pretrain", "pretrain_isolated", "load_scratch"]


@dataclass(frozen=True)
class ScratchSpec:
    architecture: str  # "llama" | "gemma3"
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    max_positions: int
    steps: int  # optimisation steps of the one-time pretraining
    batch_size: int
    block_size: int
    learning_rate: float


SCRATCH_MODELS: dict[str, ScratchSpec] = {
    "scratch-llama-tiny": ScratchSpec("llama", 2048, 64, 2, 2, 256, 1024, 20, 8, 64, 3e-3),
    # sized for two CPU cores: ~10k training tokens/s (benchmarks/recursive.py), a one-time pretraining of minutes
    "scratch-llama-small": ScratchSpec("llama", 4096, 128, 4, 4, 384, 1024, 400, 32, 128, 2e-3),
    "scratch-gemma3-small": ScratchSpec("gemma3", 4096, 128, 4, 4, 384, 1024, 400, 32, 128, 2e-3),
}


def fit_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


def _model_config(spec: ScratchSpec, tokenizer):
    common = dict(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads, num_key_value_heads=spec.heads, intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_positions, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    if spec.architecture == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common)
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(head_dim=spec.hidden_size // spec.heads, sliding_window=256, **common)


def _key(name: str, spec: ScratchSpec, texts: list[str], seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"name": name, **asdict(spec), "seed": seed}, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def _partial_suffix() -> str:
    # the host too: on shared storage a pid says nothing about another machine's processes
    return f".partial-{socket.gethostname()}-"


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the scratch folders that pretrainings on this host left in ``folder`` when killed
    (``<name>.partial-<host>-<pid>``, or ``<name>.partial-<pid>`` as older versions named them, of a pid no longer
    running); return them."""
    removed = []
    for partial in folder.glob("*.partial-*"):
        owner = partial.name.rsplit(".partial-", 1)[1]
        host, _, pid = owner.rpartition("-")
        if host in ("", socket.gethostname()) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def pretrain(name: str, texts: list[str], seed: int = 0, output_dir: str | Path | None = None, progress: bool = True):
    """Fit the tokenizer, train the model on ``texts`` with CE; cache and return the folder holding both.

    The folder is complete when it holds ``pretrain.json``; an interrupted pretraining starts over.
    """
    if name not in SCRATCH_MODELS:
        raise ValueError(f"unknown scratch model {name!r}; choose one of {sorted(SCRATCH_MODELS)}")
    if not texts:
        raise ValueError("pretraining needs text: texts is empty")
    spec = SCRATCH_MODELS[name]
    folder = Path(output_dir) if output_dir else cache_dir() / "scratch" / f"{name}-{_key(name, spec, texts, seed)}"
    remove_stale_partials(folder.parent)
    if (folder / "pretrain.json").is_file():
        return folder

    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, set_seed

    from .lmdata import block_dataset

    started = time.perf_counter()
    set_seed(seed)
    tokenizer = fit_tokenizer(texts, spec.vocab_size)
    model = AutoModelForCausalLM.from_config(_model_config(spec, tokenizer))
    train = block_dataset(tokenizer, texts, spec.block_size)
    # one per process: runs may start together
    scratch = folder.with_name(f"{folder.name}{_partial_suffix()}{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    args = TrainingArguments(
        output_dir=str(scratch / "trainer"), max_steps=spec.steps, per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.learning_rate, lr_scheduler_type="cosine", warmup_steps=max(1, spec.steps // 20),
        weight_decay=0.01, logging_steps=max(1, spec.steps // 20), save_strategy="no", report_to=[], seed=seed,
        data_seed=seed, use_cpu=not torch.cuda.is_available(), disable_tqdm=not progress, dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train)
    result = trainer.train()
    model.save_pretrained(scratch / "model")
    tokenizer.save_pretrained(scratch / "model")
    shutil.rmtree(scratch / "trainer", ignore_errors=True)
    info = dict(name=name, spec=asdict(spec), seed=seed, train_loss=result.training_loss,
                tokens=int(len(train) * spec.block_size), seconds=time.perf_counter() - started,
                parameters=sum(p.numel() for p in model.parameters()))
    (scratch / "pretrain.json").write_text(json.dumps(info, indent=2))
    ordinary_modes(scratch)
    try:
        os.replace(scratch, folder)  # the cache entry appears complete or not at all
    except OSError:  # the folder exists: complete (another process pretrained the same first) or a leftover
        if not (folder / "pretrain.json").is_file():
            shutil.rmtree(folder)
            os.replace(scratch, folder)
    shutil.rmtree(scratch, ignore_errors=True)
    return folder


def pretrain_isolated(name: str, texts: list[str], seed: int = 0) -> Path:
    """:func:`pretrain` in a fresh single-process Python, for callers inside a distributed launch.

    Under torchrun every Trainer joins the process group, so one process cannot train alone there; the
    cache folder it leaves is what all processes then load.
    """
    import subprocess
    import sys
    import tempfile

    spec = SCRATCH_MODELS.get(name)
    folder = cache_dir() / "scratch" / f"{name}-{_key(name, spec, texts, seed)}" if spec else None
    if folder is not None and (folder / "pretrain.json").is_file():
        return folder
    distributed = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                   "TORCHELASTIC_RUN_ID", "GROUP_RANK", "ROLE_RANK", "ACCELERATE_USE_CPU")
    env = {k: v for k, v in os.environ.items() if k not in distributed}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"name": name, "texts": texts, "seed": seed}, handle)
    try:
        code = ("import json, sys; from fortifai.lm.pretrain import pretrain; a = json.load(open(sys.argv[1])); "
                "print(pretrain(a['name'], a['texts'], seed=a['seed'], progress=False))")
        out = subprocess.run([sys.executable, "-c", code, handle.name], env=env, check=True, capture_output=True,
                             text=True)
    finally:
        os.unlink(handle.name)
    return Path(out.stdout.strip().splitlines()[-1])


def load_scratch(folder: str | Path):
    """The model and tokenizer of a pretrained scratch folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder) / "model"
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
