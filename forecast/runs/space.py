"""The search space of `forecast tune`: what may vary between trials, and how a trial's
parameters become a run configuration.

A space maps each parameter to a *range* (``{"low": 20, "high": 120, "step": 10}``, with
``"log": true`` for a log scale), a list of *choices*, or one *fixed* value. `--space FILE`
holds a JSON object with any of the names below; the ones it leaves out keep their defaults.

    window, layers, units, dropout, learning_rate, batch_size, model, target

`units` are the choices for each layer's width (one draw per layer, `units_1` … `units_N`
with N = `layers`). Nothing here imports Optuna: `suggest` is handed a trial object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecast.errors import ConfigError
from forecast.nets import kinds

MAX_LAYERS = 3
_MAX_SPACE_BYTES = 64 << 10  # a search space is a few hundred bytes

Range = dict[str, Any]  # {"low", "high", "step"?, "log"?}
Spec = Range | list[Any] | int | float | str

DEFAULT_SPACE: dict[str, Spec] = {
    "window": {"low": 20, "high": 120, "step": 10},
    "layers": {"low": 1, "high": MAX_LAYERS},
    "units": [16, 32, 50, 100],
    "dropout": {"low": 0.0, "high": 0.5},
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": [32, 64, 128, 256],
    "model": list(kinds.names()),  # every network kind
    "target": ["delta", "return"],  # `price` extrapolates badly past the training range (README): not searched
}

# Per parameter: the value type, and the check every value must pass (with its wording).
_KINDS: dict[str, tuple[type, Any, str]] = {
    "window": (int, lambda v: 2 <= v <= 2000, "a whole number of days from 2 to 2000"),
    "layers": (int, lambda v: 1 <= v <= MAX_LAYERS, f"a whole number from 1 to {MAX_LAYERS}"),
    "units": (int, lambda v: 1 <= v <= 1024, "a whole number of units from 1 to 1024"),
    "dropout": (float, lambda v: 0 <= v < 0.95, "a fraction in [0, 0.95)"),
    "learning_rate": (float, lambda v: 0 < v <= 1, "a positive rate up to 1"),
    "batch_size": (int, lambda v: 1 <= v <= 65536, "a whole number from 1 to 65536"),
    "model": (str, lambda v: v in kinds.KINDS, " or ".join(kinds.names())),
    "target": (str, lambda v: v in ("price", "delta", "return"), "price, delta or return"),
}
_NUMERIC_RANGES = {"window", "layers", "dropout", "learning_rate", "batch_size"}


@dataclass(frozen=True)
class Space:
    """A checked search space (see the module docstring)."""

    specs: dict[str, Spec]

    def to_dict(self) -> dict[str, Spec]:
        return dict(self.specs)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw one configuration from an Optuna trial: every parameter, units as a list."""
        params = {name: _draw(trial, name, self.specs[name], _KINDS[name][0]) for name in _KINDS if name != "units"}
        units = self.specs["units"]
        params["units"] = [_draw(trial, f"units_{i + 1}", units, int) for i in range(params.pop("layers"))]
        return params

    def including(self, values: dict[str, Any]) -> tuple[Space, list[str]]:
        """This space widened to hold `values` (trial 0: the configuration `train` would use), so
        trial 0 is always exactly that configuration; and what was widened, in words.

        A list gains the value, a range stretches to it (losing its step if the value is off the
        grid), and a fixed value becomes a choice of the two."""
        units = list(values["units"])
        wanted = {**{name: value for name, value in values.items() if name != "units"}, "layers": len(units)}
        specs, widened = dict(self.specs), []
        for name, value in [*wanted.items(), *(("units", unit) for unit in units)]:
            spec = specs[name]
            if _holds(spec, value):
                continue
            specs[name] = _widened(spec, value)
            widened.append(f"{name} {value}")
        return Space(specs), list(dict.fromkeys(widened))

    def default_trial(self, **values: Any) -> dict[str, Any] | None:
        """Optuna parameters that reproduce `values` (the configuration `train` would use), or
        None when the space cannot hold them."""
        units = values.pop("units")
        candidate = {**values, "layers": len(units), **{f"units_{i + 1}": u for i, u in enumerate(units)}}
        drawn = {}
        for name, value in candidate.items():
            spec = self.specs["units" if name.startswith("units_") else name]
            if not _holds(spec, value):
                return None
            if isinstance(spec, (dict, list)):
                drawn[name] = value
        return drawn



