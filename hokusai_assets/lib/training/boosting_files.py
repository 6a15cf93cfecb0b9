"""Gradient-boosted trees (XGBoost, LightGBM): the fitted predictor and its model file.

A boosted model is stored in the library's own model text: XGBoost's JSON model
(``Booster.save_raw("json")``), LightGBM's model string (``Booster.model_to_string()``).
That text is the one tensor of the model file (``booster``, UTF-8 bytes as uint8); the
JSON description holds what the scikit-learn wrapper adds around the booster: the
estimator class, the classes (the booster only knows class indices), the feature count
and the parameters it was fitted with (provenance; prediction reads only the booster).

Both texts round-trip exactly: every split threshold and leaf value is written with
enough digits to read back the same float, so a loaded model predicts bit for bit what
the fitted one did (checked by the tests on labels and probabilities).

Loading builds nothing but ``xgboost.Booster`` / ``lightgbm.Booster`` from that text:
no pickle, no joblib, no class named by the file. The description must name exactly the
estimator class, objective and text format hokusai writes for the task type, and the text
must pass the structural checks of :mod:`boosting_checks`; anything else is refused before
the library parses a byte of it. The predictor,
:class:`BoostedModel`, reproduces the wrapper's ``predict`` / ``predict_proba`` /
``classes_`` on the bare booster.

xgboost and lightgbm are imported inside functions only (about a second each): a dry run
of a scikit-learn task never pays for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.training.boosting_checks import check_lightgbm_model, check_xgboost_model
from hokusai_assets.lib.training.labels import classes_array

XGBOOST_FORMAT = "hokusai-xgboost/v1"
LIGHTGBM_FORMAT = "hokusai-lightgbm/v1"
BOOSTER_TENSOR = "booster"


@dataclass(frozen=True)
class BoostingFamily:
    """What a model file of one boosting framework may contain, and nothing else."""

    framework: str
    model_format: str
    booster_format: str
    estimators: dict[str, str]  # task type -> the scikit-learn wrapper's class
    # The objective hokusai trains for a task: predict_proba is a probability only for these.
    binary_objective: str
    multiclass_objective: str
    regression_objective: str

    def objective(self, task_type: str, n_classes: int) -> str:
        if task_type == "regression":
            return self.regression_objective
        return self.binary_objective if n_classes == 2 else self.multiclass_objective


FAMILIES: dict[str, BoostingFamily] = {
    "xgboost": BoostingFamily(
        framework="xgboost",
        model_format=XGBOOST_FORMAT,
        booster_format="xgboost-json",
        estimators={"classification": "xgboost.XGBClassifier", "regression": "xgboost.XGBRegressor"},
        binary_objective="binary:logistic",
        multiclass_objective="multi:softprob",
        regression_objective="reg:squarederror",
    ),
    "lightgbm": BoostingFamily(
        framework="lightgbm",
        model_format=LIGHTGBM_FORMAT,
        booster_format="lightgbm-text",
        estimators={"classification": "lightgbm.LGBMClassifier", "regression": "lightgbm.LGBMRegressor"},
        binary_objective="binary",
        multiclass_objective="multiclass",
        regression_objective="regression",
    ),
}

_BODY_KEYS = {"estimator", "booster", "n_features", "params", "classes"}
_BOOSTER_KEYS = {"format", "tensor", "library_version"}


def family(framework: str) -> BoostingFamily:
    try:
        return FAMILIES[framework]
    except KeyError:
        raise ModelError(
            f"{framework!r} is not a boosting framework; use one of {', '.join(FAMILIES)}",
            code="E_MODEL_FRAMEWORK",
        ) from None


@dataclass(eq=False)
class BoostedModel:
    """A fitted booster plus what its scikit-learn wrapper knew: a ``TrainedModel.estimator``.

    Offers what ``TrainedModel.predict`` uses of a scikit-learn estimator: ``predict``,
    ``predict_proba`` and ``classes_`` (classification).
    """

    framework: str
    task_type: str
    booster: Any  # xgboost.Booster or lightgbm.Booster
    # What the file stores: read from the file on load (so a loaded model re-saves byte for
    # byte), written from the booster on the first save after a fit (not during the fit).
    booster_text: bytes | None
    n_features: int
    library_version: str
    classes: list[Any] | None = None  # sorted training labels; the booster predicts their indices
    params: dict[str, Any] = field(default_factory=dict)  # the wrapper's constructor parameters

    @classmethod
    def from_wrapper(
        cls, framework: str, task_type: str, wrapper: Any, classes: list[Any] | None, params: dict[str, Any]
    ) -> BoostedModel:
        """The predictor of a fitted XGBoost / LightGBM scikit-learn estimator."""
        if framework == "xgboost":
            import xgboost

            booster, version = wrapper.get_booster(), xgboost.__version__
        else:
            import lightgbm

            booster, version = wrapper.booster_, lightgbm.__version__
        return cls(framework, task_type, booster, None, int(wrapper.n_features_in_), version, classes, dict(params))

    def text(self) -> bytes:
        """The booster in its library's own model format (JSON for XGBoost, text for LightGBM)."""
        if self.booster_text is None:
            if self.framework == "xgboost":
                self.booster_text = bytes(self.booster.save_raw("json"))
            else:
                self.booster_text = self.booster.model_to_string().encode("utf-8")
        return self.booster_text

    @property
    def classes_(self) -> np.ndarray:
        return classes_array(self.classes)

    def _inputs(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        # Plain float64 arrays, as at fit: the boosters were fitted without column names.
        inputs = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        if inputs.ndim != 2 or inputs.shape[1] != self.n_features:
            raise ModelError(
                f"the model reads {self.n_features} features, got an array of shape {inputs.shape}",
                code="E_MODEL_FEATURES",
            )
        return inputs

    def _raw(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's output, exactly as the wrapper's predict asks for it."""
        inputs = self._inputs(X)
        if self.framework == "xgboost":
            # XGBModel.predict: inplace prediction over all trees, NaN as missing (float32 out).
            return self.booster.inplace_predict(inputs, iteration_range=(0, 0), predict_type="value", missing=np.nan)
        # LGBMModel.predict; one thread, as at fit (float64 out).
        return self.booster.predict(inputs, num_threads=1)

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if self.classes is None:
            raise ModelError("predict_proba is for classification models", code="E_MODEL_UNSUPPORTED")
        scores = self._raw(X)
        if scores.ndim == 2:
            return scores  # multi:softprob / multiclass: one probability per class already
        # Both wrappers expand a binary model's P(class 1) the same way (same dtype too).
        return np.vstack((1.0 - scores, scores)).transpose()

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if self.classes is None:
            return self._raw(X)
        proba = self.predict_proba(X)
        if self.framework == "xgboost" and len(self.classes) == 2:
            # XGBClassifier.predict thresholds P(class 1) at 0.5 (argmax would differ only at exactly 0.5).
            index = (proba[:, 1] > 0.5).astype(np.int64)
        else:
            index = np.argmax(proba, axis=1)
        return self.classes_[index]

    def body(self) -> dict[str, Any]:
        spec = FAMILIES[self.framework]
        body: dict[str, Any] = {
            "estimator": spec.estimators[self.task_type],
            "booster": {
                "format": spec.booster_format,
                "tensor": BOOSTER_TENSOR,
                "library_version": self.library_version,
            },
            "n_features": self.n_features,
            "params": dict(sorted(self.params.items())),
        }
        if self.classes is not None:
            body["classes"] = list(self.classes)
        return body

    def tensors(self) -> dict[str, np.ndarray]:
        return {BOOSTER_TENSOR: np.frombuffer(self.text(), dtype=np.uint8).copy()}


def encode_boosted(model: BoostedModel) -> tuple[str, dict, dict[str, np.ndarray]]:
    """(format, JSON body, tensors) of a boosted model's file."""
    return FAMILIES[model.framework].model_format, model.body(), model.tensors()


def _check_classes(classes: Any) -> list[Any]:
    if not isinstance(classes, list) or len(classes) < 2:
        raise ModelError("a classification model file needs at least two classes", code="E_MODEL_FORMAT")
    if not (
        all(isinstance(c, str) for c in classes)
        or all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes)
    ):
        raise ModelError("model file classes must be all strings or all numbers", code="E_MODEL_FORMAT")
    if len(set(classes)) != len(classes):
        raise ModelError("model file classes repeat a label", code="E_MODEL_FORMAT")
    return list(classes)


def _load_booster(framework: str, text: bytes) -> tuple[Any, int]:
    """The library's booster from its model text, and the feature count it reports."""
    try:
        if framework == "xgboost":
            import xgboost

            # A bytearray is read as the model itself (a str would be taken as a path).
            booster = xgboost.Booster(model_file=bytearray(text))
            booster.set_param({"nthread": 1})
            return booster, booster.num_features()
        import lightgbm

        booster = lightgbm.Booster(model_str=text.decode("utf-8"))
        return booster, booster.num_feature()
    except ModelError:
        raise
    except Exception as exc:  # the libraries raise their own error types for a text they cannot parse
        raise ModelError(
            f"{framework} could not read the booster ({type(exc).__name__}: {str(exc)[:200]})", code="E_MODEL_FORMAT"
        ) from exc


def decode_boosted(description: dict, tensors: dict[str, np.ndarray]) -> BoostedModel:
    """Rebuild a boosted model from a model file's description and tensors; only boosters."""
    framework = description.get("framework")
    spec = FAMILIES.get(framework)  # type: ignore[arg-type]
    if spec is None or description.get("format") != spec.model_format:
        raise ModelError(
            f"unsupported model format {description.get('format')!r} for framework {framework!r}",
            code="E_MODEL_FORMAT",
        )
    try:
        task_type = description["task_type"]
        body = description["model"]
        n_features = len(description["feature_names"])
        estimator, booster = body["estimator"], body["booster"]
        if estimator not in spec.estimators.values():
            raise ModelError(
                f"model file names class {estimator!r}; a {framework} model file holds "
                f"{' or '.join(spec.estimators.values())}, so it is refused",
                code="E_MODEL_UNTRUSTED",
            )
        if task_type not in spec.estimators or estimator != spec.estimators[task_type]:
            raise ModelError(f"{estimator} cannot serve a {task_type!r} task", code="E_MODEL_FORMAT")
        unknown = sorted(set(body) - _BODY_KEYS) + sorted(set(booster) - _BOOSTER_KEYS)
        if unknown:
            raise ModelError(f"model file has unknown key(s) {', '.join(unknown)}", code="E_MODEL_FORMAT")
        if booster["format"] != spec.booster_format or booster["tensor"] != BOOSTER_TENSOR:
            raise ModelError(
                f"booster format {booster['format']!r} is not {spec.booster_format!r}, the one hokusai writes for "
                f"{framework}",
                code="E_MODEL_FORMAT",
            )
        if body["n_features"] != n_features:
            raise ModelError(
                f"model reads {body['n_features']} features but names {n_features}", code="E_MODEL_FORMAT"
            )
        params = body["params"]
        if not isinstance(params, dict):
            raise ModelError("model file params must be a mapping", code="E_MODEL_FORMAT")
        classes = _check_classes(body.get("classes")) if task_type == "classification" else None
        if classes is None and "classes" in body:
            raise ModelError("a regression model file has no classes", code="E_MODEL_FORMAT")
        library_version = str(booster["library_version"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelError(
            f"malformed {framework} model description ({type(exc).__name__}: {exc})", code="E_MODEL_FORMAT"
        ) from exc

    stored = tensors.get(BOOSTER_TENSOR)
    if set(tensors) != {BOOSTER_TENSOR} or stored is None or stored.dtype != np.uint8 or stored.ndim != 1:
        raise ModelError(
            f"a {framework} model file holds one uint8 tensor {BOOSTER_TENSOR!r}, not {sorted(tensors)}",
            code="E_MODEL_FORMAT",
        )
    text = stored.tobytes()
    objective = spec.objective(task_type, len(classes) if classes else 0)
    n_classes = len(classes) if classes else 0
    # The libraries' parsers trust their text (a bad child index is a segfault): check it first.
    check = check_xgboost_model if framework == "xgboost" else check_lightgbm_model
    check(text, objective, n_features, n_classes)
    loaded, reported = _load_booster(framework, text)
    if reported != n_features:
        raise ModelError(f"the booster reads {reported} features, not {n_features}", code="E_MODEL_FORMAT")
    return BoostedModel(framework, task_type, loaded, text, n_features, library_version, classes, dict(params))
