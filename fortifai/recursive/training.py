"""One stage's training: the Trainer with the run's loss (plain CE on the held-out set, to choose checkpoints),
resumable from its last undamaged checkpoint."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from ..results import read_json
from .config import RecursiveConfig


class _EvalAsCE:
    """The named training loss while training (every batch recorded by ``monitor``); plain CE on the held-out
    set, to choose checkpoints by it."""

    def __init__(self, train_loss: Callable, model, monitor=None):
        from ..losses import compute_loss_func

        self.train_loss, self.eval_loss, self.model, self.monitor = train_loss, compute_loss_func("ce"), model, monitor

    def __call__(self, outputs, labels, num_items_in_batch=None):
        if not self.model.training:
            return self.eval_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
        value = self.train_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
        if self.monitor is not None:
            logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
            self.monitor.record(logits, labels, self.train_loss.masked_fraction)
        return value


def train_stage(model, tokenizer, texts: list[str], heldout: list[str], config: RecursiveConfig, work_dir: Path,
                progress: bool = True) -> dict[str, Any]:
    """Train ``model`` in place on ``texts`` (documents: see :func:`fortifai.lm.lmdata.split_documents`)
    with the configured loss; keep the epoch with the best held-out CE (or the last)."""
    import torch
    from transformers import Trainer, TrainingArguments

    from ..lm.lmdata import block_dataset
    from ..losses import compute_loss_func
    from ..lm.precision import cpu_capability, resolve
    from .instruments.masking import MaskingMonitor

    precision = resolve(config.precision)  # what this machine trains in: bf16 only where it is native
    train = block_dataset(tokenizer, texts, config.block_size)
    evaluation = block_dataset(tokenizer, heldout, config.block_size)
    if len(train) == 0 or len(evaluation) == 0:
        raise ValueError(f"not enough text for one block of block_size {config.block_size}")
    micro = min(config.micro_batch_size, len(train))
    accumulation = max(1, config.batch_size // config.micro_batch_size)
    args = TrainingArguments(
        output_dir=str(work_dir), num_train_epochs=config.epochs, per_device_train_batch_size=micro,
        per_device_eval_batch_size=config.eval_batch_size, gradient_accumulation_steps=accumulation,
        learning_rate=config.learning_rate, lr_scheduler_type="constant", optim="adamw_torch",
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2,
        load_best_model_at_end=config.checkpoint_selection == "heldout_loss",
        metric_for_best_model="eval_loss", greater_is_better=False, logging_strategy="epoch", report_to=[],
        seed=config.seed, data_seed=config.seed, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not progress, dataloader_num_workers=0, save_only_model=False,
        bf16=precision == "bf16",
    )
    loss_fn = compute_loss_func(config.loss, **config.loss_kwargs())
    monitor = MaskingMonitor(config.loss, config.loss_kwargs(), work_dir / "masking.json")
    checkpoint = resumable_checkpoint(work_dir)
    if checkpoint is not None:
        monitor.restore(read_json(Path(checkpoint) / "trainer_state.json").get("epoch") or 0.0)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                      compute_loss_func=_EvalAsCE(loss_fn, model, monitor), callbacks=[monitor.callback()])
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    _restore_forward(model)
    history = [h for h in trainer.state.log_history if "eval_loss" in h]
    if config.checkpoint_selection == "heldout_loss":
        best = min(history, key=lambda h: h["eval_loss"]) if history else {}
    else:
        best = history[-1] if history else {}
    tokens = len(train) * config.block_size * config.epochs
    # the mean training loss over all steps from the per-epoch logs, which a resumed Trainer restores (its own
    # training_loss covers only the steps after the resume)
    logged = [h for h in trainer.state.log_history if "loss" in h and "step" in h]
    steps = [b["step"] - a for a, b in zip([0] + [h["step"] for h in logged[:-1]], logged)]
    train_loss = sum(h["loss"] * n for h, n in zip(logged, steps)) / sum(steps) if logged else result.training_loss
    return dict(
        train_blocks=len(train), train_tokens=len(train) * config.block_size, train_loss=train_loss,
        best_epoch=best.get("epoch"), heldout_loss=best.get("eval_loss"),
        heldout_perplexity=math.exp(best["eval_loss"]) if best else None,
        eval_history=[{"epoch": h["epoch"], "heldout_loss": h["eval_loss"]} for h in history],
        train_seconds=seconds, train_tokens_per_second=tokens / seconds if seconds > 0 else None,
        precision=precision, cpu_capability=cpu_capability(), **monitor.summary(),
    )


def resumable_checkpoint(work_dir: Path, log: Callable[[str], None] = print) -> str | None:
    """The Trainer checkpoint a stage's training resumes from, by step number (None: from the start). A checkpoint
    killed while being written, or damaged since, is dropped with a line, never resumed."""
    from transformers.trainer_utils import get_last_checkpoint

    if not work_dir.is_dir():
        return None
    for folder in work_dir.glob("checkpoint-*"):
        if (damage := _checkpoint_damage(folder)) is not None:
            log(f"{folder}: {damage}: dropped, training goes on from an earlier checkpoint or the start")
            shutil.rmtree(folder, ignore_errors=True)
    return get_last_checkpoint(str(work_dir))


def _checkpoint_damage(folder: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed (its trainer state missing, or a file of it unreadable), or None:
    every file the Trainer reads on resume is read here first, so that a damaged one is dropped, not a traceback."""
    import torch
    from safetensors import safe_open

    if not (folder / "trainer_state.json").is_file():
        return "no trainer_state.json (killed while being written)"
    try:
        read_json(folder / "trainer_state.json")
        for weights in folder.glob("*.safetensors"):
            with safe_open(str(weights), framework="pt") as f:
                for name in f.keys():
                    f.get_tensor(name)
        for state in (*folder.glob("*.pt"), *folder.glob("*.pth")):
            torch.load(state, map_location="cpu", weights_only=False)
    except Exception as error:  # truncated, overwritten, not the format: any of these leaves it unusable
        return f"unreadable ({type(error).__name__}: {str(error).strip().splitlines()[0][:120] if str(error).strip() else ''})"
    return None



def _restore_forward(model) -> None:
    """Give ``model`` back its class's own ``forward``. Under bf16 the Trainer's accelerator set an instance
    ``forward`` wrapped in autocast (keeping the old one as ``_original_forward``) and leaves it after training;
    regeneration and evaluation run fp32, as on a model loaded from disk after a resume. (accelerate's
    ``unwrap_model(keep_fp32_wrapper=False)`` also strips the class's own decorators, e.g. ``return_dict``.)"""
    if "_original_forward" in vars(model):
        vars(model).pop("_original_forward")
        vars(model).pop("forward", None)
