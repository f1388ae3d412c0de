"""The recursive protocol (Algorithm 1): schedule, splits, regeneration, resume, refusal, offline errors."""

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fortifai import recursive
from fortifai.lm import pretrain
from fortifai.recursive import sweep
from fortifai.recursive.protocol import without_timings
from fortifai.results import git_commit

REPO = Path(__file__).resolve().parent.parent
WORDS = ("river city king army north south church river music album band season game team school war "
         "village station bridge river empire island party election century museum").split()


def toy_paragraphs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sentences = [
            f"The {rng.choice(WORDS)} of Place{i} was built in {rng.randint(1500, 2000)} by Person{rng.randint(0, 50)}."
            for _ in range(rng.randint(3, 6))
        ]
        out.append(" ".join(sentences))
    return out


TOY = dict(model="scratch-llama-tiny", stages=3, split_paragraphs=3, heldout_paragraphs=2, epochs=1,
           learning_rate=1e-3, batch_size=4, micro_batch_size=4, block_size=32, context_tokens=32, new_tokens=8,
           num_beams=2, generation_batch_size=64, kr_per_paragraph=1, eval_batch_size=16)


def toy_hooks(fail_at_stage: int | None = None):
    """Toy corpus, the tiny scratch model, a KR 'test' that checks nothing of the model's knowledge but
    exercises the scoring path deterministically (higher log-prob of the first of two words)."""
    import torch

    def base_model(rest):
        return pretrain.load_scratch(pretrain.pretrain("scratch-llama-tiny", rest[:40], progress=False))

    def make_items(split, per, seed):
        return [{"context": p[:40], "true": " river", "false": " city", "location": j} for j, p in enumerate(split)]

    def score(model, tokenizer, items, batch_size):
        # called once per split (TOY["stages"] splits) and stage: interrupt the first call of a stage
        if fail_at_stage is not None and getattr(score, "calls", 0) == fail_at_stage * TOY["stages"]:
            raise KeyboardInterrupt("simulated interruption")
        score.calls = getattr(score, "calls", 0) + 1
        out = []
        for item in items:
            ids = tokenizer(item["context"], return_tensors="pt")["input_ids"]
            with torch.no_grad():
                logits = model(ids).logits[0, -1]
            a, b = (tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (item["true"], item["false"]))
            out.append(float(logits[a] - logits[b]))
        return out

    return recursive.Hooks(paragraphs=lambda: toy_paragraphs(60), base_model=base_model, make_kr_items=make_items,
                           score_kr=score, log=lambda m: None)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FORTIFAI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_schedule_trains_on_every_split_at_its_generation():
    assert recursive.training_schedule(0) == [(0, 0)]
    assert recursive.training_schedule(3) == [(0, 3), (1, 2), (2, 1), (3, 0)]
    # the newest split is always real, split 0 always the most regenerated
    for i in range(6):
        schedule = recursive.training_schedule(i)
        assert schedule[-1] == (i, 0) and schedule[0] == (0, i) and len(schedule) == i + 1


def test_splits_are_disjoint_equal_and_leave_the_rest():
    paragraphs = toy_paragraphs(100)
    data = recursive.make_splits(paragraphs, n_splits=6, per_split=10, heldout=5, seed=1)
    chunks = data["splits"] + [data["heldout"], data["rest"]]
    assert [len(s) for s in data["splits"]] == [10] * 6 and len(data["heldout"]) == 5
    flat = [p for chunk in chunks for p in chunk]
    assert sorted(flat) == sorted(paragraphs) and len(set(flat)) == len(flat)
    words = [sum(len(p.split()) for p in s) for s in data["splits"]]
    assert max(words) / min(words) < 1.15  # round-robin over length-sorted paragraphs balances sizes
    assert recursive.make_splits(paragraphs, 6, 10, 5, seed=1) == data


