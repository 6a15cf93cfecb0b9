"""A trained model and its file: one safetensors file per model, deterministic, safe to load.

A model file is a standard ``.safetensors`` file. Its tensors are the fitted arrays; its
``__metadata__`` holds one key, ``hokusai.model``, whose value is the RFC 8785 JSON
description of the model (format, framework, task, features and the family's own body:
for scikit-learn the estimator tree, for torch the architecture, for XGBoost and LightGBM
what the scikit-learn wrapper adds to the booster, whose own model text is the one
tensor). The same model always gives the same bytes, so the file's SHA-256 is the model
digest.

A model whose features need more than a cast to float64 (categories, text, imputation)
also has a fitted :class:`~hokusai_assets.lib.training.features.FeatureEncoder`: its state
is the description's ``encoder`` (see ``features_files``), its idf tensors sit beside the
family's, and the family is described as reading the encoder's output columns. A model
without one has no ``encoder`` key, so its file is what it was before encoders existed.

Loading never executes code from the file: each model family (``sklearn_files``,
``torch_mlp.network``, ``boosting_files``) rebuilds its estimator from an allow-list, and
a file naming any other family or class is refused. That is what makes it safe to verify
a model someone else hands us.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.evaluation.metrics import Predictions
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.features import FeatureEncoder

METADATA_KEY = "hokusai.model"


@dataclass
class TrainedModel:
    """A fitted model and what it needs to be used and described."""

    framework: str
    task_type: str
    feature_names: list[str]
    label: str
    label_type: str
    estimator: Any
    # The preprocessing the estimator was fitted behind; None when the features are numbers
    # read as they are.
    encoder: FeatureEncoder | None = None

    @classmethod
    def fitted(
        cls, framework: str, schema: TaskSchema, estimator: Any, encoder: FeatureEncoder | None = None
    ) -> TrainedModel:
        """What a trainer returns: ``estimator`` fitted to rows of ``schema`` (through ``encoder``)."""
        return cls(
            framework, schema.task_type, schema.feature_names, schema.label, schema.label_type, estimator, encoder
        )

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the estimator reads: the float64 features, or the encoder's output for them."""
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ModelError(f"the model needs feature column(s) {', '.join(missing)}", code="E_MODEL_FEATURES")
        if self.encoder is not None:
            return self.encoder.frame(frame)
        return frame[self.feature_names].astype("float64")

    def predict_features(self, frame: pd.DataFrame) -> np.ndarray:
        """Class labels (classification) or float64 values (regression) for rows of features."""
        predictions = np.asarray(self.estimator.predict(self.features(frame)))
        return predictions.astype("float64") if self.task_type == "regression" else predictions

    def predict(self, frame: pd.DataFrame) -> Predictions:
        """Predictions on labelled rows, ready for the metrics."""
        X = self.features(frame)
        y_true = frame[self.label].to_numpy()
        y_pred = np.asarray(self.estimator.predict(X))
        if self.task_type == "classification":
            return Predictions(
                y_true=y_true,
                y_pred=y_pred,
                proba=np.asarray(self.estimator.predict_proba(X), dtype="float64"),
                classes=np.asarray(self.estimator.classes_),
            )
        return Predictions(y_true=y_true.astype("float64"), y_pred=y_pred.astype("float64"))

    def to_bytes(self) -> bytes:
        """The model file (see the module docstring)."""
        from safetensors.numpy import save

        from hokusai_assets.lib.commitments.canonical import canonical_json

        model_format, body, tensors = _encode(self)
        description: dict[str, Any] = {
            "format": model_format,
            "framework": self.framework,
            "task_type": self.task_type,
            "feature_names": list(self.feature_names),
            "label": self.label,
            "label_type": self.label_type,
            "model": body,
        }
        if self.encoder is not None:
            from hokusai_assets.lib.training.features_files import encode_encoder

            state, encoder_tensors = encode_encoder(self.encoder)
            clash = sorted(set(tensors) & set(encoder_tensors))
            if clash:
                raise ModelError(f"tensor name(s) {', '.join(clash)} used twice", code="E_MODEL_UNSUPPORTED")
            description["encoder"] = state
            tensors = {**tensors, **encoder_tensors}
        return save(tensors, metadata={METADATA_KEY: canonical_json(description).decode("utf-8")})


