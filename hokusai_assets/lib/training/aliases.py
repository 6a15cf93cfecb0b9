"""The training config of the pipeline hokusai replaces, accepted as it was written.

Its config said ``framework: scikit-learn``, ``model_type: RandomForestClassifier`` and
``hyperparameters: {n_estimators: 100, max_depth: 10}``. The hyperparameters are the
estimators' own names, so they pass through; the framework and the class name map to ours.
A class name also says the task type (``…Classifier`` or ``…Regressor``), which must agree
with ``task.type``: a classifier named for a regression task is a mistake to report, not a
hint to override.
"""

from __future__ import annotations

from hokusai_assets.lib.errors import ModelError

FRAMEWORK_ALIASES = {
    "scikit-learn": "sklearn",
    "scikit_learn": "sklearn",
    "pytorch": "torch",
}

# Old class name -> (our model name, the task type it implies).
MODEL_TYPE_ALIASES: dict[str, tuple[str, str]] = {
    "RandomForestClassifier": ("random_forest", "classification"),
    "RandomForestRegressor": ("random_forest", "regression"),
    "ExtraTreesClassifier": ("extra_trees", "classification"),
    "ExtraTreesRegressor": ("extra_trees", "regression"),
    "GradientBoostingClassifier": ("gradient_boosting", "classification"),
    "GradientBoostingRegressor": ("gradient_boosting", "regression"),
    "HistGradientBoostingClassifier": ("hist_gradient_boosting", "classification"),
    "HistGradientBoostingRegressor": ("hist_gradient_boosting", "regression"),
    "LogisticRegression": ("logistic_regression", "classification"),
    "Ridge": ("ridge", "regression"),
    "LinearRegression": ("linear_regression", "regression"),
}
# The sibling design's boosting libraries: class name -> (framework, task type).
BOOSTING_TYPE_ALIASES: dict[str, tuple[str, str]] = {
    "XGBClassifier": ("xgboost", "classification"),
    "XGBRegressor": ("xgboost", "regression"),
    "LGBMClassifier": ("lightgbm", "classification"),
    "LGBMRegressor": ("lightgbm", "regression"),
}
# training.model when a config names only the framework.
DEFAULT_MODELS = {"sklearn": "logistic_regression", "xgboost": "xgboost", "lightgbm": "lightgbm"}


def framework_name(framework: str) -> str:
    """Ours for an old spelling (``scikit-learn``), anything else unchanged (checked later)."""
    return FRAMEWORK_ALIASES.get(framework, framework)


def model_for_type(model_type: str) -> tuple[str | None, str, str]:
    """(framework it implies, or None for the configured one; our model name; task type)
    for an old ``model_type`` class name."""
    if model_type in BOOSTING_TYPE_ALIASES:
        framework, task_type = BOOSTING_TYPE_ALIASES[model_type]
        return framework, framework, task_type
    if model_type in MODEL_TYPE_ALIASES:
        model, task_type = MODEL_TYPE_ALIASES[model_type]
        return None, model, task_type
    known = [*MODEL_TYPE_ALIASES, *BOOSTING_TYPE_ALIASES]
    raise ModelError(
        f"training.model_type {model_type[:80]!r} is not a class hokusai trains; use one of "
        f"{', '.join(known)}, or training.model",
        code="E_MODEL_UNKNOWN",
    )


def normalise_training(raw: dict) -> dict:
    """A ``training`` section with old spellings turned into ours: ``framework: scikit-learn``,
    ``model_type: RandomForestClassifier``; ``model`` defaulted by the framework. What
    ``model_type`` implied for the task type is checked against ``task.type`` by the caller
    (``implied_task_type``)."""
    data = dict(raw)
    if isinstance(data.get("framework"), str):
        data["framework"] = framework_name(data["framework"])
    model_type = data.get("model_type")
    if isinstance(model_type, str):
        framework, model, _ = model_for_type(model_type)
        if framework is not None:
            if data.setdefault("framework", framework) != framework:
                raise ModelError(
                    f"training.model_type {model_type} is a {framework} model, but training.framework is "
                    f"{data['framework']}; drop one of them",
                    code="E_MODEL_FRAMEWORK",
                )
        if data.setdefault("model", model) != model:
            raise ModelError(
                f"training.model_type {model_type} means model {model!r}, but training.model is "
                f"{data['model']!r}; keep one of them",
                code="E_MODEL_UNKNOWN",
            )
    if "model" not in data and data.get("framework") in DEFAULT_MODELS:
        data["model"] = DEFAULT_MODELS[data["framework"]]
    return data


def implied_task_type(model_type: str | None) -> str | None:
    return None if model_type is None else model_for_type(model_type)[2]
