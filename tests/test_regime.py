"""The regime criteria (fortifai.claims.regime) on values computed by hand, and a calibration run at M0 on the
toy pieces of test_recursive."""

import math

import pytest

from fortifai import recursive
from fortifai.claims import regime
from fortifai.results import read_json, write_json
from test_recursive import TOY, toy_hooks


def values(**overrides):
    out = dict(heldout_damage=0.05, kr_split0=0.85, kr_chance=0.6, kr_gain=0.25, kr_questions=120,
               projected_minutes=90.0, masked_fraction=0.2)
    out.update(overrides)
    if "kr_split0" in overrides or "kr_chance" in overrides:
        out["kr_gain"] = out["kr_split0"] - out["kr_chance"]
    return out


@pytest.mark.parametrize("change, failed", [
    (dict(), set()),
    (dict(heldout_damage=0.11), {"a"}),
    (dict(kr_split0=0.74), {"b"}),          # 14 points above chance
    (dict(kr_split0=0.92), {"b"}),          # above 90%
    (dict(kr_questions=99), {"d"}),
    (dict(projected_minutes=121.0), {"e"}),
    (dict(heldout_damage=float("nan")), {"a"}),  # not measured: never a pass
])
def test_each_criterion_on_its_threshold(change, failed):
    verdicts = regime.passes(values(**change), regime.CE_CRITERIA)
    assert {name for name, ok in verdicts.items() if not ok} == failed


def test_masking_criterion_reads_the_tce_run():
    assert regime.passes(values(masked_fraction=0.05), ("c",)) == {"c": True}
    assert regime.passes(values(masked_fraction=0.049), ("c",)) == {"c": False}


def point(split, loss, seed, **change):
    v = values(**change)
    names = ("c",) if loss != "ce" else regime.CE_CRITERIA
    return dict(split_paragraphs=split, epochs=1, learning_rate=1e-4, loss=loss, seed=seed, **v,
                passes=regime.passes(v, names))


def test_choice_takes_the_largest_gain_then_the_shorter_run():
    points = [point(48, "ce", s, kr_split0=0.85, projected_minutes=100.0) for s in (0, 1)]
    points += [point(96, "ce", s, kr_split0=0.86, projected_minutes=60.0) for s in (0, 1)]   # tied gain, faster
    points += [point(12, "ce", s, kr_split0=0.89, kr_questions=30) for s in (0, 1)]          # fails (d)
    points += [point(p, "tce-0.9", s) for p in (48, 96, 12) for s in (0, 1)]
    choice = regime.choose(points)
    assert choice["rule"] == "passes" and choice["point"]["split_paragraphs"] == 96


def test_choice_without_a_passing_point_is_the_nearest():
    points = [point(48, "ce", s, heldout_damage=0.30) for s in (0, 1)]  # shortfall (0.3 - 0.1) / 0.1 = 2
    points += [point(96, "ce", s, heldout_damage=0.15) for s in (0, 1)]  # 0.5
    points += [point(p, "tce-0.9", s) for p in (48, 96) for s in (0, 1)]
    choice = regime.choose(points)
    assert choice["rule"] == "nearest" and choice["point"]["split_paragraphs"] == 96
    assert choice["distance"] == pytest.approx(0.5)
    # no TCE run (it runs only where CE passes (a) and (b)): (c) counts as a full shortfall
    assert regime.choose([point(48, "ce", 0)])["point"]["distance"] == regime.UNRUN_SHORTFALL


def test_grid_spans_the_issue_ranges():
    assert len(regime.GRID) >= 9
    for key, values_ in (("split_paragraphs", regime.SPLIT_PARAGRAPHS), ("epochs", regime.EPOCHS),
                         ("learning_rate", regime.LEARNING_RATES)):
        assert {p[key] for p in regime.GRID} == set(values_)
    assert min(regime.SPLIT_PARAGRAPHS) == 12 and max(regime.SPLIT_PARAGRAPHS) >= 96
    assert (min(regime.EPOCHS), max(regime.EPOCHS)) == (1, 4)
    assert (min(regime.LEARNING_RATES), max(regime.LEARNING_RATES)) == (2e-5, 1e-4)


