"""The engine: train M_i, regenerate, evaluate, commit the stage; resume at the first unfinished stage (a run
committed without its weights replays its finished stages' training from their committed text first)."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..results import git_commit, read_json, write_json
from .config import RecursiveConfig
from ..lm.lmdata import split_documents
from .protocol import RunDirectory, make_splits, replay_record, training_schedule
from .training import resumable_checkpoint, train_stage
from .regeneration import paragraph_stream, regenerate  # noqa: F401  (paragraph_stream: the engine's public name)


@dataclass
class Hooks:
    """What the engine needs from the world: the corpus, the base model, the evaluators.

    Kept separate so that tests can drive the protocol with toy pieces.
    """

    paragraphs: Callable[[], list[str]]
    base_model: Callable[[list[str]], tuple[Any, Any]]  # pretraining text -> (model, tokenizer)
    make_kr_items: Callable[[list[str], int, int], list[dict]] | None = None  # (paragraphs, per_paragraph, seed)
    # -> per item, the score of the true continuation minus that of the false one (right when > 0)
    score_kr: Callable[[Any, Any, list[dict], int], list[float]] | None = None
    log: Callable[[str], None] = print


def default_hooks(config: RecursiveConfig, log: Callable[[str], None] = print) -> Hooks:
    """The real pieces: the corpus by ``dataset``, the base model by ``model``, the KR-test of fortifai.krtest.

    Checks that the model can be had before anything expensive (a hub name offline fails here, at once).
    """
    from ..lm import corpus, models, pretrain
    from .. import krtest

    if config.model not in pretrain.SCRATCH_MODELS:
        models.load_tokenizer(config.model)  # raises ModelUnavailableError naming the offline choices
    if config.benchmark_data == "hub" and set(config.benchmarks) - {"hellaswag"} and not corpus.hub_reachable():
        raise ValueError(f"benchmark_data='hub' but the Hugging Face hub is unreachable: use benchmark_data='local' "
                         f"(FORTIFAI_SHARED_DATA naming a copy) for {sorted(set(config.benchmarks) - {'hellaswag'})}")

    def paragraphs() -> list[str]:
        return corpus.load_paragraphs(config.dataset, min_words=config.min_paragraph_words)

    def base_model(rest: list[str]):
        if config.model in pretrain.SCRATCH_MODELS:
            distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
            pretrain_once = pretrain.pretrain_isolated if distributed else pretrain.pretrain
            folder = pretrain_once(config.model, rest, seed=config.pretrain_seed)
            return pretrain.load_scratch(folder)
        return models.load_model(config.model, seed=config.seed)

    def make_kr_items(split: list[str], per_paragraph: int, seed: int) -> list[dict]:
        return [q.to_dict() for q in krtest.generate_questions(split, per_paragraph=per_paragraph, seed=seed)]

    return Hooks(paragraphs=paragraphs, base_model=base_model, make_kr_items=make_kr_items, score_kr=_score_kr, log=log)


def _score_kr(model, tokenizer, items: list[dict], batch_size: int) -> list[float]:
    """The KR-test's margins (:func:`fortifai.krtest.score_questions`, mean log-probability of the true continuation
    minus the false one's): the hook ``evaluation: one_pass`` reproduces in its packed pass."""
    from .. import krtest

    if not items:
        return []
    scores = krtest.score_questions(model, tokenizer, items, batch_size=batch_size)
    return [float(m) for m in scores[:, 0] - scores[:, 1]]


def _select_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_stage_model(folder: Path, log: Callable[[str], None]):
    """``(model, tokenizer)`` of a stage's saved M_i, or None when its files do not load: the folder is removed,
    and the stage that made it trains again (the same seed gives the same model on CPU)."""
    from ..lm.models import load_saved

    try:
        return load_saved(folder)
    except Exception as error:  # a damaged model.safetensors or config raises one of many types
        log(f"{folder}: the weights do not load ({type(error).__name__}): the stage that made them trains again")
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _splits(hooks: Hooks, config: RecursiveConfig) -> dict[str, Any]:
    return make_splits(hooks.paragraphs(), config.stages, config.split_paragraphs, config.heldout_paragraphs,
                       config.seed, config.pretrain_paragraphs, config.pretrain_seed)


