"""The README's code runs as written: the "TCE in your own training" block, with its tiny random Llama."""

import math
import re


def readme_block(repo, heading: str) -> str:
    text = (repo / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"expected one python block under '## {heading}', found {len(blocks)}"
    return blocks[0]


def test_tce_in_your_own_training_runs_as_written(repo, tmp_path, monkeypatch):
    code = readme_block(repo, "TCE in your own training")
    monkeypatch.chdir(tmp_path)  # the Trainer's output folder lands here
    namespace = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert math.isfinite(float(namespace["loss"])) and float(namespace["loss"]) > 0
    trainer = namespace["trainer"]
    assert trainer.state.global_step == namespace["args"].max_steps
    losses = [entry["train_loss"] for entry in trainer.state.log_history if "train_loss" in entry]
    assert losses and math.isfinite(losses[-1])
    # the Trainer's loss was fortifai's: it keeps the masked fraction of its last call (None before any call)
    assert 0 <= float(trainer.compute_loss_func.masked_fraction) <= 1
