"""How a scikit-learn estimator is stored in a model file (``model.py``), and rebuilt safely.

The body is the estimator tree: class names, constructor parameters and the non-array
fitted state as JSON; the arrays are tensors. Loading never executes code from the file:
classes come from a fixed allow-list, are built from their JSON parameters, and get
their fitted state assigned.

This module owns the format's name, the allow-list, the generic walk that encodes and
decodes an estimator, and the estimator-level checks of ``_rebuild`` (an ensemble holds trees
that fit it; a gradient-boosting grid has as many columns as its initial prediction). Trees
themselves (a ``Tree``, node records, the stacks of an ensemble's trees, and the structural
checks before compiled code walks them) are ``sklearn_trees``'.

Live objects are never stored: losses are rebuilt from the parameters, random generators
(they only serve fitting) are left out; see ``_LEFT_OUT`` and ``_rebuild``.

Why not skops: its import enumerates every scikit-learn estimator (and, with torch
installed, imports torch), about 1.6 s on this machine, which alone breaks the dry run's
5 s budget. The estimators our trainers produce have plain array state, which this
format stores without any of that cost.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.training.sklearn_trees import (
    DECISION_TREES,
    EstimatorDecoding,
    check_features,
    decode_predictor_stack,
    decode_tree,
    decode_tree_stack,
    encode_predictor_stack,
    encode_tree,
    encode_tree_stack,
    refuse,
)

SKLEARN_FORMAT = "hokusai-sklearn/v1"

_FORESTS = frozenset(
    {
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.ExtraTreesClassifier",
        "sklearn.ensemble.ExtraTreesRegressor",
    }
)
_GRADIENT_BOOSTING = frozenset(
    {"sklearn.ensemble.GradientBoostingClassifier", "sklearn.ensemble.GradientBoostingRegressor"}
)
_HIST_GRADIENT_BOOSTING = frozenset(
    {"sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.ensemble.HistGradientBoostingRegressor"}
)

# Fitted attributes a file leaves out: what prediction never reads, and live objects that
# ``_rebuild`` makes again from the parameters.
_LEFT_OUT: dict[str, frozenset[str]] = {
    # The forest's unfitted template, the very object __init__ stores as ``estimator``.
    **dict.fromkeys(_FORESTS, frozenset({"estimator_"})),
    # The loss (rebuilt) and the random generator the stages were fitted with.
    **dict.fromkeys(_GRADIENT_BOOSTING, frozenset({"_loss", "_rng"})),
    # The loss (rebuilt); the feature-subsampling generator, the label encoder of the
    # validation split and the early-stopping scorer serve fitting only. Early stopping on a
    # scorer also leaves the instance a copy of its own _raw_predict method (it patches it
    # while scoring, and puts the bound method back on the instance).
    **dict.fromkeys(
        _HIST_GRADIENT_BOOSTING,
        frozenset({"_loss", "_feature_subsample_rng", "_label_encoder", "_scorer", "_raw_predict"}),
    ),
}

# Where a class may sit: "model" (the file's model), "step" (a Pipeline step, the default),
# "tree_stack" (the trees of an ensemble), or the fitted attribute that holds it. A class on
# the allow-list is still refused elsewhere: the checks in _rebuild (and compiled code) rely
# on, for example, a _BinMapper being a HistGradientBoosting's and a bare tree an ensemble's.
_PLACES: dict[str, set[str]] = {
    "sklearn.pipeline.Pipeline": {"model"},
    "sklearn.ensemble._BinMapper": {"_bin_mapper"},
    "sklearn.dummy.DummyClassifier": {"init_"},
    "sklearn.dummy.DummyRegressor": {"init_"},
    **{name: {"tree_stack"} for name in DECISION_TREES},
}

# Parameters that describe the machine that fitted, not the model: stored as null.
_MACHINE_PARAMS: dict[str, tuple[str, ...]] = {"sklearn.ensemble._BinMapper": ("n_threads",)}


@cache
def _allowed_sklearn_classes() -> dict[str, type]:
    # Imported lazily: these are the only classes a model file may name. A Tree and
    # HistGradientBoosting's TreePredictor are not estimators: they have their own entries
    # in the body ("tree", "tree_stack", "predictor_stack"), and are only ever built by
    # sklearn_trees, after its checks.
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor

    classes = (
        Pipeline,
        StandardScaler,
        LogisticRegression,
        Ridge,
        LinearRegression,
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        DecisionTreeClassifier,
        DecisionTreeRegressor,
        ExtraTreeClassifier,
        ExtraTreeRegressor,
        DummyClassifier,
        DummyRegressor,
        _BinMapper,
    )
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
            raise ModelError(
                f"{where} is {value}; a model file cannot store non-finite numbers", code="E_MODEL_NONFINITE"
            )
        return value
    raise ModelError(
        f"{where} has type {type(value).__name__}, which a model file cannot store", code="E_MODEL_UNSUPPORTED"
    )


def _json_param(value: Any, where: str) -> Any:
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        # A gradient-boosting stage's random_state is the ensemble's generator while
        # fitting: machinery, not a setting, and prediction never reads it.
        return None
    if isinstance(value, np.generic):
        # A bin mapper's random_state is its ensemble's np.uint64 seed.
        return _json_scalar(value.item(), where)
    if isinstance(value, (list, tuple)):
        # Settings such as monotonic_cst and interaction_cst; a tuple comes back as a list,
        # which scikit-learn takes alike.
        return [_json_param(item, f"{where}.{i}") for i, item in enumerate(value)]
    return _json_scalar(value, where)


class _Encoder:
    """Walks an estimator, putting arrays into ``tensors`` and the rest into JSON.

    Trees and stacks of them are encoded by ``sklearn_trees``, which calls back ``value``,
    ``params_and_state`` and ``allowed_name`` (its ``EstimatorEncoder``).
    """

    def __init__(self) -> None:
        from sklearn.base import BaseEstimator
        from sklearn.tree._tree import Tree

        self.tensors: dict[str, np.ndarray] = {}
        self._types = (BaseEstimator, Tree)

    def value(self, value: Any, name: str) -> dict:
        estimator_type, tree_type = self._types
        if isinstance(value, estimator_type):
            return {"estimator": self.estimator(value, name)}
        if isinstance(value, tree_type):
            return {"tree": encode_tree(value, name, self)}
        if isinstance(value, (list, np.ndarray)):
            stacked = encode_tree_stack(value, name, self) or encode_predictor_stack(value, name, self)
            if stacked is not None:
                return stacked
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                self.tensors[name] = np.ascontiguousarray(value)
                return {"tensor": name}
            if value.dtype.kind in "OU" and all(isinstance(v, str) for v in value.ravel()):
                return {"strings": [str(v) for v in value.ravel()], "shape": list(value.shape)}
            if value.dtype.kind == "O" and value.size and all(isinstance(v, estimator_type) for v in value.ravel()):
                # Estimators in an array (GradientBoosting's stages) that a tree stack cannot share.
                items = [self.value(v, f"{name}.{i}") for i, v in enumerate(value.ravel())]
                return {"objects": items, "shape": list(value.shape)}
            raise ModelError(f"{name}: arrays of {value.dtype} cannot be stored", code="E_MODEL_UNSUPPORTED")
        if isinstance(value, np.generic):
            return {"scalar": _json_scalar(value.item(), name), "dtype": value.dtype.str}
        if isinstance(value, (list, tuple)) and value:
            return {"list": [self.value(v, f"{name}.{i}") for i, v in enumerate(value)]}
        return {"value": _json_scalar(value, name)}

    def estimator(self, estimator: Any, name: str) -> dict:
        class_name = _class_name(estimator)
        if _allowed_sklearn_classes().get(class_name) is not type(estimator):
            raise ModelError(
                f"{class_name} cannot be saved: model files support {', '.join(sorted(_allowed_sklearn_classes()))}",
                code="E_MODEL_UNSUPPORTED",
            )
        if class_name in _HIST_GRADIENT_BOOSTING and estimator._preprocessor is not None:
            raise ModelError(
                f"{name}: a HistGradientBoosting model with categorical features cannot be saved; "
                "model files hold numeric splits only",
                code="E_MODEL_UNSUPPORTED",
            )
        params, state = self.params_and_state(estimator, class_name, name)
        node: dict[str, Any] = {"class": class_name}
        if class_name == "sklearn.pipeline.Pipeline":
            node["steps"] = [[step, self.estimator(est, f"{name}.{step}")] for step, est in estimator.steps]
        node["params"] = params
        node["state"] = {key: self.value(val, f"{name}.{key}") for key, val in sorted(state.items())}
        return node

    @staticmethod
    def params_and_state(estimator: Any, class_name: str, name: str) -> tuple[dict, dict]:
        """The JSON parameters, and the fitted state still to encode."""
        params = estimator.get_params(deep=False)
        # What __init__ sets (the parameters, a forest's template) is remade on load, not stored.
        set_by_init = set(vars(type(estimator)(**params)))
        params.pop("steps", None)  # a Pipeline's, stored as its own list
        for key in _MACHINE_PARAMS.get(class_name, ()):
            params[key] = None
        left_out = set_by_init | _LEFT_OUT.get(class_name, frozenset())
        state = {key: val for key, val in vars(estimator).items() if key not in left_out}
        return {key: _json_param(val, f"{name}.{key}") for key, val in sorted(params.items())}, state

    @staticmethod
    def allowed_name(obj: Any) -> str | None:
        """The allow-list's name for the class of ``obj``, or None if that very class is not on it."""
        class_name = _class_name(obj)
        return class_name if _allowed_sklearn_classes().get(class_name) is type(obj) else None


