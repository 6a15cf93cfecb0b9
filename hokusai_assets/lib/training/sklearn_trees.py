"""How a scikit-learn model file (``sklearn_files``) stores trees, and the checks before they are rebuilt.

This module owns the tree part of the format: a decision tree's ``Tree``, the node records of
it and of HistGradientBoosting's ``TreePredictor``, the stacks that hold an ensemble's trees,
and the structural checks a file's nodes pass before they are built into trees. It is its own
module because those checks are the part of loading that guards memory: scikit-learn's
compiled tree code walks nodes by index without bounds checks, so a crafted node array could
make prediction read outside it. Structure is checked here before anything is built.

Storing. A fitted ``sklearn.tree._tree.Tree`` is a Cython object: it is stored through its
``__getstate__`` (sizes as JSON, values as a tensor, and its node records, a NumPy structured
array, one tensor per field: the records' padding bytes are whatever memory held, so storing
them raw would break "same model, same bytes"). ``TreePredictor`` nodes are stored the same
way. An ensemble's trees are stored as one stack (``tree_stack``, ``predictor_stack``): what
they share once, each node field concatenated over all of them, so a file holds a dozen
tensors, not ten per tree.

Loading rebuilds the records with the installed scikit-learn's own dtype and refuses a file
whose fields differ. Then it checks what compiled code will trust before any prediction runs:
every split's children come after it and each node but the root has exactly one parent (so
every walk ends inside the array), every split reads a feature the model has. A crafted file
is refused, not run. (The estimator-level checks, such as a gradient-boosting grid having as
many columns as its initial prediction, are ``sklearn_files._rebuild``'s.)

``sklearn_files`` imports this module, so this one cannot import it back: what the tree code
needs of the generic format (encoding or decoding any other value, an estimator's parameters
and state, the allow-list) comes in as arguments, an ``EstimatorEncoder`` or an
``EstimatorDecoding``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from hokusai_assets.lib.errors import ModelError

# The estimators whose fitted ``tree_`` is a Tree: the only ones a tree stack may hold.
DECISION_TREES = frozenset(
    {
        "sklearn.tree.DecisionTreeClassifier",
        "sklearn.tree.DecisionTreeRegressor",
        "sklearn.tree.ExtraTreeClassifier",
        "sklearn.tree.ExtraTreeRegressor",
    }
)

# What ``Tree.__getstate__`` returns in the scikit-learn versions this format knows.
_TREE_STATE = frozenset({"max_depth", "node_count", "nodes", "values"})


def refuse(message: str) -> ModelError:
    """The error for a file that fails a check; ``sklearn_files`` raises it too."""
    return ModelError(f"{message}; refusing to load the model file", code="E_MODEL_FORMAT")


# Storing


class EstimatorEncoder(Protocol):
    """What the tree encoding needs of ``sklearn_files``' encoder."""

    def value(self, value: Any, name: str) -> dict:
        """Encode any value, putting its arrays into the encoder's tensors."""

    def params_and_state(self, estimator: Any, class_name: str, name: str) -> tuple[dict, dict]:
        """An estimator's JSON parameters, and the fitted state still to encode."""

    def allowed_name(self, obj: Any) -> str | None:
        """The allow-list's name for the class of ``obj``, or None if that class is not on it."""


def encode_tree(tree: Any, name: str, encoder: EstimatorEncoder) -> dict:
    state = _tree_state(tree, name)
    return {
        **_tree_sizes(tree),
        "max_depth": int(state["max_depth"]),
        "node_count": int(state["node_count"]),
        "nodes": _encode_records(state["nodes"], f"{name}.nodes", encoder),
        "values": encoder.value(state["values"], f"{name}.values"),
    }