def test_seeds_share_the_pretraining_text_and_never_train_on_it():
    paragraphs = toy_paragraphs(200)
    runs = [recursive.make_splits(paragraphs, 6, 10, 5, seed=s, pretrain_paragraphs=80) for s in (0, 1, 2)]
    assert runs[0]["rest"] == runs[1]["rest"] == runs[2]["rest"] and len(runs[0]["rest"]) == 80
    assert runs[0]["splits"] != runs[1]["splits"]  # the seed draws other splits ...
    for data in runs:  # ... always outside the base model's text
        assert not set(data["rest"]) & {p for chunk in data["splits"] + [data["heldout"]] for p in chunk}
    other_base = recursive.make_splits(paragraphs, 6, 10, 5, seed=0, pretrain_paragraphs=80, pretrain_seed=1)
    assert other_base["rest"] != runs[0]["rest"]


def test_splits_refuse_a_too_small_dataset():
    with pytest.raises(ValueError, match="split_paragraphs"):
        recursive.make_splits(toy_paragraphs(10), n_splits=6, per_split=2, heldout=2, seed=0)


@pytest.mark.parametrize("separator", ["blank_line", "eos"])
def test_regeneration_keeps_the_number_of_windows(separator):
    model, tokenizer = pretrain.load_scratch(pretrain.pretrain("scratch-llama-tiny", toy_paragraphs(40), progress=False))
    config = recursive.RecursiveConfig(**TOY, paragraph_separator=separator)
    texts = toy_paragraphs(3, seed=5)
    stream = tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    regenerated, stats = recursive.regenerate(model, tokenizer, texts, config, progress=False)
    assert stats["input_tokens"] == stats["output_tokens"] == len(stream)
    step = config.new_tokens
    if separator == "eos":  # windows over the whole stream
        assert stats["windows"] == len(range(step, len(stream), step))
    else:  # windows within each paragraph, the break kept: the paragraphs of the input, each as long in tokens
        lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        assert stats["windows"] == sum(len(range(0, n, step)) for n in lengths) - 1  # the split's first window kept
        assert len(regenerated) == len(texts)
        assert regenerated[0].split()[:3] == texts[0].split()[:3]  # the first new_tokens are the split's own
    assert regenerated and regenerated != texts


def test_paragraph_stream_finds_each_paragraph_in_the_joined_tokens():
    _, tokenizer = pretrain.load_scratch(pretrain.pretrain("scratch-llama-tiny", toy_paragraphs(40), progress=False))
    texts = toy_paragraphs(4, seed=3)
    stream, segments = recursive.engine.paragraph_stream(tokenizer, texts)
    assert stream == tokenizer("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode(stream[a:b]) for a, b in segments] == texts
    assert all(tokenizer.decode(stream[b:a]).strip() == "" for (_, b), (a, _) in zip(segments, segments[1:]))


@pytest.mark.parametrize(
    "field, value, message",
    [("loss", "mse", "loss must be one of"), ("gamma", -0.5, "gamma for loss='tce'"), ("stages", 1, "stages must be"),
     ("batch_size", 10, "multiple of micro_batch_size"), ("epochs", 0, "epochs must be a positive integer")],
)
def test_bad_parameters_are_named(field, value, message):
    params = {**TOY, "loss": "tce", field: value}
    with pytest.raises(ValueError, match=message):
        recursive.RecursiveConfig.from_dict(params)


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="unknown recursive-run parameters"):
        recursive.RecursiveConfig.from_dict({"lr": 1.0})