def run(config: RecursiveConfig, run_dir: str | Path, hooks: Hooks, progress: bool = True,
        until_stage: int | None = None) -> dict[str, Any]:
    """Run (or resume) the protocol; return every stage's metrics.

    ``until_stage``: stop once that stage is finished (e.g. 0: M0 alone, to check a setting's gate before
    paying for the rest); the same command without it resumes the run there.

    Under ``torchrun``/``accelerate launch`` every process trains (the Trainer runs data-parallel); the main
    process alone writes files, regenerates and evaluates, and the others wait for it.

    Long because it is Algorithm 1's stage loop, kept in one piece so that the order of the commits is read in one place.
    """
    import torch
    from accelerate import PartialState
    from transformers import set_seed

    from ..lm.models import save_atomically

    from ..lm.precision import resolve

    config.validate()
    if config.stage_measures == "regime" and until_stage != 0:
        raise ValueError("stage_measures='regime' is a calibration at M0 (nothing regenerated to train M1 on): "
                         f"run it with until_stage=0, got until_stage={until_stage!r}")
    resolve(config.precision)  # bf16 asked of a machine without it: refused before anything is written
    state = PartialState(cpu=not torch.cuda.is_available())
    main = state.is_main_process
    directory = RunDirectory(run_dir, config, write=main)
    if directory.complete() and directory.first_unfinished() == config.stages:
        return directory.metrics()  # finished: read, never rewritten (committed runs stay as made)
    log = hooks.log if main else (lambda message: None)
    if main and not directory.data_file.is_file():
        data = _splits(hooks, config)
        del data["rest"]  # the pretraining text is rebuilt from the corpus when needed, not stored per run
        data["kr_items"] = [
            hooks.make_kr_items(split, config.kr_per_paragraph, config.seed + k) if hooks.make_kr_items else []
            for k, split in enumerate(data["splits"])
        ]
        directory.write_data(data)
    state.wait_for_everyone()
    data = directory.data()
    device = state.device if state.distributed_type != "NO" else _select_device()
    start = directory.first_unfinished()
    replay = 0  # stages below it are finished but their weights are not here: their training alone runs again
    weightless = 0 < start < config.stages and not (directory.stage(start - 1) / "model").is_dir()
    recorded = read_json(directory.train_file(start - 1)).get("precision") if weightless else None
    if weightless and recorded not in (None, resolve(config.precision)):
        log(f"{directory.path}: stages 0-{start - 1} are finished but M{start - 1}'s weights are not here, and they "
            f"were trained in {recorded}, which this machine does not train in ({resolve(config.precision)}): their "
            "training cannot be replayed; the run starts again at M0 and rewrites each stage as it finishes")
        start = 0
    elif weightless:
        # a run committed without its weights (a commit holds metrics and text only): M_{start-1} is trained
        # again from the run's own committed text, from the latest weights there are (M0's base model if none)
        replay, start = start, 1 + max((j for j in range(start - 1) if (directory.stage(j) / "model").is_dir()),
                                       default=-1)
        again = (f"stage {start} trains again on its" if start == replay - 1
                 else f"stages {start}-{replay - 1} train again on their")
        log(f"{directory.path}: stages 0-{replay - 1} are finished but M{replay - 1}'s weights are not here: "
            f"{again} committed text (no regeneration, no evaluation; replay.json compares the losses with the "
            f"recorded ones), then the run resumes at stage {replay}")
    elif start > 0:
        log(f"resuming {directory.path} at stage {start} (stages 0-{start - 1} are finished)")
    end = config.stages if until_stage is None else min(config.stages, until_stage + 1)
    i = start
    while i < end:
        stage_dir = directory.stage(i)
        set_seed(config.seed + i)
        trained = i >= replay and (stage_dir / "model").is_dir() and directory.train_file(i).is_file()
        saved = _load_stage_model(stage_dir / "model", log) if trained else None
        if trained and saved is None:
            directory.train_file(i).unlink(missing_ok=True)  # its weights are gone: the stage trains again
        trained = saved is not None
        if trained:  # interrupted after training: only regeneration and evaluation rerun
            model, tokenizer = saved
            train_metrics = read_json(directory.train_file(i))
        elif i == 0:
            rest = _splits(hooks, config)["rest"]
            with state.main_process_first():  # a scratch model is pretrained once, by the main process
                model, tokenizer = hooks.base_model(rest)
        else:
            previous = _load_stage_model(directory.stage(i - 1) / "model", log)
            if previous is None:  # M_{i-1} is damaged: stage i-1 trains again first
                i -= 1
                continue
            model, tokenizer = previous
        model.to(device)
        # the text of each split this stage trains on: real for the newest split, generated for the others (real
        # for every split in the control arm, regenerate=False)
        current = {
            k: data["splits"][k] if j == 0 or not config.regenerate
            else directory.generated(i - 1)[str(k)]
            for k, j in training_schedule(i)
        }
        if not trained:
            checkpoint = resumable_checkpoint(stage_dir / "trainer", log)  # what train_stage will resume from
            if checkpoint:
                log(f"resuming stage {i} from the Trainer's {Path(checkpoint).name}")
            texts = [p for k in sorted(current) for p in current[k]]
            real_fraction = 1.0 if not config.regenerate else _words(data["splits"][i]) / _words(texts)
            log(f"stage {i}: training {config.label()} on splits {sorted(current)} ({real_fraction:.0%} real words)")
            documents = split_documents([current[k] for k in sorted(current)], config.paragraph_separator)
            heldout = split_documents([data["heldout"]], config.paragraph_separator)
            train_metrics = train_stage(model, tokenizer, documents, heldout, config, stage_dir / "trainer", progress)
            train_metrics["real_fraction"] = real_fraction
            if main:
                save_atomically(model, tokenizer, stage_dir / "model")
                if i < replay:  # the stage's committed files stay as they were measured
                    write_json(directory.replay_file(i), replay_record(directory.train_file(i), train_metrics))
                    if i > 0:
                        shutil.rmtree(directory.stage(i - 1) / "model", ignore_errors=True)
                else:
                    write_json(directory.train_file(i), train_metrics)
                shutil.rmtree(stage_dir / "trainer", ignore_errors=True)
        if main and i < replay:
            log(f"stage {i} replayed: " + directory.replay_summary(i))
        elif main:
            load_base = (lambda: hooks.base_model(_splits(hooks, config)["rest"])) if i == 0 else None
            _finish_stage(i, model, tokenizer, current=current, data=data, train_metrics=train_metrics,
                          config=config, directory=directory, hooks=hooks, progress=progress, load_base=load_base)
            log(_summary(directory.stage_metrics(i)))
            loss = train_metrics.get("train_loss")
            if loss is None or not math.isfinite(loss):  # the stage is kept as it was measured; nothing follows it
                raise NonFiniteLossError(f"{directory.path}: stage {i}'s training loss is {loss} (not finite): the run "
                                         f"stops after stage {i}, which is kept; lower learning_rate or use precision "
                                         "fp32 and run it again in another folder")
        state.wait_for_everyone()
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        i += 1
    stages = [directory.stage_metrics(i) for i in range(end)]
    result = {"params": dataclasses.asdict(config), "label": config.label(), "stages": stages}
    if replays := directory.replays():
        result["replays"] = replays
    if end < config.stages:
        return result
    if main:
        if not config.keep_checkpoints:
            shutil.rmtree(directory.stage(config.stages - 1) / "model", ignore_errors=True)
        write_json(directory.metrics_file, result)
    state.wait_for_everyone()
    return result