def encode_tree_stack(value: list | np.ndarray, name: str, encoder: EstimatorEncoder) -> dict | None:
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
    class_name = encoder.allowed_name(items[0]) if items else None
    if class_name not in DECISION_TREES or any(type(t) is not type(items[0]) for t in items):
        return None
    encoded = [encoder.params_and_state(t, class_name, f"{name}.{i}") for i, t in enumerate(items)]
    params = [p for p, _ in encoded]
    states = [{key: val for key, val in state.items() if key != "tree_"} for _, state in encoded]
    trees = [t.tree_ for t in items]
    if not all(_same_state(states[0], state) for state in states) or any(
        _tree_sizes(t) != _tree_sizes(trees[0]) for t in trees
    ):
        return None
    varying = sorted(key for key in params[0] if any(_json_key(p[key]) != _json_key(params[0][key]) for p in params))
    tree_states = [_tree_state(t, name) for t in trees]
    return {
        "tree_stack": {
            "class": class_name,
            "shape": list(value.shape) if is_array else [len(items)],
            "array": is_array,
            "params": {key: val for key, val in params[0].items() if key not in varying},
            "params_per_tree": {key: [p[key] for p in params] for key in varying},
            "state": {key: encoder.value(val, f"{name}.{key}") for key, val in sorted(states[0].items())},
            "trees": {
                **_tree_sizes(trees[0]),
                "max_depth": [int(state["max_depth"]) for state in tree_states],
                "node_count": [int(state["node_count"]) for state in tree_states],
                "nodes": _encode_records(np.concatenate([s["nodes"] for s in tree_states]), f"{name}.nodes", encoder),
                "values": encoder.value(np.concatenate([s["values"] for s in tree_states]), f"{name}.values"),
            },
        }
    }


def encode_predictor_stack(value: list | np.ndarray, name: str, encoder: EstimatorEncoder) -> dict | None:
    """HistGradientBoosting's predictors (a list per iteration), as ``encode_tree_stack`` does trees."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    if not (
        isinstance(value, list)
        and value
        and all(isinstance(stage, list) and len(stage) == len(value[0]) for stage in value)
        and value[0]
        and all(isinstance(p, TreePredictor) for stage in value for p in stage)
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
            "nodes": _encode_records(np.concatenate([p.nodes for p in predictors]), f"{name}.nodes", encoder),
        }
    }


def _encode_records(records: np.ndarray, name: str, encoder: EstimatorEncoder) -> dict:
    """A structured array, one tensor per field (never its raw bytes: see the module docstring)."""
    return {
        "fields": {
            field: encoder.value(np.ascontiguousarray(records[field]), f"{name}.{field}")
            for field in records.dtype.names
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


# Loading


class EstimatorDecoding(NamedTuple):
    """What the tree decoding needs of ``sklearn_files``' decoder: its functions, called back."""

    value: Callable[[dict, dict[str, np.ndarray]], Any]  # decode any value
    allowed_class: Callable[[Any, str], type]  # the allow-listed class of a name at a place, or refuse it
    state: Callable[[dict, dict[str, np.ndarray]], dict]  # an estimator's fitted state, keys checked
    rebuild: Callable[[str, Any], None]  # remake what the file leaves out, check the estimator


def decode_tree(node: dict, tensors: dict[str, np.ndarray], decoding: EstimatorDecoding) -> Any:
    from sklearn.tree._tree import NODE_DTYPE

    nodes = _decode_records(node["nodes"], tensors, NODE_DTYPE, "tree nodes", decoding)
    if _int(node["node_count"], "a tree's node_count", 1) != len(nodes):
        raise refuse(f"a tree says it has {node['node_count']} nodes but stores {len(nodes)}")
    return _build_tree(_decode_tree_sizes(node), node["max_depth"], nodes, decoding.value(node["values"], tensors))


