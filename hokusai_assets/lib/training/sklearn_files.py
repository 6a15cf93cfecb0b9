"""How a scikit-learn estimator is stored in a model file (``model.py``), and rebuilt safely.

The body is the estimator tree: class names, constructor parameters and the non-array
fitted state as JSON; the arrays are tensors. Loading never executes code from the file:
classes come from a fixed allow-list, are built from their JSON parameters, and get
their fitted state assigned.

Why not skops: its import enumerates every scikit-learn estimator (and, with torch
installed, imports torch), about 1.6 s on this machine, which alone breaks the dry run's
5 s budget. The estimators our trainers produce have plain array state, which this
format stores without any of that cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hokusai_assets.lib.errors import ModelError

SKLEARN_FORMAT = "hokusai-sklearn/v1"


def _allowed_sklearn_classes() -> dict[str, type]:
    # Imported lazily: these are the only classes a model file may name.
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classes = (Pipeline, StandardScaler, LogisticRegression, Ridge, LinearRegression)
    return {f"{cls.__module__.split('._')[0]}.{cls.__name__}": cls for cls in classes}


def warm_up() -> None:
    """Import the allowed scikit-learn classes now (about 1 s), not on the first model read."""
    _allowed_sklearn_classes()


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__.split('._')[0]}.{cls.__name__}"


def _json_scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ModelError(f"{where} is {value}; a model file cannot store non-finite numbers", code="E_MODEL_NONFINITE")
        return value
    raise ModelError(f"{where} has type {type(value).__name__}, which a model file cannot store", code="E_MODEL_UNSUPPORTED")


class _Encoder:
    """Walks an estimator, putting arrays into ``tensors`` and the rest into JSON."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def value(self, value: Any, name: str) -> dict:
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                self.tensors[name] = np.ascontiguousarray(value)
                return {"tensor": name}
            if value.dtype.kind in "OU" and all(isinstance(v, str) for v in value.ravel()):
                return {"strings": [str(v) for v in value.ravel()], "shape": list(value.shape)}
            raise ModelError(f"{name}: arrays of {value.dtype} cannot be stored", code="E_MODEL_UNSUPPORTED")
        if isinstance(value, np.generic):
            return {"scalar": _json_scalar(value.item(), name), "dtype": value.dtype.str}
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
            return {"list": [self.value(v, f"{name}.{i}") for i, v in enumerate(value)]}
        return {"value": _json_scalar(value, name)}

    def estimator(self, estimator: Any, name: str) -> dict:
        class_name = _class_name(estimator)
        if class_name not in _allowed_sklearn_classes():
            raise ModelError(
                f"{class_name} cannot be saved: model files support {', '.join(sorted(_allowed_sklearn_classes()))}",
                code="E_MODEL_UNSUPPORTED",
            )
        params = estimator.get_params(deep=False)
        node: dict[str, Any] = {"class": class_name}
        if class_name == "sklearn.pipeline.Pipeline":
            node["steps"] = [[step, self.estimator(est, f"{name}.{step}")] for step, est in params.pop("steps")]
        node["params"] = {key: _json_scalar(val, f"{name}.{key}") for key, val in sorted(params.items())}
        state = {key: val for key, val in vars(estimator).items() if key not in params and key != "steps"}
        node["state"] = {key: self.value(val, f"{name}.{key}") for key, val in sorted(state.items())}
        return node


def _decode_value(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "strings" in node:
        return np.array(node["strings"], dtype=object).reshape(node["shape"])
    if "scalar" in node:
        return np.dtype(node["dtype"]).type(node["scalar"])
    if "list" in node:
        return [_decode_value(item, tensors) for item in node["list"]]
    return node["value"]


def _decode_estimator(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    allowed = _allowed_sklearn_classes()
    cls = allowed.get(node.get("class", ""))
    if cls is None:
        raise ModelError(
            f"model file names class {node.get('class')!r}, which is not on the allow-list; refusing to load it",
            code="E_MODEL_UNTRUSTED",
        )
    params = dict(node["params"])
    if "steps" in node:
        params["steps"] = [(step, _decode_estimator(child, tensors)) for step, child in node["steps"]]
    estimator = cls(**params)
    for key, value in node["state"].items():
        if not (key.endswith("_") or key.startswith("_")):
            raise ModelError(f"model file sets {key!r}, which is not fitted state", code="E_MODEL_UNTRUSTED")
        setattr(estimator, key, _decode_value(value, tensors))
    return estimator


def encode_estimator(estimator: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """The estimator tree as (JSON body, tensors)."""
    encoder = _Encoder()
    body = encoder.estimator(estimator, "model")
    return body, encoder.tensors


def decode_estimator(description: dict, tensors: dict[str, np.ndarray]) -> Any:
    """Rebuild the estimator of a model file's description; only allow-listed classes."""
    if description.get("format") != SKLEARN_FORMAT:
        raise ModelError(f"unsupported model format {description.get('format')!r}", code="E_MODEL_FORMAT")
    return _decode_estimator(description["model"], tensors)