def _words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _finish_stage(i, model, tokenizer, *, current, data, train_metrics, config, directory, hooks, progress,
                  load_base=None) -> None:
    """Regenerate the splits M_i trained on, evaluate M_i, and mark stage i finished."""
    started = time.perf_counter()
    from .instruments.fidelity import stage_fidelity

    generated, generation_stats = {}, {}
    # the control arm trains on no regenerated text: it regenerates split 0 alone (from its real text), for the
    # same evaluations as the recursive arm; a calibration run (stage_measures "regime") regenerates nothing
    only_split0 = not config.regenerate or (i == config.stages - 1 and config.last_stage_regenerates == "split0")
    regenerated = [] if config.stage_measures == "regime" else sorted(current)[:1] if only_split0 else sorted(current)
    for k in regenerated:
        generated[str(k)], generation_stats[str(k)] = regenerate(model, tokenizer, current[k], config, progress)
    write_json(directory.generated_file(i), generated)
    own = generated.get(str(i), generated.get("0"))
    kr, real_nll, confidence = _score(model, tokenizer, data, own, i, config, hooks, load_base if i == 0 else None)
    previous = directory.generated(i - 1) if i > 0 and config.regenerate else None
    metrics = dict(stage=i, trained_on=training_schedule(i), train=train_metrics, generation=generation_stats, kr=kr,
                   real_nll=real_nll, confidence=confidence,
                   regeneration_fidelity=stage_fidelity(i, generated, previous, data))
    if i == 0 and kr:  # M0 on the splits it has not trained on: the measured chance of the KR-test
        from ..krtest import kr_chance

        metrics["kr_chance"] = kr_chance(data["kr_items"], kr, unseen=range(1, len(data["kr_items"])))
    if config.benchmarks:
        from .instruments.benchmarks import run_benchmarks

        metrics["benchmarks"] = run_benchmarks(model, tokenizer, tasks=list(config.benchmarks), data=config.benchmark_data,
                                               limit=config.benchmark_limit, batch_size=config.eval_batch_size,
                                               seed=config.seed)
    metrics["finish_seconds"] = time.perf_counter() - started  # regeneration and every evaluation of M_i
    metrics["git_commit"] = git_commit()  # the code that regenerated and scored M_i (a resume may change it)
    write_json(directory.stage_metrics_file(i), metrics)  # the stage is finished from here on
    if i > 0 and not config.keep_checkpoints:
        shutil.rmtree(directory.stage(i - 1) / "model", ignore_errors=True)


