"""A feature encoder in a model file: its state as JSON plus tensors, and back, checked.

The model file's description holds the state under ``encoder`` (beside the family's
``model`` body): a fixed format tag, the parameters, and per feature its name, type,
imputation and what was learned (categories, vocabulary); each text feature's idf is a
float64 tensor ``encoder.<k>.idf``. Nothing else is read: no class name, no code. A state
this module would not have written (an unknown key, a type, an unsorted or oversized
vocabulary, an idf of the wrong shape) is refused with ``E_MODEL_FORMAT``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import NUMERIC_FEATURE_TYPES
from hokusai_assets.lib.training.features import (
    TEXT_PARAMETERS,
    CategoryEncoding,
    Encoding,
    FeatureEncoder,
    Imputation,
    NumericEncoding,
    TextEncoding,
)

ENCODER_FORMAT = "hokusai-features/v1"
TENSOR_PREFIX = "encoder."
_COMMON_KEYS = {"name", "type", "impute"}
_TERM = re.compile(r"\w\w+")


def _refuse(message: str) -> ModelError:
    return ModelError(f"malformed feature encoder in the model file: {message}", code="E_MODEL_FORMAT")


def _idf_tensor(k: int) -> str:
    return f"{TENSOR_PREFIX}{k}.idf"


def encode_encoder(encoder: FeatureEncoder) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON state, tensors) of a fitted encoder."""
    features: list[dict[str, Any]] = []
    tensors: dict[str, np.ndarray] = {}
    for k, e in enumerate(encoder.encodings):
        impute = None if e.impute is None else {"strategy": e.impute.strategy, "value": e.impute.value}
        entry: dict[str, Any] = {"name": e.name, "impute": impute}
        if isinstance(e, NumericEncoding):
            entry["type"] = e.type
        elif isinstance(e, CategoryEncoding):
            entry.update(type="category", categories=list(e.categories), other=e.other, missing=e.missing)
        else:
            entry.update(type="text", vocabulary=list(e.vocabulary), idf=_idf_tensor(k))
            tensors[_idf_tensor(k)] = np.ascontiguousarray(e.idf, dtype=np.float64)
        features.append(entry)
    parameters = {"max_categories": encoder.max_categories, "max_features": encoder.max_features, **TEXT_PARAMETERS}
    return {"format": ENCODER_FORMAT, "parameters": parameters, "features": features}, tensors


def decode_encoder(
    state: Any, tensors: dict[str, np.ndarray], feature_names: list[str]
) -> tuple[FeatureEncoder, set[str]]:
    """The encoder a state describes, and the names of the tensors it owns."""
    try:
        return _decode(state, tensors, feature_names)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _refuse(f"{type(exc).__name__}: {exc}") from exc