def test_after_bf16_training_the_model_evaluates_in_fp32_as_a_reloaded_copy_does(tmp_path):
    """Training under bf16 autocast leaves no autocast behind: the trained model's logits are those of a fresh fp32
    copy of its weights (what a run resumed after the stage's training loads), so regeneration and every
    evaluation do not depend on whether the process was interrupted."""
    import copy

    import torch

    model, tokenizer = pretrain.load_scratch(pretrain.pretrain("scratch-llama-tiny", toy_paragraphs(40), progress=False))
    config = recursive.RecursiveConfig(**{**TOY, "epochs": 1, "precision": "bf16"})
    documents = recursive.split_documents([toy_paragraphs(6, seed=3)], config.paragraph_separator)
    recursive.train_stage(model, tokenizer, documents, documents, config, tmp_path / "trainer", progress=False)
    assert model.forward.__func__ is type(model).forward  # the class's own, with its decorators
    reloaded = copy.deepcopy(model)
    reloaded.load_state_dict(model.state_dict())
    ids = torch.tensor([tokenizer(documents[0])["input_ids"][:48]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)
        assert isinstance(model(input_ids=ids, return_dict=False), tuple)


def test_resume_after_interruption_gives_identical_metrics(tmp_path):
    config = recursive.RecursiveConfig(**TOY, loss="tce", gamma=0.9)
    reference = recursive.run(config, tmp_path / "reference", toy_hooks(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        recursive.run(config, tmp_path / "resumed", toy_hooks(fail_at_stage=1), progress=False)
    assert (tmp_path / "resumed" / "stage_0" / "metrics.json").is_file()
    assert not (tmp_path / "resumed" / "stage_1" / "metrics.json").is_file()
    resumed = recursive.run(config, tmp_path / "resumed", toy_hooks(), progress=False)

    def comparable(result):
        return [{k: v for k, v in without_timings(stage).items() if k not in ("train", "generation")} | {
            "heldout_loss": stage["train"]["heldout_loss"], "train_loss": stage["train"]["train_loss"]}
            for stage in result["stages"]]

    assert comparable(resumed) == comparable(reference)
    for i in range(config.stages):
        assert (json.loads((tmp_path / "resumed" / f"stage_{i}" / "generated.json").read_text())
                == json.loads((tmp_path / "reference" / f"stage_{i}" / "generated.json").read_text()))
    # only what resuming needs is kept: no model of a finished run
    assert not list((tmp_path / "resumed").glob("stage_*/model"))


def test_sigkill_inside_a_stage_then_the_same_command_gives_identical_metrics(tmp_path):
    # scripts/kill_resume_check.py: a reference run, and a run killed (SIGKILL) right after stage 1's first
    # Trainer checkpoint, then restarted; it must resume inside stage 1 and end with the same metrics.json
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "kill_resume_check.py"), "-f", str(REPO / "presets/llm_recursive/smoke.yaml"),
         "-p", "method", "ce", "-p", "epochs", "5", "--kill-stage", "1", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming stage 1 from the Trainer's checkpoint-" in done.stdout
    assert "metrics.json without timings: identical" in done.stdout


def test_other_parameters_into_the_same_run_directory_are_refused(tmp_path):
    recursive.RunDirectory(tmp_path, recursive.RecursiveConfig(**TOY))
    with pytest.raises(ValueError, match="holds a run with other parameters.*epochs: 1 -> 2"):
        recursive.RunDirectory(tmp_path, recursive.RecursiveConfig(**{**TOY, "epochs": 2}))


def test_hub_model_offline_fails_fast_with_the_choices(tmp_path):
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fortifai.recursive", "-f", str(REPO / "presets/llm_recursive/smoke.yaml"),
         "-p", "model", "meta-llama/Llama-3.2-1B", "-o", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "meta-llama/Llama-3.2-1B" in proc.stderr and "smollm2-135m" in proc.stderr
    assert time.perf_counter() - started < 10


def test_time_to_failure_interpolates():
    assert recursive.time_to_failure([0.8, 0.7]) == pytest.approx(0.5)
    assert recursive.time_to_failure([0.9, 0.8, 0.76, 0.74]) == pytest.approx(2.5)
    assert recursive.time_to_failure([0.7, 0.9]) == 0.0
    assert recursive.time_to_failure([0.8, 0.9]) == float("inf")


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_two_processes_run_the_smoke_protocol(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    preset = tmp_path / "toy.yaml"
    preset.write_text("\n".join(f"{k}: {v}" for k, v in {**TOY, "stages": 2, "pretrain_paragraphs": 150}.items()))
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", "-m", "fortifai.recursive",
         "-f", str(preset), "-o", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [s["stage"] for s in result["stages"]] == [0, 1]


@pytest.mark.parametrize("tier", sweep.tiers())
def test_every_preset_plans_valid_runs(tier):
    runs = sweep.plan(sweep.read_preset(tier))  # every (method, seed) checked, or one ValueError naming the field
    assert runs and len({run.folder for run in runs}) == len(runs)
    assert all(run.config.seed == run.seed and run.config.method() == run.method for run in runs)


def test_the_book_default_preset_names_the_committed_runs():
    # the chapter runs the cpu tier by default: a change to presets/llm_recursive/cpu.yaml that changes a run's
    # fingerprint would make `make book` recompute every run instead of reading the committed ones
    runs = sweep.plan(sweep.read_preset("cpu"))
    assert len(runs) == 12 and all((run.folder / "metrics.json").is_file() for run in runs)


@pytest.mark.parametrize("gamma, low, high", [(1.0, 0.0, 0.0), (1e-6, 0.99, 1.0)])
def test_masked_fraction_at_the_ends_of_gamma(tmp_path, gamma, low, high):
    """TCE with gamma = 1 masks nothing (p_t <= 1 always); with gamma = 1e-6 it masks every token a model of a
    few hundred words gives more than a millionth, i.e. nearly all: the engine's record follows the loss."""
    config = recursive.RecursiveConfig(**TOY, loss="tce", gamma=gamma)
    stage0 = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False, until_stage=0)["stages"][0]
    assert low <= stage0["train"]["masked_fraction_mean"] <= high


def test_until_stage_stops_after_m0_and_the_same_run_goes_on(tmp_path):
    config = recursive.RecursiveConfig(**TOY, loss="tce", gamma=0.9, last_stage_regenerates="split0")
    first = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False, until_stage=0)
    assert [s["stage"] for s in first["stages"]] == [0] and not (tmp_path / "run" / "metrics.json").exists()
    stage0 = first["stages"][0]
    # the instruments: masking per epoch over every batch, fidelity of each regenerated split, KR chance at M0
    assert len(stage0["train"]["masked_fraction_by_epoch"]) == TOY["epochs"]
    # the loss's own count of masked tokens, against the monitor's separate count of p_t > 0.9 (one epoch)
    assert stage0["train"]["masked_fraction_mean"] == pytest.approx(
        stage0["train"]["confident_fraction_by_epoch"]["0.9"][0], abs=1e-9)
    assert set(stage0["regeneration_fidelity"]) == {"0"} and "ngram4_precision" in stage0["regeneration_fidelity"]["0"]
    assert stage0["kr_chance"]["splits"] == list(range(1, TOY["stages"]))
    full = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    assert len(full["stages"]) == TOY["stages"] and full["stages"][0] == stage0
    last = json.loads((tmp_path / "run" / f"stage_{TOY['stages'] - 1}" / "generated.json").read_text())
    assert list(last) == ["0"]  # the last model regenerates only the split failure is measured on
    # the seed's data are stored once, in the folder of a lone run (runs named by the sweep share their runs
    # folder's: tests/test_reliability.py), and named by the run's data.json
    assert json.loads((tmp_path / "run" / "data.json").read_text())["data_file"].startswith("_data/")
    assert recursive.read_run_data(tmp_path / "run")["splits"]


def test_a_finished_run_is_read_back_not_rewritten(tmp_path):
    config = recursive.RecursiveConfig(**{**TOY, "stages": 2}, loss="ce")
    first = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    metrics = tmp_path / "run" / "metrics.json"
    before = (metrics.read_text(), metrics.stat().st_mtime_ns)
    again = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    assert again == first and (metrics.read_text(), metrics.stat().st_mtime_ns) == before


def test_a_stage_records_margins_real_text_likelihood_diversity_and_paragraphs(tmp_path):
    config = recursive.RecursiveConfig(**{**TOY, "stages": 2}, loss="ce")
    result = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False)
    data = recursive.read_run_data(tmp_path / "run")
    for stage in result["stages"]:
        for key, kr in stage["kr"].items():
            assert len(kr["margin"]) == len(kr["correct"]) == kr["n"] == len(data["kr_items"][int(key)])
            assert kr["correct"] == [m > 0 for m in kr["margin"]]
        nll = stage["real_nll"]["model"]
        assert len(nll["split0"]) == len(data["splits"][0]) and len(nll["heldout"]) == len(data["heldout"])
        assert all(0 < v < 20 for v in nll["split0"] + nll["heldout"])
        fidelity = stage["regeneration_fidelity"]["0"]
        source = data["splits"][0] if stage["stage"] == 0 else previous["0"]  # split 0 from the generation before
        assert fidelity["source_paragraphs"] == len(source) and fidelity["paragraphs"] >= 1
        assert 0 < fidelity["distinct_1"] <= fidelity["distinct_2"] <= fidelity["distinct_3"] <= 1
        previous = json.loads((tmp_path / "run" / f"stage_{stage['stage']}" / "generated.json").read_text())
        # the wall time of regeneration and evaluation, which includes the regeneration's own
        assert stage["finish_seconds"] >= sum(g["seconds"] for g in stage["generation"].values()) > 0
        assert stage["git_commit"] == git_commit()  # the code that finished the stage
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["git_commit"] == git_commit()
    # M0 trained on split 0: its originals are likelier under M0 than under the base model, which stage 0 also scores
    stage0 = result["stages"][0]["real_nll"]
    assert sum(stage0["model"]["split0"]) < sum(stage0["base"]["split0"])
    assert "base" not in result["stages"][1]["real_nll"]