def _decode_value(node: dict, tensors: dict[str, np.ndarray], place: str = "value") -> Any:
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "strings" in node:
        return np.array(node["strings"], dtype=object).reshape(node["shape"])
    if "scalar" in node:
        return np.dtype(node["dtype"]).type(node["scalar"])
    if "list" in node:
        return [_decode_value(item, tensors, place) for item in node["list"]]
    if "estimator" in node:
        return _decode_estimator(node["estimator"], tensors, place)
    if "tree" in node:
        return decode_tree(node["tree"], tensors, _DECODING)
    if "tree_stack" in node:
        return decode_tree_stack(node["tree_stack"], tensors, _DECODING)
    if "predictor_stack" in node:
        return decode_predictor_stack(node["predictor_stack"], tensors, _DECODING)
    if "objects" in node:
        items = [_decode_value(item, tensors) for item in node["objects"]]
        grid = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            grid[i] = item
        return grid.reshape(node["shape"])
    return node["value"]


def _allowed_class(class_name: Any, place: str) -> type:
    """The allow-listed class of a name, if the file puts it where hokusai does."""
    cls = _allowed_sklearn_classes().get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ModelError(
            f"model file names class {class_name!r}, which is not on the allow-list; refusing to load it",
            code="E_MODEL_UNTRUSTED",
        )
    places = _PLACES.get(class_name, {"step"})
    if place not in places:
        raise ModelError(
            f"model file puts a {class_name} at {place!r}; hokusai writes one only at {', '.join(sorted(places))}, "
            "so it is refused",
            code="E_MODEL_UNTRUSTED",
        )
    return cls


