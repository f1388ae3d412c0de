"""One specification per loss: its name, its parameter with default and allowed range, and how it is written.

Every place that names, validates or labels a loss reads it here: the loss functions, the recursive
configuration and its presets, the Gaussian, GMM and VAE experiments, and the chapters.

    >>> LOSS_SPECS["tce"].params[0].check(0.9)          # or one ValueError naming gamma and what is allowed
    0.9
    >>> m = Method.parse("tce-0.9")                    # presets, run folders and the command line
    >>> str(m), m.label, m.kwargs
    ('tce-0.9', 'TCE γ=0.9', {'gamma': 0.9})
    >>> truncation_label(None, baseline="ELBO"), truncation_label(0.85), truncation_label(alpha=1.0)
    ('ELBO', 'TCE γ=0.85', 'dynamic TCE α=1')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "LossSpec", "LOSS_SPECS", "RECURSIVE_LOSSES", "METHOD_ORDER", "Method", "truncation_label",
           "check_choice"]


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else one ValueError naming ``name`` and the choices."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


@dataclass(frozen=True)
class Param:
    """A loss's numeric parameter: its default and the interval it must lie in."""

    name: str
    default: float
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    meaning: str = ""
    symbol: str = ""

    def allowed(self) -> str:
        left = "(" if self.low_open or not math.isfinite(self.low) else "["
        right = ")" if self.high_open or not math.isfinite(self.high) else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"

    def check(self, value: Any, loss: str | None = None) -> float:
        """``value`` as a float, or one ValueError naming the parameter, the loss and the allowed interval."""
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and not math.isnan(value)
        if ok:
            ok = (self.low < value if self.low_open or not math.isfinite(self.low) else self.low <= value) and (
                value < self.high if self.high_open or not math.isfinite(self.high) else value <= self.high)
        if not ok:
            where = f" for loss={loss!r}" if loss else ""
            meaning = f" ({self.meaning})" if self.meaning else ""
            raise ValueError(f"{self.name}{where} must be a number in {self.allowed()}{meaning}, got {value!r}")
        return float(value)

    def check_optional(self, value: Any, none_means: str) -> float | None:
        """None (the experiment's baseline, ``none_means``) or :meth:`check`'s value, with one error for both."""
        if value is None:
            return None
        try:
            return self.check(value)
        except ValueError:
            meaning = f" ({self.meaning})" if self.meaning else ""
            raise ValueError(f"{self.name} must be None ({none_means}) or a number in {self.allowed()}{meaning}, "
                             f"got {value!r}") from None