def test_the_control_arm_trains_every_stage_on_real_splits(tmp_path):
    config = recursive.RecursiveConfig(**TOY, loss="ce", regenerate=False)
    recursive.run(config, tmp_path / "control", toy_hooks(), progress=False)
    recursive.run(recursive.RecursiveConfig(**TOY, loss="ce"), tmp_path / "recursive", toy_hooks(), progress=False)
    for i in range(TOY["stages"]):
        control = json.loads((tmp_path / "control" / f"stage_{i}" / "metrics.json").read_text())
        other = json.loads((tmp_path / "recursive" / f"stage_{i}" / "metrics.json").read_text())
        assert control["train"]["real_fraction"] == 1.0 and control["trained_on"] == other["trained_on"]
        # split 0 alone is regenerated, from its real text, for the same evaluations
        assert list(control["regeneration_fidelity"]) == ["0"]
        fidelity = control["regeneration_fidelity"]["0"]
        assert fidelity["ngram4_precision"] == fidelity["ngram4_precision_original"]
        assert set(control["kr"]) == set(other["kr"])
    # the same seed's splits and questions: the arms are paired
    assert recursive.read_run_data(tmp_path / "control") == recursive.read_run_data(tmp_path / "recursive")


@pytest.mark.parametrize("separator, kept", [("blank_line", 0.8), ("eos", None)])
def test_a_model_trained_with_blank_line_packing_reproduces_the_paragraph_breaks(separator, kept, tmp_path):
    """Training and regeneration share the separator: a model trained on a split packed with blank lines
    regenerates its paragraphs; packed with EOS between paragraphs it never sees a blank line and writes one block.
    Each toy paragraph ends with a closing sentence, so that where a paragraph ends can be learnt from the words."""
    import torch

    model, tokenizer = pretrain.load_scratch(pretrain.pretrain("scratch-llama-tiny", toy_paragraphs(40), progress=False))
    split = [f"{p} That was all of Place{i}." for i, p in enumerate(toy_paragraphs(6, seed=9))]
    config = recursive.RecursiveConfig(**{**TOY, "epochs": 60, "learning_rate": 5e-3, "batch_size": 4,
                                          "micro_batch_size": 4, "block_size": 64, "context_tokens": 32,
                                          "new_tokens": 8, "num_beams": 1, "repetition_penalty": 1.0,
                                          "checkpoint_selection": "last", "paragraph_separator": separator})
    torch.manual_seed(0)
    documents = recursive.split_documents([split], separator)
    assert len(documents) == (1 if separator == "blank_line" else len(split))
    recursive.train_stage(model, tokenizer, documents, documents, config, tmp_path / "trainer", progress=False)
    regenerated, _ = recursive.regenerate(model, tokenizer, split, config, progress=False)
    if kept is None:
        assert len(regenerated) == 1
    else:
        assert kept * len(split) <= len(regenerated) <= len(split) + 1, regenerated