def _decode_state(state: dict, tensors: dict[str, np.ndarray]) -> dict:
    for key in state:
        if key.startswith("__") or not (key.endswith("_") or key.startswith("_")):
            raise ModelError(f"model file sets {key!r}, which is not fitted state", code="E_MODEL_UNTRUSTED")
    return {key: _decode_value(value, tensors, key) for key, value in state.items()}


def _decode_estimator(node: dict, tensors: dict[str, np.ndarray], place: str) -> Any:
    class_name = node.get("class", "")
    cls = _allowed_class(class_name, place)
    params = dict(node["params"])
    if "steps" in node:
        params["steps"] = [(step, _decode_estimator(child, tensors, "step")) for step, child in node["steps"]]
    estimator = cls(**params)
    for key, value in _decode_state(node["state"], tensors).items():
        setattr(estimator, key, value)
    _rebuild(class_name, estimator)
    return estimator


def _rebuild(class_name: str, estimator: Any) -> None:
    """Remake what the file leaves out (``_LEFT_OUT``); check what compiled code will trust.

    Called on every decoded estimator, innermost first, so an ensemble's trees are already
    checked here. Mismatches that only make NumPy raise are left to NumPy.
    """
    if class_name in DECISION_TREES:
        from sklearn.tree._tree import Tree

        # Inside an ensemble, rows are checked against the ensemble only: this check and the
        # ensemble's tie every tree to the columns it is given.
        if not isinstance(estimator.tree_, Tree) or estimator.tree_.n_features != estimator.n_features_in_:
            raise refuse(f"a {class_name}'s tree does not read its {estimator.n_features_in_} features")
    elif class_name in _FORESTS:
        estimator.estimator_ = estimator.estimator
        trees = estimator.estimators_
        if not isinstance(trees, list) or not trees:
            raise refuse(f"a {class_name} has no list of trees")
        for tree in trees:
            if type(tree) is not type(estimator.estimator) or tree.n_features_in_ != estimator.n_features_in_:
                raise refuse(f"a {class_name} holds a tree that does not fit it")
    elif class_name in _GRADIENT_BOOSTING:
        from sklearn.tree import DecisionTreeRegressor

        estimator._loss = estimator._get_loss(sample_weight=None)
        grid = estimator.estimators_
        if not (isinstance(grid, np.ndarray) and grid.ndim == 2 and grid.size):
            raise refuse(f"a {class_name}'s stages are not a grid of trees")
        for tree in grid.ravel():
            if type(tree) is not DecisionTreeRegressor or tree.n_features_in_ != estimator.n_features_in_:
                raise refuse(f"a {class_name} holds a stage that does not fit it")
        # Stages write column k of the initial prediction unchecked: the columns must match.
        # The initial prediction is the init estimator's (a Dummy*), plain Python to run.
        probe = np.zeros((1, estimator.n_features_in_), dtype=np.float32)
        columns = estimator._raw_predict_init(probe).shape
        if grid.shape[1] != estimator.n_trees_per_iteration_ or columns != (1, grid.shape[1]):
            raise refuse(f"a {class_name}'s stages do not match its initial prediction")
    elif class_name in _HIST_GRADIENT_BOOSTING:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        estimator._loss = estimator._get_loss(sample_weight=None)
        # Rows reach the trees as they are only without a preprocessor (which would change
        # the columns the trees index); model files never hold one.
        if estimator._preprocessor is not None:
            raise refuse(f"a {class_name} has a preprocessor")
        for stage in estimator._predictors:
            if not isinstance(stage, list) or len(stage) != estimator.n_trees_per_iteration_:
                raise refuse(f"a {class_name}'s stage does not have {estimator.n_trees_per_iteration_} trees")
            for predictor in stage:
                if not isinstance(predictor, TreePredictor):
                    raise refuse(f"a {class_name} holds something other than trees")
                nodes = predictor.nodes
                check_features(nodes["feature_idx"], nodes["is_leaf"] != 0, estimator.n_features_in_, "a tree")


# The decoder's functions sklearn_trees calls back: a stack of trees is decoded there but its
# trees are estimators, built from the allow-list and rebuilt like any other.
_DECODING = EstimatorDecoding(value=_decode_value, allowed_class=_allowed_class, state=_decode_state, rebuild=_rebuild)


def encode_estimator(estimator: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """The estimator tree as (JSON body, tensors)."""
    encoder = _Encoder()
    body = encoder.estimator(estimator, "model")
    return body, encoder.tensors


def decode_estimator(description: dict, tensors: dict[str, np.ndarray]) -> Any:
    """Rebuild the estimator of a model file's description; only allow-listed classes."""
    if description.get("format") != SKLEARN_FORMAT:
        raise ModelError(f"unsupported model format {description.get('format')!r}", code="E_MODEL_FORMAT")
    try:
        return _decode_estimator(description["model"], tensors, "model")
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        # A malformed body (a missing key, a value of the wrong kind, a tree whose values do
        # not fit its sizes): the file is not one this format wrote.
        raise ModelError(
            f"malformed scikit-learn model description ({type(exc).__name__}: {exc})", code="E_MODEL_FORMAT"
        ) from exc