def decode_tree_stack(node: dict, tensors: dict[str, np.ndarray], decoding: EstimatorDecoding) -> Any:
    from sklearn.tree._tree import NODE_DTYPE

    class_name = node["class"]
    cls = decoding.allowed_class(class_name, "tree_stack")
    shape, n_items = _stack_shape(node["shape"], "a stack of trees")
    per_tree = node["params_per_tree"]
    if any(not isinstance(values, list) or len(values) != n_items for values in per_tree.values()):
        raise refuse(f"a stack of trees does not list per-tree parameters for its {n_items} trees")
    trees_node = node["trees"]
    sizes = _decode_tree_sizes(trees_node)
    nodes = _decode_records(trees_node["nodes"], tensors, NODE_DTYPE, "tree nodes", decoding)
    values = decoding.value(trees_node["values"], tensors)
    if not isinstance(values, np.ndarray) or len(values) != len(nodes):
        raise refuse("a stack of trees has values for another number of nodes")
    max_depths = trees_node["max_depth"]
    if not isinstance(max_depths, list) or len(max_depths) != n_items:
        raise refuse(f"a stack of trees does not list depths for its {n_items} trees")
    bounds = _stack_bounds(trees_node["node_count"], n_items, len(nodes), "a stack of trees")
    # The state the trees share is decoded once and shared: prediction only reads it.
    state = decoding.state(node["state"], tensors)
    estimators = []
    for i, (start, end) in enumerate(bounds):
        estimator = cls(**node["params"], **{key: values_[i] for key, values_ in per_tree.items()})
        for key, value in state.items():
            setattr(estimator, key, value)
        estimator.tree_ = _build_tree(sizes, max_depths[i], nodes[start:end], values[start:end])
        decoding.rebuild(class_name, estimator)
        estimators.append(estimator)
    if not node["array"]:
        return estimators
    grid = np.empty(n_items, dtype=object)
    for i, estimator in enumerate(estimators):
        grid[i] = estimator
    return grid.reshape(shape)


def decode_predictor_stack(node: dict, tensors: dict[str, np.ndarray], decoding: EstimatorDecoding) -> list[list[Any]]:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE, X_BITSET_INNER_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    shape, n_items = _stack_shape(node["shape"], "a stack of HistGradientBoosting trees")
    if len(shape) != 2:
        raise refuse(f"a stack of HistGradientBoosting trees has the shape {shape}")
    nodes = _decode_records(node["nodes"], tensors, PREDICTOR_RECORD_DTYPE, "HistGradientBoosting tree nodes", decoding)
    if nodes["is_categorical"].any():
        raise refuse("a HistGradientBoosting tree has categorical splits, which model files do not hold")
    bounds = _stack_bounds(node["node_count"], n_items, len(nodes), "a stack of HistGradientBoosting trees")
    predictors = []
    for start, end in bounds:
        tree = nodes[start:end]
        _check_links(tree["left"], tree["right"], tree["is_leaf"] != 0, "a HistGradientBoosting tree")
        no_bitsets = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        predictors.append(TreePredictor(tree, no_bitsets, no_bitsets.copy()))
    width = shape[1]
    return [predictors[i : i + width] for i in range(0, n_items, width)]


def _decode_records(
    node: dict, tensors: dict[str, np.ndarray], dtype: np.dtype, what: str, decoding: EstimatorDecoding
) -> np.ndarray:
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
    columns = {field: decoding.value(fields[field], tensors) for field in dtype.names}
    lengths = {column.shape if isinstance(column, np.ndarray) else None for column in columns.values()}
    if len(lengths) != 1 or None in lengths or len(next(iter(lengths))) != 1:
        raise refuse(f"the {what}' fields are not arrays of one length")
    records = np.zeros(next(iter(lengths)), dtype=dtype)
    for field, column in columns.items():
        target = dtype.fields[field][0]
        # A field of another width is fine if every value survives the cast (a file from a
        # platform with another intp); anything else is not the same tree.
        cast = column.astype(target)
        if column.dtype.kind != target.kind or not np.array_equal(cast, column, equal_nan=target.kind == "f"):
            raise refuse(f"the {what}' field {field} holds {column.dtype}, which does not fit {target}")
        records[field] = cast
    return records


def _decode_tree_sizes(node: dict) -> tuple[int, list[int], int]:
    n_features = _int(node["n_features"], "a tree's n_features", 1)
    n_outputs = _int(node["n_outputs"], "a tree's n_outputs", 1)
    n_classes = [_int(n, "a tree's n_classes", 1) for n in node["n_classes"]]
    if len(n_classes) != n_outputs:
        raise refuse(f"a tree has {n_outputs} output(s) but {len(n_classes)} class count(s)")
    return n_features, n_classes, n_outputs


