"""How a scikit-learn estimator is stored in a model file (``model.py``), and rebuilt safely.

The body is the estimator tree: class names, constructor parameters and the non-array
fitted state as JSON; the arrays are tensors. Loading never executes code from the file:
classes come from a fixed allow-list, are built from their JSON parameters, and get
their fitted state assigned.

Tree families. A fitted ``sklearn.tree._tree.Tree`` is a Cython object: it is stored
through its ``__getstate__`` (sizes as JSON, values as a tensor, and its node records, a
NumPy structured array, one tensor per field: the records' padding bytes are whatever
memory held, so storing them raw would break "same model, same bytes"). HistGradientBoosting's
``TreePredictor`` nodes are stored the same way. An ensemble's trees are stored as one stack
(``tree_stack``, ``predictor_stack``): what they share once, each node field concatenated
over all of them, so a file holds a dozen tensors, not ten per tree. Loading rebuilds the
records with the installed scikit-learn's own dtype and refuses a file whose fields differ.
Then it checks what compiled code will trust without bounds checks before any prediction
runs: every split's children come after it and each node but the root has exactly one
parent (so every walk ends inside the array), every split reads a feature the model has, a
gradient-boosting grid has as many columns as its initial prediction. A crafted file is
refused, not run.

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
_DECISION_TREES = frozenset(
    {
        "sklearn.tree.DecisionTreeClassifier",
        "sklearn.tree.DecisionTreeRegressor",
        "sklearn.tree.ExtraTreeClassifier",
        "sklearn.tree.ExtraTreeRegressor",
    }
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

# Parameters that describe the machine that fitted, not the model: stored as null.
_MACHINE_PARAMS: dict[str, tuple[str, ...]] = {"sklearn.ensemble._BinMapper": ("n_threads",)}

# What ``Tree.__getstate__`` returns in the scikit-learn versions this format knows.
_TREE_STATE = frozenset({"max_depth", "node_count", "nodes", "values"})


@cache
def _allowed_sklearn_classes() -> dict[str, type]:
    # Imported lazily: these are the only classes a model file may name. A Tree and
    # HistGradientBoosting's TreePredictor are not estimators: they have their own entries
    # in the body ("tree", "tree_stack", "predictor_stack"), and are only ever built by
    # _build_tree and _decode_predictor_stack, after their checks.
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
            raise ModelError(f"{where} is {value}; a model file cannot store non-finite numbers", code="E_MODEL_NONFINITE")
        return value
    raise ModelError(f"{where} has type {type(value).__name__}, which a model file cannot store", code="E_MODEL_UNSUPPORTED")


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


def _refuse(message: str) -> ModelError:
    return ModelError(f"{message}; refusing to load the model file", code="E_MODEL_FORMAT")


class _Encoder:
    """Walks an estimator, putting arrays into ``tensors`` and the rest into JSON."""

    def __init__(self) -> None:
        from sklearn.base import BaseEstimator
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
        from sklearn.tree._tree import Tree

        self.tensors: dict[str, np.ndarray] = {}
        self._types = (BaseEstimator, Tree, TreePredictor)

    def value(self, value: Any, name: str) -> dict:
        estimator_type, tree_type, _ = self._types
        if isinstance(value, estimator_type):
            return {"estimator": self.estimator(value, name)}
        if isinstance(value, tree_type):
            return {"tree": self.tree(value, name)}
        if isinstance(value, (list, np.ndarray)):
            stacked = self.tree_stack(value, name) or self.predictor_stack(value, name)
            if stacked is not None:
                return stacked
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                self.tensors[name] = np.ascontiguousarray(value)
                return {"tensor": name}
            if value.dtype.kind in "OU" and all(isinstance(v, str) for v in value.ravel()):
                return {"strings": [str(v) for v in value.ravel()], "shape": list(value.shape)}
            if value.dtype.kind == "O" and value.size and all(isinstance(v, estimator_type) for v in value.ravel()):
                # Estimators in an array (GradientBoosting's stages) that tree_stack cannot share.
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
        params, state = self._params_and_state(estimator, class_name, name)
        node: dict[str, Any] = {"class": class_name}
        if class_name == "sklearn.pipeline.Pipeline":
            node["steps"] = [[step, self.estimator(est, f"{name}.{step}")] for step, est in estimator.steps]
        node["params"] = params
        node["state"] = {key: self.value(val, f"{name}.{key}") for key, val in sorted(state.items())}
        return node

    @staticmethod
    def _params_and_state(estimator: Any, class_name: str, name: str) -> tuple[dict, dict]:
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

    def records(self, records: np.ndarray, name: str) -> dict:
        """A structured array, one tensor per field (never its raw bytes: see the module docstring)."""
        return {
            "fields": {
                field: self.value(np.ascontiguousarray(records[field]), f"{name}.{field}")
                for field in records.dtype.names
            }
        }

    def tree(self, tree: Any, name: str) -> dict:
        state = _tree_state(tree, name)
        return {
            **_tree_sizes(tree),
            "max_depth": int(state["max_depth"]),
            "node_count": int(state["node_count"]),
            "nodes": self.records(state["nodes"], f"{name}.nodes"),
            "values": self.value(state["values"], f"{name}.values"),
        }

    def tree_stack(self, value: list | np.ndarray, name: str) -> dict | None:
        """A forest's or a boosting grid's trees in one set of tensors, or None if they differ.

        An ensemble's trees share their class, their parameters but random_state, their
        fitted state but the tree itself, and their sizes: stored once, with per-tree
        lists for the rest, and each node field concatenated over the trees. One entry per
        tree would cost two to three times the arrays' own bytes in headers, and hit
        safetensors' 100 MB header limit at some ten thousand trees.
        """
        is_array = isinstance(value, np.ndarray)
        if is_array and value.dtype.kind != "O":
            return None
        items = list(value.ravel()) if is_array else list(value)
        class_name = _class_name(items[0]) if items else ""
        if class_name not in _DECISION_TREES:
            return None
        cls = _allowed_sklearn_classes()[class_name]
        if any(type(t) is not cls for t in items):
            return None
        encoded = [self._params_and_state(t, class_name, f"{name}.{i}") for i, t in enumerate(items)]
        params = [p for p, _ in encoded]
        states = [{key: val for key, val in state.items() if key != "tree_"} for _, state in encoded]
        trees = [t.tree_ for t in items]
        if not all(_same_state(states[0], state) for state in states) or any(
            _tree_sizes(t) != _tree_sizes(trees[0]) for t in trees
        ):
            return None
        varying = sorted(
            key for key in params[0] if any(_json_key(p[key]) != _json_key(params[0][key]) for p in params)
        )
        tree_states = [_tree_state(t, name) for t in trees]
        return {
            "tree_stack": {
                "class": class_name,
                "shape": list(value.shape) if is_array else [len(items)],
                "array": is_array,
                "params": {key: val for key, val in params[0].items() if key not in varying},
                "params_per_tree": {key: [p[key] for p in params] for key in varying},
                "state": {key: self.value(val, f"{name}.{key}") for key, val in sorted(states[0].items())},
                "trees": {
                    **_tree_sizes(trees[0]),
                    "max_depth": [int(state["max_depth"]) for state in tree_states],
                    "node_count": [int(state["node_count"]) for state in tree_states],
                    "nodes": self.records(np.concatenate([s["nodes"] for s in tree_states]), f"{name}.nodes"),
                    "values": self.value(np.concatenate([s["values"] for s in tree_states]), f"{name}.values"),
                },
            }
        }

    def predictor_stack(self, value: list | np.ndarray, name: str) -> dict | None:
        """HistGradientBoosting's predictors (a list per iteration), as ``tree_stack`` does trees."""
        predictor_type = self._types[2]
        if not (
            isinstance(value, list)
            and value
            and all(isinstance(stage, list) and len(stage) == len(value[0]) for stage in value)
            and value[0]
            and all(isinstance(p, predictor_type) for stage in value for p in stage)
        ):
            return None
        predictors = [p for stage in value for p in stage]
        # Categorical splits need bitsets and a preprocessor, which model files do not hold;
        # without them both bitset arrays are empty, and rebuilt so on load.
        if any(p.nodes["is_categorical"].any() or p.raw_left_cat_bitsets.size for p in predictors):
            raise ModelError(f"{name}: categorical splits cannot be saved", code="E_MODEL_UNSUPPORTED")
        return {
            "predictor_stack": {
                "shape": [len(value), len(value[0])],
                "node_count": [len(p.nodes) for p in predictors],
                "nodes": self.records(np.concatenate([p.nodes for p in predictors]), f"{name}.nodes"),
            }
        }