@pytest.mark.parametrize("accuracy, margin, control, verdict", [
    ([0.9, 0.8], [0.5, 0.45], ([0.9, 0.9], [0.5, 0.5]), "go"),     # accuracy fell 10 points, control none
    ([0.9, 0.85], [0.5, 0.35], ([0.9, 0.9], [0.5, 0.5]), "go"),    # margin fell 0.15
    ([0.9, 0.85], [0.5, 0.45], ([0.9, 0.9], [0.5, 0.5]), "no-go"),
    ([0.9, 0.8], [0.5, 0.45], ([0.9, 0.78], [0.5, 0.5]), "no-go"),  # the control arm fell as far
])
def test_pilot_rule(accuracy, margin, control, verdict):
    runs = [dict(accuracy=accuracy, margin=margin)] * 2
    controls = [dict(accuracy=control[0], margin=control[1])]
    assert regime.pilot_verdict(runs, controls)["verdict"] == verdict


def test_projection_adds_each_stage():
    rates = dict(training_tokens_per_s=100.0, regeneration_tokens_per_s=10.0, evaluation_tokens_per_s=1000.0)
    # two stages of a 1000-token split, one epoch, 500 held-out tokens
    expected = (1000 / 100 + 1000 / 10 + 3500 / 1000) + (2000 / 100 + 1000 / 10 + 3500 / 1000)
    assert regime.projected_minutes(1000, 500, 1, rates, stages=2) == pytest.approx(expected / 60)


def test_a_regime_run_trains_m0_and_regenerates_nothing(tmp_path):
    config = recursive.RecursiveConfig(**{**TOY, "stages": 2, "stage_measures": "regime"})
    stage0 = recursive.run(config, tmp_path / "run", toy_hooks(), progress=False, until_stage=0)["stages"][0]
    assert stage0["generation"] == {} and stage0["regeneration_fidelity"] == {}
    assert set(stage0["kr"]) == {"0", "1"} and "kr_chance" in stage0
    assert set(stage0["confidence"]["model"]) == {"trained", "unseen"}
    assert set(stage0["real_nll"]) == {"model", "base"}
    assert stage0["train"]["precision"] in ("fp32", "bf16")


def test_calibration_points_are_measured_and_chosen_from_their_folders(tmp_path, monkeypatch):
    """A toy calibration run read back as a choice.json point, and choice.json recomputed from the runs alone."""
    from fortifai.lm import models
    from fortifai.chapters import regime as regime_chapter
    from fortifai.experiments import calibration

    config = recursive.RecursiveConfig(**{**TOY, "stages": 2, "stage_measures": "regime"})
    folder = tmp_path / "runs" / "ce-seed0-toy"
    recursive.run(config, folder, toy_hooks(), progress=False, until_stage=0)
    tokenizer = models.load_tokenizer("smollm2-135m")
    monkeypatch.setattr(models, "load_tokenizer", lambda name: tokenizer)
    rates = dict(training_tokens_per_s=100.0, regeneration_tokens_per_s=10.0, evaluation_tokens_per_s=1000.0)
    point = calibration.measured(folder, rates)
    stage0 = read_json(folder / "stage_0" / "metrics.json")
    assert point["loss"] == "ce" and point["kr_questions"] == stage0["kr"]["0"]["n"]
    assert point["heldout_damage"] == pytest.approx(point["heldout_nll"] - point["base_heldout_nll"])
    assert set(point["passes"]) == set(regime.CE_CRITERIA)
    monkeypatch.setattr(calibration, "BENCHMARK", tmp_path / "none.json")
    choice = calibration.choose_from_runs(tmp_path / "runs", tmp_path / "choice.json")
    assert [p["run"] for p in choice["points"]] == ["ce-seed0-toy"] and choice["chosen"]["rule"] == "nearest"
    assert choice["points"][0]["projected_minutes"] is None and not choice["points"][0]["passes"]["e"]
    assert "calibration: 3 leads" in regime_chapter.regime_markdown({}, choice)
    assert "is the nearest" in regime_chapter.choice_markdown(choice)
    assert regime_chapter.calibration_figure(choice) is not None