@dataclass(frozen=True)
class LossSpec:
    """A loss: ``name`` (as in ``LOSSES`` and presets), ``title`` for labels, its numeric parameters (the first
    one is written in the method string, ``tce-0.9``) and whether it takes TCE's ``denominator``."""

    name: str
    title: str
    params: tuple[Param, ...] = ()
    denominator: bool = False

    @property
    def main(self) -> Param | None:
        return self.params[0] if self.params else None

    def resolve(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The loss's validated keyword arguments with every default filled in."""
        allowed = [p.name for p in self.params] + (["denominator"] if self.denominator else [])
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(f"loss={self.name!r} takes parameters {allowed}, got unexpected {unknown}")
        out = {p.name: p.check(kwargs.get(p.name, p.default), self.name) for p in self.params}
        if self.denominator:
            out["denominator"] = check_choice("denominator", kwargs.get("denominator", "valid"), DENOMINATORS)
        return out

    def label(self, value: float | None = None) -> str:
        """``CE``, ``TCE γ=0.9``, ``focal γ=2``, ``dynamic TCE α=1``: the one label format of every chapter."""
        if self.main is None:
            return self.title
        value = self.main.default if value is None else value
        return f"{self.title} {self.main.symbol}={value:g}"


_TCE_GAMMA = Param("gamma", 0.9, 0.0, symbol="γ",
                   meaning="the threshold on p_t above which a token is masked; values >= 1 keep every token")
LOSS_SPECS: dict[str, LossSpec] = {
    "ce": LossSpec("ce", "CE"),
    "tce": LossSpec("tce", "TCE", (_TCE_GAMMA,), denominator=True),
    "focal": LossSpec("focal", "focal", (
        Param("gamma", 2.0, 0.0, symbol="γ", meaning="the focusing exponent; 0 gives cross entropy"),
        Param("alpha", 1.0, 0.0, low_open=True, symbol="α", meaning="a scale on the focal loss"))),
    # the control of TCE's mechanism: as many targets masked as TCE at gamma would, chosen at random
    "rmask": LossSpec("rmask", "random mask", (Param(
        "gamma", 0.9, 0.0, symbol="γ", meaning="the TCE threshold whose count of masked targets is matched; values >= 1 "
                                              "keep every token"),), denominator=True),
    "tce_dynamic": LossSpec("tce_dynamic", "dynamic TCE", (
        Param("alpha", 1.0, symbol="α", meaning="gamma = mean(p_t) + alpha * std(p_t)"),), denominator=True),
    # TCE for density models (Algorithm 2, the 1-D Gaussian): drop the 1 - gamma most likely samples
    "tce_percentile": LossSpec("tce_percentile", "TCE", (
        Param("gamma", 0.9, 0.0, 1.0, low_open=True, symbol="γ",
              meaning="the fraction of samples kept: the 1 - gamma most likely are dropped"),)),
}
RECURSIVE_LOSSES = ("ce", "tce", "focal", "tce_dynamic", "rmask")  # the losses a causal LM trains with
METHOD_ORDER = ("ce", "focal-2.0", "tce-0.9", "tce-0.99")  # the paper's order of the methods in tables and legends
DENOMINATORS = ("valid", "kept")  # what TCE divides by: every non-ignored target, or only the kept ones


@dataclass(frozen=True)
class Method:
    """A loss with its main parameter: ``tce-0.9`` in presets, run folders and on the command line."""

    loss: str
    value: float | None = None

    def __post_init__(self):
        spec = LOSS_SPECS[check_choice("loss", self.loss, tuple(LOSS_SPECS))]
        if spec.main is None and self.value is not None:
            raise ValueError(f"loss={self.loss!r} takes no parameter, got {self.value!r}")
        if spec.main is not None:
            object.__setattr__(self, "value", spec.main.check(spec.main.default if self.value is None else self.value,
                                                              self.loss))

    @classmethod
    def parse(cls, text: str, allowed: tuple[str, ...] = RECURSIVE_LOSSES) -> "Method":
        """``"ce"``, ``"tce-0.9"``, ``"focal-2.0"``, ``"tce_dynamic-1.0"`` (no number: the default)."""
        name, dash, number = str(text).partition("-")
        if name not in allowed:
            raise ValueError(f"method must be one of {list(allowed)}, optionally with '-<number>', got {text!r}")
        if dash and not number:
            raise ValueError(f"method {text!r}: a number must follow '-' (or leave out '-' for the default)")
        if not number:
            return cls(name)
        try:
            value = float(number)
        except ValueError:
            raise ValueError(f"method {text!r}: the part after '-' must be a number") from None
        return cls(name, value)

    @property
    def spec(self) -> LossSpec:
        return LOSS_SPECS[self.loss]

    @property
    def kwargs(self) -> dict[str, float]:
        return {} if self.spec.main is None else {self.spec.main.name: self.value}

    @property
    def label(self) -> str:
        return self.spec.label(self.value)

    def __str__(self) -> str:
        return self.loss if self.value is None else f"{self.loss}-{float(self.value)}"


def truncation_label(gamma: float | None = None, alpha: float | None = None, baseline: str = "CE") -> str:
    """The label of an experiment's truncation: ``baseline`` when there is none, ``TCE γ=0.9`` for a fixed
    threshold or kept fraction, ``dynamic TCE α=1`` for the dynamic threshold."""
    if alpha is not None:
        return LOSS_SPECS["tce_dynamic"].label(alpha)
    return baseline if gamma is None else LOSS_SPECS["tce"].label(gamma)