@pytest.mark.parametrize("method", ["ce", "rmask-0.9"])
def test_a_run_without_its_weights_replays_their_training_and_ends_as_an_uninterrupted_one(method, tmp_path):
    """A partial run committed without weights (the next session's checkout): M1 is trained again from the
    committed text (stage 0 then stage 1, training alone), each replayed loss equals the recorded one, the finished
    stages' files are left as they were, and the run ends with the metrics of a run never interrupted. The random
    mask draws from the seeded generator: its replay is identical too."""
    config = recursive.RecursiveConfig(**TOY, **recursive.parse_method(method))
    whole = recursive.run(config, tmp_path / "whole", toy_hooks(), progress=False)
    recursive.run(config, tmp_path / "copied", toy_hooks(), progress=False, until_stage=1)
    for model in (tmp_path / "copied").glob("stage_*/model"):
        shutil.rmtree(model)
    committed = {p: p.read_bytes() for p in (tmp_path / "copied").glob("stage_*/*.json")}
    messages = []
    hooks = toy_hooks()
    hooks.log = messages.append
    again = recursive.run(config, tmp_path / "copied", hooks, progress=False)
    assert any("stages 0-1 train again on their committed text" in m for m in messages), messages
    assert sum(m.startswith("stage ") and "replayed" in m and "identical" in m for m in messages) == 2, messages
    assert all(p.read_bytes() == content for p, content in committed.items())  # measured once, never rewritten
    assert set(again["replays"]) == {"0", "1"} and all(r["identical"] for r in again["replays"].values())
    assert recursive.RunFiles(tmp_path / "copied").metrics()["replays"] == again["replays"]
    strip = lambda stages: [{k: v for k, v in without_timings(s).items() if k not in ("train", "generation")}
                            for s in stages]
    assert strip(again["stages"]) == strip(whole["stages"])
    assert "replays" not in whole