def read_model_file(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Split a model file into its description and tensors, checking it is ours."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        description = json.loads(header["__metadata__"][METADATA_KEY])
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"not a hokusai model file ({type(exc).__name__}); expected a .safetensors file written by hokusai",
            code="E_MODEL_FORMAT",
        ) from exc
    return description, tensors


def model_from_bytes(data: bytes) -> TrainedModel:
    """Rebuild a model from a model file, without executing anything from it.

    Every family checks what it reads, but a crafted file can still trip a library's own
    code in ways no check names (a seed out of range, a loss strategy it does not know):
    any failure to rebuild is the file's fault, reported as E_MODEL_FORMAT, never a crash."""
    try:
        return _model_from_bytes(data)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise ModelError(
            f"the model file cannot be rebuilt ({type(exc).__name__}: {str(exc)[:200]}); it was not written by "
            "this version of hokusai, or it was altered",
            code="E_MODEL_FORMAT",
        ) from exc


def _model_from_bytes(data: bytes) -> TrainedModel:
    description, tensors = read_model_file(data)
    encoder = None
    if "encoder" in description:
        from hokusai_assets.lib.training.features_files import decode_encoder

        feature_names = description.get("feature_names")
        if not isinstance(feature_names, list):
            raise ModelError("model file feature_names must be a list", code="E_MODEL_FORMAT")
        encoder, owned = decode_encoder(description["encoder"], tensors, feature_names)
        # The family sees what it was fitted on: the encoder's columns and its own tensors.
        tensors = {name: value for name, value in tensors.items() if name not in owned}
        description = {**description, "feature_names": encoder.output_names}
        del description["encoder"]
    estimator = _decode(description, tensors)
    if encoder is not None:
        _check_reads(estimator, encoder.output_names)
    return TrainedModel(
        framework=description["framework"],
        task_type=description["task_type"],
        feature_names=list(encoder.feature_names if encoder else description["feature_names"]),
        label=description["label"],
        label_type=description["label_type"],
        estimator=estimator,
        encoder=encoder,
    )


def _check_reads(estimator: Any, columns: list[str]) -> None:
    """The estimator reads the encoder's columns (the torch and boosting decoders check the
    count against the description; a scikit-learn estimator says it in n_features_in_)."""
    width = getattr(estimator, "n_features_in_", len(columns))
    names = getattr(estimator, "feature_names_in_", None)
    if width != len(columns) or (names is not None and list(names) != columns):
        raise ModelError(
            f"the estimator does not read the {len(columns)} columns the feature encoder makes ({width} columns)",
            code="E_MODEL_FORMAT",
        )


# The model families: each stores its estimator as (format, JSON body, tensors) and rebuilds
# it from an allow-list. Imported on use: torch, xgboost and lightgbm cost about a second each,
# which sklearn need not pay.


def _encode(model: TrainedModel) -> tuple[str, dict, dict[str, np.ndarray]]:
    if model.framework == "sklearn":
        from hokusai_assets.lib.training.sklearn_files import SKLEARN_FORMAT, encode_estimator

        body, tensors = encode_estimator(model.estimator)
        return SKLEARN_FORMAT, body, tensors
    if model.framework == "torch":
        from hokusai_assets.lib.training.torch_mlp.network import TORCH_FORMAT

        return TORCH_FORMAT, model.estimator.body(), model.estimator.tensors()
    if model.framework in ("xgboost", "lightgbm"):
        from hokusai_assets.lib.training.boosting_files import encode_boosted

        return encode_boosted(model.estimator)
    raise ModelError(f"no serialiser for framework {model.framework!r}", code="E_MODEL_UNSUPPORTED")


def _decode(description: dict, tensors: dict[str, np.ndarray]) -> Any:
    framework = description.get("framework")
    if framework == "sklearn":
        from hokusai_assets.lib.training.sklearn_files import decode_estimator

        return decode_estimator(description, tensors)
    if framework == "torch":
        from hokusai_assets.lib.training.torch_mlp.network import load_torch

        return load_torch(description, tensors)
    if framework in ("xgboost", "lightgbm"):
        from hokusai_assets.lib.training.boosting_files import decode_boosted

        return decode_boosted(description, tensors)
    raise ModelError(f"unsupported model framework {framework!r}", code="E_MODEL_FORMAT")
