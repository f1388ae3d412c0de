"""The parameters of one recursive run (:class:`RecursiveConfig`), checked before any work, and its name."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..losses.spec import LOSS_SPECS, RECURSIVE_LOSSES, Method, check_choice


# parameters added after runs were committed, with the value those runs had: at that value they leave the runs'
# fingerprints unchanged, and a manifest without them reads as that value (not as today's default)
LEGACY = {"pretrain_seed": 0, "benchmarks": [], "benchmark_data": "hub", "benchmark_limit": None,
          "last_stage_regenerates": "all", "paragraph_separator": "eos", "regenerate": True, "precision": "fp32",
          "regeneration_context": "stream", "evaluation": "per_measure", "stage_measures": "all"}
LAST_STAGE_REGENERATES = ("all", "split0")
PARAGRAPH_SEPARATORS = ("blank_line", "eos")
PRECISIONS = ("auto", "fp32", "bf16")
REGENERATION_CONTEXTS = ("stream", "paragraph")
EVALUATIONS = ("per_measure", "one_pass")
STAGE_MEASURES = ("all", "regime")
KR_FAILURE_THRESHOLD = 0.75  # Sec. 4.5: a run has failed once KR accuracy on split 0 falls below it


@dataclass
class RecursiveConfig:
    """Every parameter of one recursive run. Presets (tiers) live in ``presets/llm_recursive/*.yaml``."""

    model: str = "scratch-llama-small"
    dataset: str = "wikipedia-offline"
    loss: str = "ce"
    gamma: float | None = None  # tce threshold (0.9) or focal exponent (2.0); None: the loss's default
    alpha: float = 1.0  # tce_dynamic: gamma = mean(p) + alpha * std(p)
    stages: int = 6  # N + 1: models M0..M_N
    split_paragraphs: int = 40  # paragraphs per real split
    heldout_paragraphs: int = 40  # real text for checkpoint selection (never trained on)
    pretrain_paragraphs: int = 4000  # scratch models: the disjoint text of their one-time pretraining
    min_paragraph_words: int = 40
    epochs: int = 10
    learning_rate: float = 2e-5
    batch_size: int = 64  # effective batch, in blocks
    micro_batch_size: int = 8
    block_size: int = 128
    context_tokens: int = 512
    new_tokens: int = 32
    num_beams: int = 5
    repetition_penalty: float = 3.0
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    generation_batch_size: int = 16
    kr_per_paragraph: int = 5
    eval_batch_size: int = 32
    # which epoch of a stage is kept: "heldout_loss" (lowest CE on held-out real text) or "last"; never the KR-test
    checkpoint_selection: str = "heldout_loss"
    seed: int = 0  # the splits, KR items, data order and decoding of a run
    pretrain_seed: int = 0  # a scratch model's pretraining text and weights: shared by runs of every seed
    # lm-eval benchmarks after every stage (Tables D2-D5): a subset of fortifai.recursive.instruments.benchmarks.TASKS, their data
    # ("hub" or "local": a copy named by FORTIFAI_SHARED_DATA) and items per task (per BLiMP phenomenon; None: all)
    benchmarks: list = field(default_factory=list)
    benchmark_data: str = "hub"
    benchmark_limit: int | None = None
    keep_checkpoints: bool = False
    # what the last model regenerates: "all" its splits (Algorithm 1), or "split0", the split failure is measured
    # on (its fidelity, KL and Table E6 at M_N); the other splits' last regeneration trains no model
    last_stage_regenerates: str = "all"
    # between the paragraphs of a split, in training and in regeneration alike: "blank_line" (a split is one
    # document, its paragraphs joined by a blank line, EOS only after it; a regenerated split keeps its paragraphs)
    # or "eos" (every paragraph a document; the first committed runs, whose regenerations lost their paragraphs)
    paragraph_separator: str = "blank_line"
    # False: the control arm, every stage trains on the real splits of its schedule (nothing regenerated is trained
    # on; split 0 is still regenerated from its real text, for the same evaluations): self-consumption's effect on a
    # seed is the recursive arm minus this arm of the same loss and seed
    regenerate: bool = True
    # "bf16": training under bfloat16 autocast (weights and optimizer state stay fp32); regeneration and every
    # evaluation stay fp32 (benchmarks/recursive.py: bf16 trains 1.46x faster on a CPU with native bf16 and
    # regenerates 0.95x; 30x slower on an AVX2 CPU without it); "auto": bf16 where fortifai.lm.precision finds it
    # natively fast (a capability check and a matmul timing at start-up), else fp32; "bf16" on a machine without
    # it is refused. Runs made before this was enforced (the decisive runs, 1edceb5) regenerated and scored the
    # real-text NLL of a stage trained in the same process under the autocast (chapter llm_results, "One model,
    # two arms")
    precision: str = "auto"
    # a regenerated window's context: "stream", the (up to) context_tokens tokens before it in the split's token
    # stream, across paragraphs (the first runs: a lead's opening continued the previous, unrelated lead); or
    # "paragraph", its own paragraph's text before it (a paragraph's first new_tokens kept, as the split's first
    # window), every window of a paragraph forked from one prefill of that paragraph (blank_line only)
    regeneration_context: str = "stream"
    # how a stage's model is scored: "per_measure" (KR-test, real-text NLL and the confidence profile each in their
    # own batched passes) or "one_pass" (every sequence of the three in one packed prefix-tree pass, a paragraph
    # shared by its NLL, its confidence windows and its KR questions; per_measure's values to float rounding)
    evaluation: str = "per_measure"
    # what a finished stage measures: "all" (regeneration, fidelity, KR, real-text NLL, confidence) or "regime" (a
    # calibration run at M0, fortifai.claims.regime: no regeneration, only what the regime criteria read: KR on
    # every split, real-text NLL of the model and the base, confidence on trained and held-out text)
    stage_measures: str = "all"

    def loss_method(self) -> Method:
        """The loss with its parameter (``gamma`` for tce and focal, ``alpha`` for tce_dynamic), defaults filled in
        from :data:`fortifai.losses.LOSS_SPECS`."""
        spec = LOSS_SPECS[check_choice("loss", self.loss, RECURSIVE_LOSSES)]
        return Method(self.loss, None if spec.main is None else getattr(self, spec.main.name))

    def loss_kwargs(self) -> dict[str, float]:
        return self.loss_method().kwargs

    def method(self) -> str:
        """The preset's name of the loss: ``ce``, ``tce-0.9``, ``focal-2.0``, ``tce_dynamic-1.0`` (see parse_method)."""
        return str(self.loss_method())

    def label(self) -> str:
        return self.loss_method().label

    def fingerprint(self) -> str:
        """8 hex digits that change with any parameter: run folders named by it are reused only when identical."""
        import hashlib

        params = dataclasses.asdict(self)
        for name, value in LEGACY.items():  # at their old value they leave the fingerprints of older runs as they were
            if params[name] == value:
                del params[name]
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]

    def validate(self) -> "RecursiveConfig":
        """Raise one ValueError naming the parameter and what is allowed, before any expensive work."""
        self.loss_method()  # the loss and its parameter, against the loss's spec
        # 0 is meaningful for these: the first seed, no length filter, all the pretraining text there is
        for name in ("seed", "pretrain_seed", "min_paragraph_words", "pretrain_paragraphs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        from ..lm.corpus import SOURCES

        if self.dataset not in SOURCES and not Path(str(self.dataset)).expanduser().is_file():
            raise ValueError(f"dataset must be one of {sorted(SOURCES)} or a path to a text file, got {self.dataset!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a scratch model, an offline model or a Hugging Face name, "
                             f"got {self.model!r}")
        positive = ("stages", "split_paragraphs", "heldout_paragraphs", "epochs", "batch_size", "micro_batch_size",
                    "block_size", "context_tokens", "new_tokens", "num_beams", "generation_batch_size",
                    "kr_per_paragraph", "eval_batch_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.stages < 2:
            raise ValueError(f"stages must be >= 2 (Algorithm 1 needs N >= 1), got {self.stages}")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size ({self.micro_batch_size})"
            )
        if self.last_stage_regenerates not in LAST_STAGE_REGENERATES:
            raise ValueError(f"last_stage_regenerates must be one of {list(LAST_STAGE_REGENERATES)}, "
                             f"got {self.last_stage_regenerates!r}")
        if self.paragraph_separator not in PARAGRAPH_SEPARATORS:
            raise ValueError(f"paragraph_separator must be one of {list(PARAGRAPH_SEPARATORS)}, "
                             f"got {self.paragraph_separator!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.regeneration_context not in REGENERATION_CONTEXTS:
            raise ValueError(f"regeneration_context must be one of {list(REGENERATION_CONTEXTS)}, "
                             f"got {self.regeneration_context!r}")
        if self.regeneration_context == "paragraph" and self.paragraph_separator != "blank_line":
            raise ValueError("regeneration_context='paragraph' needs paragraph_separator='blank_line' (a paragraph's "
                             f"tokens are found in the split's stream), got {self.paragraph_separator!r}")
        if self.stage_measures not in STAGE_MEASURES:
            raise ValueError(f"stage_measures must be one of {list(STAGE_MEASURES)}, got {self.stage_measures!r}")
        if self.evaluation not in EVALUATIONS:
            raise ValueError(f"evaluation must be one of {list(EVALUATIONS)}, got {self.evaluation!r}")
        if not isinstance(self.regenerate, bool):
            raise ValueError(f"regenerate must be true or false, got {self.regenerate!r}")
        if self.checkpoint_selection not in ("heldout_loss", "last"):
            raise ValueError(f"checkpoint_selection must be 'heldout_loss' or 'last', got {self.checkpoint_selection!r}")
        from .instruments.benchmarks import DATA_CHOICES, TASKS

        if not isinstance(self.benchmarks, (list, tuple)) or any(b not in TASKS for b in self.benchmarks):
            raise ValueError(f"benchmarks must be a list of names from {list(TASKS)}, got {self.benchmarks!r}")
        if self.benchmark_data not in DATA_CHOICES:
            raise ValueError(f"benchmark_data must be one of {list(DATA_CHOICES)}, got {self.benchmark_data!r}")
        limit = self.benchmark_limit
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"benchmark_limit must be None (every item) or a positive integer, got {limit!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (0 < self.top_p <= 1 and self.temperature > 0 and self.repetition_penalty > 0):
            raise ValueError("top_p must be in (0, 1], temperature and repetition_penalty > 0")
        return self

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> "RecursiveConfig":
        """The configuration of ``params`` (names and types checked, then :meth:`validate`): one ValueError naming
        the first wrong parameter."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise ValueError(f"unknown recursive-run parameters {unknown}; valid: {sorted(fields)}")
        for name, value in params.items():
            _check_type(name, value, str(fields[name].type))
        return cls(**params).validate()


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list, tuple),
          "None": (type(None),)}


def _check_type(name: str, value: Any, annotation: str) -> None:
    """``annotation``: a field's type as written (``"float | None"``); True is no number here."""
    allowed = tuple(t for part in annotation.split("|") for t in _TYPES[part.strip()])
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ValueError(f"{name} must be {annotation}, got {value!r} ({type(value).__name__})")


def run_folder_name(config: RecursiveConfig) -> str:
    """``<method>-seed<seed>-<fingerprint>``: where the notebooks and ``fortifai sweep`` keep a run."""
    return f"{config.method()}-seed{config.seed}-{config.fingerprint()}"


def parse_method(method: str) -> dict[str, Any]:
    """``"ce"``, ``"tce-0.9"``, ``"focal-2.0"``, ``"tce_dynamic-1.0"`` -> RecursiveConfig fields."""
    parsed = Method.parse(method)
    spec = parsed.spec
    if spec.main is None or "-" not in str(method):
        return {"loss": parsed.loss}
    return {"loss": parsed.loss, spec.main.name: parsed.value}