def test_a_run_trained_in_another_precision_starts_again_rather_than_replay(tmp_path):
    """Weights trained in a precision this machine does not train in cannot be replayed: the run starts again at M0
    and ends with the metrics of a run never interrupted."""
    from fortifai.results import read_json, write_json

    config = recursive.RecursiveConfig(**TOY, loss="ce")
    whole = recursive.run(config, tmp_path / "whole", toy_hooks(), progress=False)
    recursive.run(config, tmp_path / "copied", toy_hooks(), progress=False, until_stage=1)
    for model in (tmp_path / "copied").glob("stage_*/model"):
        shutil.rmtree(model)
    train = tmp_path / "copied" / "stage_1" / "train.json"
    write_json(train, {**read_json(train), "precision": "a precision of another machine"})
    messages = []
    hooks = toy_hooks()
    hooks.log = messages.append
    again = recursive.run(config, tmp_path / "copied", hooks, progress=False)
    assert any("cannot be replayed; the run starts again at M0" in m for m in messages), messages
    assert "replays" not in again
    strip = lambda stages: [{k: v for k, v in without_timings(s).items() if k not in ("train", "generation")}
                            for s in stages]
    assert strip(again["stages"]) == strip(whole["stages"])


def test_a_replay_starts_from_the_latest_weights_there_are(tmp_path):
    """M0's weights there, M1's not (a replay stopped after stage 0): stage 1 alone trains again, from M0."""
    config = recursive.RecursiveConfig(**TOY, loss="ce")
    run = tmp_path / "run"
    recursive.run(config, run, toy_hooks(), progress=False, until_stage=0)
    shutil.copytree(run / "stage_0" / "model", tmp_path / "m0")
    recursive.run(config, run, toy_hooks(), progress=False, until_stage=1)
    shutil.rmtree(run / "stage_1" / "model")
    shutil.copytree(tmp_path / "m0", run / "stage_0" / "model")
    messages = []
    hooks = toy_hooks()
    hooks.log = messages.append
    recursive.run(config, run, hooks, progress=False, until_stage=1)
    assert any("stage 1 trains again on its committed text" in m for m in messages), messages
    assert set(recursive.RunFiles(run).replays()) == {"1"} and recursive.RunFiles(run).replays()["1"]["identical"]
    assert (run / "stage_1" / "model").is_dir() and not (run / "stage_0" / "model").exists()