def _keys(node: Any, expected: set[str], what: str) -> dict[str, Any]:
    if not isinstance(node, dict) or set(node) != expected:
        keys = sorted(node) if isinstance(node, dict) else type(node).__name__
        raise _refuse(f"{what} has keys {keys}, expected {sorted(expected)}")
    return node


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refuse(f"{what} must be a positive integer, got {value!r}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(f"{what} must be true or false, got {value!r}")
    return value


def _sorted_strings(value: Any, limit: int, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(f"{what} must be a list of strings")
    if len(value) > limit:
        raise _refuse(f"{what} has {len(value)} entries, more than the cap {limit}")
    if any(a >= b for a, b in zip(value, value[1:])):
        raise _refuse(f"{what} must be sorted without repeats")
    return tuple(value)


def _imputation(node: Any, allowed: tuple[str, ...], numeric: bool, what: str) -> Imputation | None:
    if node is None:
        return None
    node = _keys(node, {"strategy", "value"}, f"{what}'s imputation")
    strategy, value = node["strategy"], node["value"]
    if strategy not in allowed:
        raise _refuse(f"{what}'s imputation {strategy!r} is not one of {', '.join(allowed)}")
    if numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _refuse(f"{what}'s imputed value must be a finite number, got {value!r}")
        return Imputation(strategy, float(value))
    if not isinstance(value, str):
        raise _refuse(f"{what}'s imputed value must be a string, got {value!r}")
    return Imputation(strategy, value)


def _decode(state: Any, tensors: dict[str, np.ndarray], feature_names: list[str]) -> tuple[FeatureEncoder, set[str]]:
    state = _keys(state, {"format", "parameters", "features"}, "the encoder")
    if state["format"] != ENCODER_FORMAT:
        raise _refuse(f"format {state['format']!r} is not {ENCODER_FORMAT!r}")
    parameters = _keys(state["parameters"], {"max_categories", "max_features", *TEXT_PARAMETERS}, "parameters")
    for key, expected in TEXT_PARAMETERS.items():
        if parameters[key] != expected or type(parameters[key]) is not type(expected):
            raise _refuse(f"parameter {key} is {parameters[key]!r}; this format reads text with {expected!r}")
    max_categories = _count(parameters["max_categories"], "max_categories")
    max_features = _count(parameters["max_features"], "max_features")
    entries = state["features"]
    if not isinstance(entries, list) or [e.get("name") if isinstance(e, dict) else None for e in entries] != list(
        feature_names
    ):
        raise _refuse("its features are not the model's features, in order")

    encodings: list[Encoding] = []
    owned: set[str] = set()
    for k, entry in enumerate(entries):
        name, kind = entry["name"], entry.get("type")
        what = f"feature {name!r}"
        if kind in NUMERIC_FEATURE_TYPES:
            entry = _keys(entry, _COMMON_KEYS, what)
            impute = _imputation(entry["impute"], ("mean", "median", "most_frequent", "constant"), True, what)
            encodings.append(NumericEncoding(name, kind, impute))
        elif kind == "category":
            entry = _keys(entry, _COMMON_KEYS | {"categories", "other", "missing"}, what)
            categories = _sorted_strings(entry["categories"], max_categories, f"{what}'s categories")
            other, missing = _flag(entry["other"], f"{what}'s other"), _flag(entry["missing"], f"{what}'s missing")
            impute = _imputation(entry["impute"], ("most_frequent", "constant"), False, what)
            if other and len(categories) != max_categories:
                raise _refuse(f"{what} groups values into other below the cap of {max_categories} categories")
            if missing and impute is not None:
                raise _refuse(f"{what} both imputes missing values and keeps them as a category")
            encodings.append(CategoryEncoding(name, categories, other, missing, impute))
        elif kind == "text":
            entry = _keys(entry, _COMMON_KEYS | {"vocabulary", "idf"}, what)
            vocabulary = _sorted_strings(entry["vocabulary"], max_features, f"{what}'s vocabulary")
            if not all(_TERM.fullmatch(term) for term in vocabulary):
                raise _refuse(f"{what}'s vocabulary holds something that is not a word")
            if entry["idf"] != _idf_tensor(k):
                raise _refuse(f"{what}'s idf is the tensor {entry['idf']!r}, expected {_idf_tensor(k)!r}")
            idf = tensors.get(_idf_tensor(k))
            if idf is None or idf.dtype != np.float64 or idf.shape != (len(vocabulary),):
                raise _refuse(f"{what} needs a float64 tensor {_idf_tensor(k)} of {len(vocabulary)} values")
            if not (np.all(np.isfinite(idf)) and np.all(idf >= 1.0)):
                raise _refuse(f"{what}'s idf values must be finite and at least 1")
            impute = _imputation(entry["impute"], ("constant",), False, what)
            encodings.append(TextEncoding(name, vocabulary, np.array(idf, dtype=np.float64), impute))
            owned.add(_idf_tensor(k))
        else:
            raise _refuse(f"{what} has type {kind!r}")

    stray = sorted(t for t in tensors if t.startswith(TENSOR_PREFIX) and t not in owned)
    if stray:
        raise _refuse(f"tensor(s) {', '.join(stray)} belong to no feature")
    encoder = FeatureEncoder(tuple(encodings), max_categories, max_features)
    names = encoder.output_names
    if not names or len(set(names)) != len(names):
        raise _refuse("its encoded columns are empty or repeat a name")
    return encoder, owned