def _stack_bounds(counts: Any, n_items: int, n_rows: int, what: str) -> list[tuple[int, int]]:
    """Where each of ``n_items`` trees' rows lie in the concatenated arrays."""
    if not isinstance(counts, list) or len(counts) != n_items:
        raise refuse(f"{what} lists {len(counts) if isinstance(counts, list) else counts!r} node counts for {n_items}")
    ends = np.cumsum([_int(count, f"{what}'s node count", 1) for count in counts])
    if not n_items or ends[-1] != n_rows:
        raise refuse(f"{what}'s node counts do not add up to its {n_rows} nodes")
    return list(zip([0, *ends[:-1].tolist()], ends.tolist()))


def _stack_shape(shape: Any, what: str) -> tuple[list[int], int]:
    if not (isinstance(shape, list) and shape and all(isinstance(n, int) and n >= 1 for n in shape)):
        raise refuse(f"{what} has the shape {shape!r}")
    return shape, int(np.prod(shape))


def _int(value: Any, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise refuse(f"{what} is {value!r}, not an integer of at least {minimum}")
    return value


# Checking what compiled code trusts


def _check_links(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, what: str) -> int:
    """Check the links compiled prediction code follows unchecked; return the tree's depth.

    Every split's children come after it and every node but the root is the child of
    exactly one split: each walk from the root moves forward and ends on a leaf inside the
    array.
    """
    n_nodes = len(left)
    if n_nodes == 0:
        raise refuse(f"{what} has no nodes")
    index = np.arange(n_nodes)
    split = ~leaf
    parents = index[split]
    left_of, right_of = left[split].astype(np.int64), right[split].astype(np.int64)
    in_order = (left_of > parents) & (left_of < n_nodes) & (right_of > parents) & (right_of < n_nodes)
    children = np.sort(np.concatenate([left_of, right_of]))
    if not (in_order.all() and np.array_equal(children, index[1:])):
        raise refuse(f"{what} has a split whose children are out of order, out of range or shared")
    depth, level = 0, np.zeros(1, dtype=np.int64)
    while True:
        level = level[split[level]]
        if not level.size:
            return depth
        level = np.concatenate([left[level], right[level]]).astype(np.int64)
        depth += 1


def check_features(feature: np.ndarray, leaf: np.ndarray, n_features: int, what: str) -> None:
    """Every split reads one of the ``n_features`` columns prediction is given."""
    split_features = feature[~leaf]
    if ((split_features < 0) | (split_features >= n_features)).any():
        raise refuse(f"{what} splits on a feature outside the model's {n_features}")


def _build_tree(sizes: tuple[int, list[int], int], max_depth: Any, nodes: np.ndarray, values: Any) -> Any:
    """A Tree from checked parts: the only way a file's nodes reach compiled code."""
    from sklearn.tree._tree import TREE_LEAF, Tree

    n_features, n_classes, n_outputs = sizes
    max_depth = _int(max_depth, "a tree's max_depth", 0)
    leaf = nodes["left_child"] == TREE_LEAF
    if not (nodes["right_child"][leaf] == TREE_LEAF).all():
        raise refuse("a tree has a node with one child")
    depth = _check_links(nodes["left_child"], nodes["right_child"], leaf, "a tree")
    check_features(nodes["feature"], leaf, n_features, "a tree")
    # decision_path sizes its buffers by max_depth: it must be the real depth.
    if depth != max_depth:
        raise refuse(f"a tree says its depth is {max_depth} but it is {depth}")
    if not isinstance(values, np.ndarray):
        raise refuse("a tree's values are not an array")
    tree = Tree(n_features, np.asarray(n_classes, dtype=np.intp), n_outputs)
    # __setstate__ itself checks the values' dtype and shape against the sizes.
    tree.__setstate__({"max_depth": max_depth, "node_count": len(nodes), "nodes": nodes, "values": values})
    return tree