def _tree_state(tree: Any, name: str) -> dict:
    state = tree.__getstate__()
    if set(state) != _TREE_STATE:
        raise ModelError(
            f"{name}: this scikit-learn's tree state has {', '.join(sorted(state))}; "
            f"model files know {', '.join(sorted(_TREE_STATE))}",
            code="E_MODEL_UNSUPPORTED",
        )
    return state


def _tree_sizes(tree: Any) -> dict:
    """What a Tree is constructed with."""
    return {
        "n_classes": [int(n) for n in tree.n_classes],
        "n_features": int(tree.n_features),
        "n_outputs": int(tree.n_outputs),
    }


def _json_key(value: Any) -> tuple:
    # Parameters compared as JSON: 1, 1.0 and True are equal in Python but not in a file.
    return (type(value).__name__, repr(value))


def _same_state(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if type(x) is not type(y):
            return False
        if isinstance(x, (np.ndarray, np.generic)):
            if x.dtype != y.dtype or np.shape(x) != np.shape(y) or not np.array_equal(x, y):
                return False
        elif not (x is y or (isinstance(x, (bool, int, float, str)) and x == y)):
            return False
    return True


def _decode_value(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "strings" in node:
        return np.array(node["strings"], dtype=object).reshape(node["shape"])
    if "scalar" in node:
        return np.dtype(node["dtype"]).type(node["scalar"])
    if "list" in node:
        return [_decode_value(item, tensors) for item in node["list"]]
    if "estimator" in node:
        return _decode_estimator(node["estimator"], tensors)
    if "tree" in node:
        return _decode_tree(node["tree"], tensors)
    if "tree_stack" in node:
        return _decode_tree_stack(node["tree_stack"], tensors)
    if "predictor_stack" in node:
        return _decode_predictor_stack(node["predictor_stack"], tensors)
    if "objects" in node:
        items = [_decode_value(item, tensors) for item in node["objects"]]
        grid = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            grid[i] = item
        return grid.reshape(node["shape"])
    return node["value"]


def _allowed_class(class_name: Any) -> type:
    cls = _allowed_sklearn_classes().get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ModelError(
            f"model file names class {class_name!r}, which is not on the allow-list; refusing to load it",
            code="E_MODEL_UNTRUSTED",
        )
    return cls


def _decode_state(state: dict, tensors: dict[str, np.ndarray]) -> dict:
    for key in state:
        if key.startswith("__") or not (key.endswith("_") or key.startswith("_")):
            raise ModelError(f"model file sets {key!r}, which is not fitted state", code="E_MODEL_UNTRUSTED")
    return {key: _decode_value(value, tensors) for key, value in state.items()}


def _decode_estimator(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    class_name = node.get("class", "")
    cls = _allowed_class(class_name)
    params = dict(node["params"])
    if "steps" in node:
        params["steps"] = [(step, _decode_estimator(child, tensors)) for step, child in node["steps"]]
    estimator = cls(**params)
    for key, value in _decode_state(node["state"], tensors).items():
        setattr(estimator, key, value)
    _rebuild(class_name, estimator)
    return estimator


def _int(value: Any, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _refuse(f"{what} is {value!r}, not an integer of at least {minimum}")
    return value


def _decode_records(node: dict, tensors: dict[str, np.ndarray], dtype: np.dtype, what: str) -> np.ndarray:
    """A structured array with the installed scikit-learn's ``dtype``, from one tensor per field."""
    import sklearn

    fields = node["fields"]
    if sorted(fields) != sorted(dtype.names):
        raise ModelError(
            f"the {what} in this model file have the fields {', '.join(sorted(fields))}, but the installed "
            f"scikit-learn {sklearn.__version__} has {', '.join(sorted(dtype.names))}: the file was written "
            "by another scikit-learn version; refusing to load it",
            code="E_MODEL_FORMAT",
        )
    columns = {field: _decode_value(fields[field], tensors) for field in dtype.names}
    lengths = {column.shape if isinstance(column, np.ndarray) else None for column in columns.values()}
    if len(lengths) != 1 or None in lengths or len(next(iter(lengths))) != 1:
        raise _refuse(f"the {what}' fields are not arrays of one length")
    records = np.zeros(next(iter(lengths)), dtype=dtype)
    for field, column in columns.items():
        target = dtype.fields[field][0]
        # A field of another width is fine if every value survives the cast (a file from a
        # platform with another intp); anything else is not the same tree.
        cast = column.astype(target)
        if column.dtype.kind != target.kind or not np.array_equal(cast, column, equal_nan=target.kind == "f"):
            raise _refuse(f"the {what}' field {field} holds {column.dtype}, which does not fit {target}")
        records[field] = cast
    return records


def _check_links(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, what: str) -> int:
    """Check the links compiled prediction code follows unchecked; return the tree's depth.

    Every split's children come after it and every node but the root is the child of
    exactly one split: each walk from the root moves forward and ends on a leaf inside the
    array.
    """
    n_nodes = len(left)
    if n_nodes == 0:
        raise _refuse(f"{what} has no nodes")
    index = np.arange(n_nodes)
    split = ~leaf
    parents = index[split]
    left_of, right_of = left[split].astype(np.int64), right[split].astype(np.int64)
    in_order = (left_of > parents) & (left_of < n_nodes) & (right_of > parents) & (right_of < n_nodes)
    children = np.sort(np.concatenate([left_of, right_of]))
    if not (in_order.all() and np.array_equal(children, index[1:])):
        raise _refuse(f"{what} has a split whose children are out of order, out of range or shared")
    depth, level = 0, np.zeros(1, dtype=np.int64)
    while True:
        level = level[split[level]]
        if not level.size:
            return depth
        level = np.concatenate([left[level], right[level]]).astype(np.int64)
        depth += 1


def _check_features(feature: np.ndarray, leaf: np.ndarray, n_features: int, what: str) -> None:
    """Every split reads one of the ``n_features`` columns prediction is given."""
    split_features = feature[~leaf]
    if ((split_features < 0) | (split_features >= n_features)).any():
        raise _refuse(f"{what} splits on a feature outside the model's {n_features}")


def _build_tree(sizes: tuple[int, list[int], int], max_depth: Any, nodes: np.ndarray, values: Any) -> Any:
    """A Tree from checked parts: the only way a file's nodes reach compiled code."""
    from sklearn.tree._tree import TREE_LEAF, Tree

    n_features, n_classes, n_outputs = sizes
    max_depth = _int(max_depth, "a tree's max_depth", 0)
    leaf = nodes["left_child"] == TREE_LEAF
    if not (nodes["right_child"][leaf] == TREE_LEAF).all():
        raise _refuse("a tree has a node with one child")
    depth = _check_links(nodes["left_child"], nodes["right_child"], leaf, "a tree")
    _check_features(nodes["feature"], leaf, n_features, "a tree")
    # decision_path sizes its buffers by max_depth: it must be the real depth.
    if depth != max_depth:
        raise _refuse(f"a tree says its depth is {max_depth} but it is {depth}")
    if not isinstance(values, np.ndarray):
        raise _refuse("a tree's values are not an array")
    tree = Tree(n_features, np.asarray(n_classes, dtype=np.intp), n_outputs)
    # __setstate__ itself checks the values' dtype and shape against the sizes.
    tree.__setstate__({"max_depth": max_depth, "node_count": len(nodes), "nodes": nodes, "values": values})
    return tree


def _decode_tree_sizes(node: dict) -> tuple[int, list[int], int]:
    n_features = _int(node["n_features"], "a tree's n_features", 1)
    n_outputs = _int(node["n_outputs"], "a tree's n_outputs", 1)
    n_classes = [_int(n, "a tree's n_classes", 1) for n in node["n_classes"]]
    if len(n_classes) != n_outputs:
        raise _refuse(f"a tree has {n_outputs} output(s) but {len(n_classes)} class count(s)")
    return n_features, n_classes, n_outputs


def _decode_tree(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    from sklearn.tree._tree import NODE_DTYPE

    nodes = _decode_records(node["nodes"], tensors, NODE_DTYPE, "tree nodes")
    if _int(node["node_count"], "a tree's node_count", 1) != len(nodes):
        raise _refuse(f"a tree says it has {node['node_count']} nodes but stores {len(nodes)}")
    return _build_tree(_decode_tree_sizes(node), node["max_depth"], nodes, _decode_value(node["values"], tensors))


def _stack_bounds(counts: Any, n_items: int, n_rows: int, what: str) -> list[tuple[int, int]]:
    """Where each of ``n_items`` trees' rows lie in the concatenated arrays."""
    if not isinstance(counts, list) or len(counts) != n_items:
        raise _refuse(f"{what} lists {len(counts) if isinstance(counts, list) else counts!r} node counts for {n_items}")
    ends = np.cumsum([_int(count, f"{what}'s node count", 1) for count in counts])
    if not n_items or ends[-1] != n_rows:
        raise _refuse(f"{what}'s node counts do not add up to its {n_rows} nodes")
    return list(zip([0, *ends[:-1].tolist()], ends.tolist()))


def _stack_shape(shape: Any, what: str) -> tuple[list[int], int]:
    if not (isinstance(shape, list) and shape and all(isinstance(n, int) and n >= 1 for n in shape)):
        raise _refuse(f"{what} has the shape {shape!r}")
    return shape, int(np.prod(shape))


def _decode_tree_stack(node: dict, tensors: dict[str, np.ndarray]) -> Any:
    from sklearn.tree._tree import NODE_DTYPE

    class_name = node["class"]
    cls = _allowed_class(class_name)
    if class_name not in _DECISION_TREES:
        raise _refuse(f"a stack of trees names {class_name}")
    shape, n_items = _stack_shape(node["shape"], "a stack of trees")
    per_tree = node["params_per_tree"]
    if any(not isinstance(values, list) or len(values) != n_items for values in per_tree.values()):
        raise _refuse(f"a stack of trees does not list per-tree parameters for its {n_items} trees")
    trees_node = node["trees"]
    sizes = _decode_tree_sizes(trees_node)
    nodes = _decode_records(trees_node["nodes"], tensors, NODE_DTYPE, "tree nodes")
    values = _decode_value(trees_node["values"], tensors)
    if not isinstance(values, np.ndarray) or len(values) != len(nodes):
        raise _refuse("a stack of trees has values for another number of nodes")
    max_depths = trees_node["max_depth"]
    if not isinstance(max_depths, list) or len(max_depths) != n_items:
        raise _refuse(f"a stack of trees does not list depths for its {n_items} trees")
    bounds = _stack_bounds(trees_node["node_count"], n_items, len(nodes), "a stack of trees")
    # The state the trees share is decoded once and shared: prediction only reads it.
    state = _decode_state(node["state"], tensors)
    estimators = []
    for i, (start, end) in enumerate(bounds):
        estimator = cls(**node["params"], **{key: values_[i] for key, values_ in per_tree.items()})
        for key, value in state.items():
            setattr(estimator, key, value)
        estimator.tree_ = _build_tree(sizes, max_depths[i], nodes[start:end], values[start:end])
        _rebuild(class_name, estimator)
        estimators.append(estimator)
    if not node["array"]:
        return estimators
    grid = np.empty(n_items, dtype=object)
    for i, estimator in enumerate(estimators):
        grid[i] = estimator
    return grid.reshape(shape)


def _decode_predictor_stack(node: dict, tensors: dict[str, np.ndarray]) -> list[list[Any]]:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE, X_BITSET_INNER_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    shape, n_items = _stack_shape(node["shape"], "a stack of HistGradientBoosting trees")
    if len(shape) != 2:
        raise _refuse(f"a stack of HistGradientBoosting trees has the shape {shape}")
    nodes = _decode_records(node["nodes"], tensors, PREDICTOR_RECORD_DTYPE, "HistGradientBoosting tree nodes")
    if nodes["is_categorical"].any():
        raise _refuse("a HistGradientBoosting tree has categorical splits, which model files do not hold")
    bounds = _stack_bounds(node["node_count"], n_items, len(nodes), "a stack of HistGradientBoosting trees")
    predictors = []
    for start, end in bounds:
        tree = nodes[start:end]
        _check_links(tree["left"], tree["right"], tree["is_leaf"] != 0, "a HistGradientBoosting tree")
        no_bitsets = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        predictors.append(TreePredictor(tree, no_bitsets, no_bitsets.copy()))
    width = shape[1]
    return [predictors[i : i + width] for i in range(0, n_items, width)]


def _rebuild(class_name: str, estimator: Any) -> None:
    """Remake what the file leaves out (``_LEFT_OUT``); check what compiled code will trust.

    Called on every decoded estimator, innermost first, so an ensemble's trees are already
    checked here. Mismatches that only make NumPy raise are left to NumPy.
    """
    if class_name in _DECISION_TREES:
        from sklearn.tree._tree import Tree

        # Inside an ensemble, rows are checked against the ensemble only: this check and the
        # ensemble's tie every tree to the columns it is given.
        if not isinstance(estimator.tree_, Tree) or estimator.tree_.n_features != estimator.n_features_in_:
            raise _refuse(f"a {class_name}'s tree does not read its {estimator.n_features_in_} features")
    elif class_name in _FORESTS:
        estimator.estimator_ = estimator.estimator
        trees = estimator.estimators_
        if not isinstance(trees, list) or not trees:
            raise _refuse(f"a {class_name} has no list of trees")
        for tree in trees:
            if type(tree) is not type(estimator.estimator) or tree.n_features_in_ != estimator.n_features_in_:
                raise _refuse(f"a {class_name} holds a tree that does not fit it")
    elif class_name in _GRADIENT_BOOSTING:
        from sklearn.tree import DecisionTreeRegressor

        estimator._loss = estimator._get_loss(sample_weight=None)
        grid = estimator.estimators_
        if not (isinstance(grid, np.ndarray) and grid.ndim == 2 and grid.size):
            raise _refuse(f"a {class_name}'s stages are not a grid of trees")
        for tree in grid.ravel():
            if type(tree) is not DecisionTreeRegressor or tree.n_features_in_ != estimator.n_features_in_:
                raise _refuse(f"a {class_name} holds a stage that does not fit it")
        # Stages write column k of the initial prediction unchecked: the columns must match.
        # The initial prediction is the init estimator's (a Dummy*), plain Python to run.
        probe = np.zeros((1, estimator.n_features_in_), dtype=np.float32)
        columns = estimator._raw_predict_init(probe).shape
        if grid.shape[1] != estimator.n_trees_per_iteration_ or columns != (1, grid.shape[1]):
            raise _refuse(f"a {class_name}'s stages do not match its initial prediction")
    elif class_name in _HIST_GRADIENT_BOOSTING:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        estimator._loss = estimator._get_loss(sample_weight=None)
        # Rows reach the trees as they are only without a preprocessor (which would change
        # the columns the trees index); model files never hold one.
        if estimator._preprocessor is not None:
            raise _refuse(f"a {class_name} has a preprocessor")
        for stage in estimator._predictors:
            if not isinstance(stage, list) or len(stage) != estimator.n_trees_per_iteration_:
                raise _refuse(f"a {class_name}'s stage does not have {estimator.n_trees_per_iteration_} trees")
            for predictor in stage:
                if not isinstance(predictor, TreePredictor):
                    raise _refuse(f"a {class_name} holds something other than trees")
                nodes = predictor.nodes
                _check_features(nodes["feature_idx"], nodes["is_leaf"] != 0, estimator.n_features_in_, "a tree")


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
        return _decode_estimator(description["model"], tensors)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        # A malformed body (a missing key, a value of the wrong kind, a tree whose values do
        # not fit its sizes): the file is not one this format wrote.
        raise ModelError(
            f"malformed scikit-learn model description ({type(exc).__name__}: {exc})", code="E_MODEL_FORMAT"
        ) from exc