def test_the_speed_table_reads_the_benchmark_and_projects_both_precisions():
    from fortifai.chapters import regime as regime_chapter
    from fortifai.recursive.runs import Run

    benchmark = dict(threads=1, precision="bf16", cpu_capability="AVX512", peak_gflops_fp32=100.0,
                     peak_gflops_bf16=400.0,
                     training=dict(tokens_per_s=200.0, gflops=80.0, fp32_tokens_per_s=100.0),
                     regeneration=dict(reference_tokens_per_s=10.0, tokens_per_s=25.0, speedup=2.5, gflops=50.0,
                                       flop_share=0.5, identical_windows=1.0, windows=40),
                     evaluation=dict(reference_seconds=60.0, seconds=30.0, speedup=2.0, text_tokens=3000,
                                     max_abs_difference=dict(kr_margin=1e-6, nll=1e-4, probability=1e-5)))
    run = Run(folder=None, params=dict(epochs=2, learning_rate=1e-4, batch_size=4, split_paragraphs=12),
              stages=[dict(train=dict(train_tokens=1000, train_blocks=8), kr={})])
    text = regime_chapter.speed_markdown(benchmark, [run])
    rates = regime.benchmark_rates(benchmark)
    bf16 = regime.projected_minutes(4000, 1000 / 12 * 16, 2, rates)
    fp32 = regime.projected_minutes(4000, 1000 / 12 * 16, 2, regime.benchmark_rates(benchmark, "fp32"))
    assert f"{bf16:.0f} min training in bf16" in text and f"{fp32:.0f} min training in fp32" in text and fp32 > bf16


def test_the_pilot_ladder_changes_decoding_then_halves_the_epochs():
    from fortifai.experiments import calibration

    point = dict(split_paragraphs=48, epochs=2, learning_rate=1e-4)
    first = calibration.pilot_config(point, 0)
    assert (first.stages, first.num_beams, first.do_sample, first.epochs) == (6, 5, False, 2)
    assert first.stage_measures == "all" and first.regeneration_context == "paragraph"
    sampled = calibration.pilot_config(point, 0, rung=1)
    assert (sampled.do_sample, sampled.num_beams, sampled.temperature, sampled.epochs) == (True, 1, 1.0, 2)
    halved = calibration.pilot_config(point, 0, regenerate=False, rung=2)
    assert (halved.do_sample, halved.epochs, halved.regenerate) == (True, 1, False)


def test_a_calibration_run_another_worker_owns_is_left_to_it(tmp_path):
    import subprocess
    import sys

    from fortifai.experiments import calibration

    config = recursive.RecursiveConfig(**{**TOY, "stages": 2, "stage_measures": "regime"})
    folder = tmp_path / recursive.run_folder_name(config)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from fortifai.results import lock_run_folder; "
                               f"lock_run_folder({str(folder)!r}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        said = []
        assert calibration.run_point(config, tmp_path, log=said.append) is None
        assert said[-1].endswith("is another worker's, left to it")
    finally:
        holder.kill()
        holder.wait()
    assert not (folder / "stage_0").exists()


def test_the_v2_preset_is_the_chosen_point_on_the_pilot_s_last_rung(tmp_path):
    import yaml

    from fortifai.experiments import calibration
    from fortifai.recursive import sweep

    point = dict(split_paragraphs=48, epochs=2, learning_rate=1e-4)
    choice = dict(chosen=dict(point=point), pilot=dict(verdict=None))
    with pytest.raises(ValueError, match="waits for it"):
        calibration.v2_preset(choice)
    choice["pilot"] = dict(verdict="go", rungs=[dict(rung=0, go_by=None, verdict="no-go"),
                                                dict(rung=1, go_by="accuracy", verdict="go")])
    write_json(tmp_path / "choice.json", choice)
    path = calibration.write_v2_preset(tmp_path / "choice.json", tmp_path / "decisive-v2.yaml")
    preset = yaml.safe_load(path.read_text())
    assert preset["methods"] == ["ce", "tce-0.9", "rmask-0.9", "focal-2.0"] and preset["seeds"] == [0, 1, 2]
    assert (preset["stages"], preset["split_paragraphs"], preset["epochs"], preset["do_sample"]) == (6, 48, 2, True)
    runs = sweep.plan(preset)  # every (method, seed) of it is a valid run
    assert len(runs) == 12 and {r.config.stage_measures for r in runs} == {"all"}