def _score(model, tokenizer, data, own: list[str], i: int, config, hooks, load_base=None):
    """M_i's KR answers per split, its NLL of real text per paragraph (split 0's originals, never their
    regeneration, and the held-out ones) and its confidence profile (Fig. 1) on the real split it trained on, on
    held-out text and on its own regeneration ``own`` (None: nothing regenerated); at stage 0 also the base model's NLL and profile. One packed
    pass per model with ``evaluation: one_pass`` (:mod:`.instruments.onepass`), else each measure apart."""
    from .instruments import onepass
    from .instruments.divergence import confidence_profile, profile_of
    from .instruments.likelihood import paragraph_nll

    real = {"split0": data["splits"][0], "heldout": data["heldout"]}
    texts = {"trained": data["splits"][i], "unseen": data["heldout"]}
    if own is not None:
        texts["generated"] = own
    nll_length = max(config.context_tokens, config.block_size)
    models = {"model": model}
    if load_base is not None:
        models["base"] = load_base()[0].to(next(model.parameters()).device)
    one_pass = (config.evaluation == "one_pass" and hooks.score_kr is _score_kr
                and onepass.supported(model, max(nll_length, config.block_size)))
    kr, real_nll, confidence = {}, {}, {}
    for name, scored in models.items():
        items = data["kr_items"] if name == "model" and hooks.score_kr is not None else []
        if one_pass:
            margins, real_nll[name], probabilities = onepass.score_stage(
                scored, tokenizer, items, real, nll_length, texts, config.block_size, config.eval_batch_size)
            confidence[name] = profile_of(probabilities)
        else:
            margins = [hooks.score_kr(scored, tokenizer, split_items, config.eval_batch_size) for split_items in items]
            real_nll[name] = {key: paragraph_nll(scored, tokenizer, paragraphs, batch_size=config.eval_batch_size,
                                                 max_length=nll_length) for key, paragraphs in real.items()}
            confidence[name] = confidence_profile(scored, tokenizer, texts, config.eval_batch_size, config.block_size)
        for k, margin in enumerate(margins):
            correct = [float(m) > 0 for m in margin]
            kr[str(k)] = dict(accuracy=sum(correct) / len(correct) if correct else None, n=len(correct),
                              correct=correct, margin=[float(m) for m in margin])
    return kr, real_nll, confidence


class NonFiniteLossError(RuntimeError):
    """A stage trained to a loss that is nan or inf: the run stops after committing it."""


def _summary(metrics: dict) -> str:
    kr = metrics["kr"].get("0", {}).get("accuracy")
    heldout = metrics["train"].get("heldout_loss")
    return (f"stage {metrics['stage']}: held-out CE " + (f"{heldout:.3f}" if heldout is not None else "not finite")
            + (f", KR split 0 {kr:.3f}" if kr is not None else ""))


