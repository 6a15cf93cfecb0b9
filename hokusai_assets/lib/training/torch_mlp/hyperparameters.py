"""The torch MLP's hyperparameters: defaults, and the checks that fail at configuration time."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hokusai_assets.lib.errors import ModelError

HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "hidden_sizes": [64, 32],
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
}


def _hyperparameter_error(message: str) -> ModelError:
    return ModelError(f"training.hyperparameters: {message}", code="E_MODEL_HYPERPARAMETER")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _hyperparameter_error(f"{name} must be a positive integer, got {value!r}")
    return value


def _number(name: str, value: Any, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _hyperparameter_error(f"{name} must be a finite number, got {value!r}")
    if (positive and value <= 0) or value < 0:
        raise _hyperparameter_error(f"{name} must be {'above' if positive else 'at least'} 0, got {value!r}")
    return float(value)


def _hidden_sizes(value: Any) -> list[int]:
    # Config hyperparameters are scalars, so "64,32" (or a single int) must work as well as a list.
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise _hyperparameter_error(
                f"hidden_sizes must be layer widths separated by commas, like \"64,32\"; got {value!r}"
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _hyperparameter_error(f"hidden_sizes must be a list of layer widths or \"64,32\", got {value!r}")
    return [_positive_int("each of hidden_sizes", size) for size in value]


def resolve_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with the configured values, checked and normalised."""
    unknown = sorted(set(hyperparameters) - set(HYPERPARAMETER_DEFAULTS))
    if unknown:
        raise _hyperparameter_error(
            f"{', '.join(unknown)} not accepted by the torch mlp; valid: {', '.join(sorted(HYPERPARAMETER_DEFAULTS))}"
        )
    merged = {**HYPERPARAMETER_DEFAULTS, **hyperparameters}
    return {
        "hidden_sizes": _hidden_sizes(merged["hidden_sizes"]),
        "epochs": _positive_int("epochs", merged["epochs"]),
        "batch_size": _positive_int("batch_size", merged["batch_size"]),
        "learning_rate": _number("learning_rate", merged["learning_rate"], positive=True),
        "weight_decay": _number("weight_decay", merged["weight_decay"], positive=False),
    }