def test_two_pilot_workers_share_a_rung_and_judge_it_once_every_run_is_finished(tmp_path, monkeypatch):
    """The second worker (reverse) takes the control arm first; a run the other worker holds is waited for, not
    judged unfinished; the rung's verdict is the rule's on the finished trajectories."""
    from fortifai.experiments import calibration
    from fortifai.recursive import engine
    from fortifai.results import RunFolderBusyError

    finished, ran = set(), []
    held = {"control"}  # the control run is the other worker's on the first try; it finishes while we wait

    class Files:
        def __init__(self, folder):
            self.folder = folder

        def complete(self):
            return self.folder.name in finished

    def fake_run(config, folder, hooks, progress):
        arm = "recursive" if config.regenerate else "control"
        if arm in held:
            held.discard(arm)
            finished.add(folder.name)  # the other worker finishes it
            raise RunFolderBusyError(folder)
        ran.append((arm, config.seed))
        finished.add(folder.name)

    drop = {True: dict(accuracy=[0.88, 0.76], margin=[0.1, 0.1]), False: dict(accuracy=[0.88, 0.87], margin=[0.1, 0.1])}
    monkeypatch.setattr(calibration, "RunFiles", Files)
    monkeypatch.setattr(engine, "run", fake_run)
    monkeypatch.setattr(engine, "default_hooks", lambda config, log: None)
    point = dict(split_paragraphs=48, epochs=2, learning_rate=1e-4)
    control = recursive.run_folder_name(calibration.pilot_config(point, 0, regenerate=False))
    monkeypatch.setattr(calibration, "pilot_trajectory", lambda folder: drop[folder.name != control])
    write_json(tmp_path / "choice.json", dict(chosen=dict(point=point), pilot=dict(verdict=None)))
    said = []
    pilot = calibration.run_pilot(tmp_path / "choice.json", tmp_path / "pilot", log=said.append, reverse=True,
                                  wait_s=0)
    assert ran == [("recursive", 1), ("recursive", 0)]  # reverse: control first (held), then seeds 1, 0
    assert any(line.endswith("is another worker's, left to it") for line in said)
    assert len(finished) == 3 and pilot["verdict"] == "go"  # 12 points lost against the control's 1
    assert read_json(tmp_path / "choice.json")["pilot"]["rungs"][0]["verdict"] == "go"


def test_the_pilot_section_reads_each_run_s_stages_and_states_the_verdict_with_its_drops(tmp_path):
    from fortifai.chapters import regime as regime_chapter
    from fortifai.experiments import calibration

    point = dict(split_paragraphs=48, epochs=2, learning_rate=1e-4)
    trajectories = {(True, 0): [0.88, 0.80, 0.76], (True, 1): [0.86, 0.84], (False, 0): [0.88, 0.87, 0.87]}
    for (regenerate, seed), accuracy in trajectories.items():
        folder = tmp_path / recursive.run_folder_name(calibration.pilot_config(point, seed, regenerate))
        for i, a in enumerate(accuracy):
            write_json(folder / f"stage_{i}" / "metrics.json", {"kr": {"0": {"accuracy": a, "margin": [a / 4, a / 2]}}})
    choice = dict(chosen=dict(point=point), pilot=dict(verdict=None, rule=regime.PILOT["rule"]))
    runs = regime_chapter.pilot_runs(choice, tmp_path)
    assert [(r["arm"], r["seed"], r["accuracy"]) for r in runs] == [
        ("recursive", 0, [0.88, 0.80, 0.76]), ("recursive", 1, [0.86, 0.84]), ("control", 0, [0.88, 0.87, 0.87])]
    assert runs[0]["margin"][0] == pytest.approx(0.88 * 3 / 8)
    text = regime_chapter.pilot_markdown(choice, runs)
    assert "| 0 | recursive | 0 | 88.0 80.0 76.0 |" in text and "0 of 3 runs through M5" in text
    choice["pilot"] = dict(rule=regime.PILOT["rule"], verdict="go", rungs=[dict(
        rung=0, ladder=[], **regime.pilot_verdict([dict(accuracy=[0.88, 0.76], margin=[0.2, 0.2])],
                                                  [dict(accuracy=[0.88, 0.87], margin=[0.2, 0.2])]))])
    text = regime_chapter.pilot_markdown(choice, regime_chapter.pilot_runs(choice, tmp_path))
    assert "**Rung 0** (ladder steps applied: none): **go**. From M0 to M5, CE's KR-split 0 accuracy fell by 12.0" in text
    assert "(control arm 1.0)" in text and "the go comes from the accuracy" in text
    assert regime_chapter.pilot_figure(runs) is not None and regime_chapter.pilot_figure([]) is None