def _widened(spec: Spec, value: Any) -> Spec:
    if isinstance(spec, list):
        return [*spec, value]
    if isinstance(spec, dict):
        out: Range = {**spec, "low": min(spec["low"], value), "high": max(spec["high"], value)}
        if "step" in out and not (_holds(out, value) and _holds(out, spec["low"])):
            del out["step"]  # the value or the old grid is off the stretched grid: keep every value between
        return out
    return [spec, value]


def _draw(trial: Any, name: str, spec: Spec, kind: type) -> Any:
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    if isinstance(spec, dict):
        log = bool(spec.get("log", False))
        if kind is int:
            return trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1), log=log)
        return trial.suggest_float(name, spec["low"], spec["high"], step=spec.get("step"), log=log)
    return spec  # fixed


def load_space(path: Path | None) -> Space:
    """The default space, with the entries of a JSON file (if given) replacing its own.

    Raises:
        ConfigError: the file is not a JSON object of known names with valid values.
    """
    specs = dict(DEFAULT_SPACE)
    if path is not None:
        from forecast.errors import ArtifactError
        from forecast.files import read_json

        try:
            raw = read_json(path, "--space takes a small JSON file like {\"window\": [30, 60]}",
                            limit=_MAX_SPACE_BYTES)
        except ArtifactError as exc:
            raise ConfigError(f"--space: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"--space {path} must hold a JSON object like {{\"window\": [30, 60]}}")
        unknown = sorted(set(raw) - set(_KINDS))
        if unknown:
            raise ConfigError(f"--space {path}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(_KINDS)}")
        specs.update({name: _checked(name, spec) for name, spec in raw.items()})
    return Space(specs)


def _checked(name: str, spec: Any) -> Spec:
    kind, valid, wording = _KINDS[name]
    where = f"--space: {name}"
    if isinstance(spec, list):
        if not spec or len(spec) > 100:
            raise ConfigError(f"{where} lists no choices (or more than 100)")
        values = [_value(where, kind, valid, wording, v) for v in spec]
        if len(set(values)) != len(values):
            raise ConfigError(f"{where} repeats a choice")
        return values
    if isinstance(spec, dict):
        if name not in _NUMERIC_RANGES:
            raise ConfigError(f"{where} takes a list of choices or one value, not a range")
        extra = sorted(set(spec) - {"low", "high", "step", "log"})
        if extra or "low" not in spec or "high" not in spec:
            raise ConfigError(f"{where}: a range is {{\"low\": …, \"high\": …}} with optional \"step\" and \"log\"")
        low, high = (_value(where, kind, valid, wording, spec[key]) for key in ("low", "high"))
        if low >= high:
            raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
        out: Range = {"low": low, "high": high}
        if "log" in spec:
            if not isinstance(spec["log"], bool):
                raise ConfigError(f"{where}: log must be true or false")
            if spec["log"] and low <= 0:
                raise ConfigError(f"{where}: a log range needs low > 0")
            out["log"] = spec["log"]
        if "step" in spec:
            step = _value(where, kind, lambda v: v > 0, "a positive step", spec["step"])
            if out.get("log"):
                raise ConfigError(f"{where}: a range takes step or log, not both")
            out["step"] = step
        return out
    return _value(where, kind, valid, wording, spec)


def _value(where: str, kind: type, valid: Any, wording: str, value: Any) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind or (isinstance(value, float) and not math.isfinite(value)) or not valid(value):
        raise ConfigError(f"{where} must be {wording}, got {value!r}")
    return value


def _holds(spec: Spec, value: Any) -> bool:
    if isinstance(spec, list):
        return value in spec
    if isinstance(spec, dict):
        low, high, step = spec["low"], spec["high"], spec.get("step")
        if not low <= value <= high:
            return False
        return step is None or math.isclose((value - low) / step, round((value - low) / step), abs_tol=1e-9)
    return bool(spec == value)
