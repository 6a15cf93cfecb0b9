"""Structural checks of a boosted model's text before XGBoost or LightGBM parses it.

Both libraries trust their own model text: a child index past the end of a tree, a split
on a feature the model does not have, or a LightGBM ``tree_sizes`` entry that does not
match its tree make their compiled code read out of bounds (a segfault or an abort, not
an exception), and a cycle among children makes prediction loop forever. A model file
comes from a store or a download, so its booster is checked here first, against exactly
what the pinned library versions write for the models hokusai trains (gbtree without
categorical splits; LightGBM gbdt, numeric splits, no linear trees):

- every array of a tree has the length its node count says;
- children point forward (a child's index is greater than its parent's) and inside the
  tree, and every node but the root has exactly one parent, so each tree is a tree;
- split features are inside the model's feature count; no categorical splits;
- counts agree: trees per iteration and classes, ``tree_info`` / ``iteration_indptr``,
  LightGBM's ``tree_sizes`` recomputed from the text;
- keys are exactly the known ones (an unknown key is something hokusai never wrote).

Any failure is ``E_MODEL_FORMAT``; the library never sees the text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from hokusai_assets.lib.errors import ModelError

_XGB_TOP_KEYS = {"learner", "version"}
_XGB_LEARNER_KEYS = {
    "attributes",
    "feature_names",
    "feature_types",
    "gradient_booster",
    "learner_model_param",
    "objective",
}
_XGB_PARAM_KEYS = {"base_score", "boost_from_average", "num_class", "num_feature", "num_target"}
_XGB_MODEL_KEYS = {"cats", "gbtree_model_param", "iteration_indptr", "tree_info", "trees"}
_XGB_NO_CATEGORIES = {"enc": [], "feature_segments": [], "sorted_idx": []}
_XGB_NODE_ARRAYS = (
    "base_weights",
    "default_left",
    "left_children",
    "loss_changes",
    "parents",
    "right_children",
    "split_conditions",
    "split_indices",
    "split_type",
    "sum_hessian",
)
_XGB_TREE_KEYS = {
    *_XGB_NODE_ARRAYS,
    "categories",
    "categories_nodes",
    "categories_segments",
    "categories_sizes",
    "id",
    "tree_param",
}
_XGB_FLOAT_ARRAYS = ("base_weights", "loss_changes", "split_conditions", "sum_hessian")
_XGB_TREE_PARAM_KEYS = {"num_deleted", "num_feature", "num_nodes", "size_leaf_vector"}
_XGB_NO_PARENT = 2147483647  # the root's parent in XGBoost's JSON

_LGB_HEADER_KEYS = {
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
}
_LGB_INTERNAL_ARRAYS = (
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "internal_value",
    "internal_weight",
    "internal_count",
)
_LGB_LEAF_ARRAYS = ("leaf_value", "leaf_count")
_LGB_TREE_KEYS = {
    "Tree",
    "num_leaves",
    "num_cat",
    *_LGB_INTERNAL_ARRAYS,
    *_LGB_LEAF_ARRAYS,
    "leaf_weight",
    "is_linear",
    "shrinkage",
}
# decision_type bits: 1 categorical (never written by hokusai), 2 default left, 4|8 missing type (none/zero/NaN).
_LGB_DECISION_TYPES = {0, 2, 4, 6, 8, 10}
_LGB_FEATURE_INFO = re.compile(r"none|\[[^\[\]:\s]+:[^\[\]:\s]+\]")
_LGB_PARAMETER = re.compile(r"\[[a-z0-9_]+: [^\]\n]*\]")
_LGB_IMPORTANCE = re.compile(r"Column_\d+=\d+")


def _refuse(what: str) -> ModelError:
    return ModelError(f"the booster is not a model hokusai wrote: {what}", code="E_MODEL_FORMAT")


def _int(value: Any, what: str) -> int:
    """A count from the text: XGBoost writes them as decimal strings, LightGBM as decimals."""
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _refuse(f"{what} is {str(value)[:40]!r}, not an integer")


def _index_array(values: Any, length: int, what: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != length:
        raise _refuse(f"{what} has {len(values) if isinstance(values, list) else 'no'} entries, not {length}")
    if not all(type(v) is int for v in values):
        raise _refuse(f"{what} holds a value that is not an integer")
    try:
        return np.asarray(values, dtype=np.int64).reshape(length)
    except OverflowError:
        raise _refuse(f"{what} holds an integer out of range") from None


def _float_array(values: Any, length: int, what: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != length:
        raise _refuse(f"{what} has {len(values) if isinstance(values, list) else 'no'} entries, not {length}")
    if not all(type(v) in (int, float) for v in values):
        raise _refuse(f"{what} holds a value that is not a number")
    array = np.asarray(values, dtype=np.float64).reshape(length)
    if not np.isfinite(array).all():
        raise _refuse(f"{what} holds a value that is not finite")
    return array


def _check_tree_shape(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, n_nodes: int, what: str) -> np.ndarray:
    """Nodes 0..n-1 where ``leaf`` marks leaves: children forward and inside, one parent each.

    Returns the parent index of each non-root node (in node order)."""
    index = np.arange(n_nodes)
    inner = ~leaf
    for children in (left, right):
        bad = inner & ((children <= index) | (children >= n_nodes))
        if bad.any():
            raise _refuse(f"{what} node {int(np.argmax(bad))} has a child outside the nodes after it")
    children = np.concatenate((left[inner], right[inner]))
    parents_of = np.full(n_nodes, -1, dtype=np.int64)
    parents_of[children] = np.concatenate((index[inner], index[inner]))
    counts = np.bincount(children, minlength=n_nodes)
    if counts[0] != 0 or (counts[1:] != 1).any():
        node = 0 if counts[0] else 1 + int(np.argmax(counts[1:] != 1))
        raise _refuse(f"{what} node {node} has {int(counts[node])} parents")
    return parents_of


def check_xgboost_model(text: bytes, objective: str, n_features: int, n_classes: int) -> None:
    """Refuse an XGBoost JSON model that is not a gbtree hokusai wrote for this description."""
    try:
        model = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _refuse(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(model, dict) or set(model) != _XGB_TOP_KEYS:
        raise _refuse("the top level is not {learner, version}")
    learner = model["learner"]
    if not isinstance(learner, dict) or set(learner) != _XGB_LEARNER_KEYS:
        raise _refuse("the learner's keys differ from XGBoost's")
    if learner["attributes"] != {} or learner["feature_names"] != [] or learner["feature_types"] != []:
        raise _refuse("the learner carries attributes, feature names or types (hokusai fits on bare arrays)")
    params = learner["learner_model_param"]
    if not isinstance(params, dict) or set(params) != _XGB_PARAM_KEYS:
        raise _refuse("learner_model_param's keys differ from XGBoost's")
    num_feature, num_class = _int(params["num_feature"], "num_feature"), _int(params["num_class"], "num_class")
    expected_class = n_classes if n_classes > 2 else 0
    name = learner["objective"].get("name") if isinstance(learner["objective"], dict) else None
    if name != objective or num_feature != n_features or num_class != expected_class:
        raise ModelError(
            f"the XGBoost model (objective {name!r}, {num_feature} features, num_class {num_class}) does not match "
            f"its description (objective {objective!r}, {n_features} features, num_class {expected_class})",
            code="E_MODEL_FORMAT",
        )
    _check_xgboost_objective(learner["objective"], num_class)
    if _int(params["num_target"], "num_target") != 1 or params["boost_from_average"] not in ("0", "1"):
        raise _refuse("num_target is not 1 or boost_from_average is not 0/1")
    base_score = params["base_score"]
    if not isinstance(base_score, str) or not re.fullmatch(r"\[[^\[\]]*\]", base_score):
        raise _refuse("base_score is not a bracketed list")
    try:
        scores = [float(v) for v in base_score[1:-1].split(",")]
    except ValueError:
        raise _refuse("base_score holds a value that is not a number") from None
    if len(scores) != max(num_class, 1) or not all(math.isfinite(v) for v in scores):
        raise _refuse(f"base_score has {len(scores)} finite value(s) expected {max(num_class, 1)}")

    booster = learner["gradient_booster"]
    if not isinstance(booster, dict) or set(booster) != {"model", "name"} or booster["name"] != "gbtree":
        raise _refuse("the booster is not a gbtree")
    body = booster["model"]
    if not isinstance(body, dict) or set(body) != _XGB_MODEL_KEYS or body["cats"] != _XGB_NO_CATEGORIES:
        raise _refuse("the gbtree model's keys differ from XGBoost's, or it has categorical features")
    trees = body["trees"]
    if not isinstance(trees, list):
        raise _refuse("trees is not a list")
    if body["gbtree_model_param"] != {"num_parallel_tree": "1", "num_trees": str(len(trees))}:
        raise _refuse(f"gbtree_model_param does not say one parallel tree and {len(trees)} trees")
    groups = max(num_class, 1)
    tree_info = _index_array(body["tree_info"], len(trees), "tree_info")
    if ((tree_info < 0) | (tree_info >= groups)).any():
        raise _refuse(f"tree_info names an output group outside 0..{groups - 1}")
    indptr = body["iteration_indptr"]
    if not isinstance(indptr, list) or not indptr:
        raise _refuse("iteration_indptr is empty")
    bounds = _index_array(indptr, len(indptr), "iteration_indptr")
    if bounds[0] != 0 or bounds[-1] != len(trees) or (np.diff(bounds) < 0).any():
        raise _refuse("iteration_indptr does not run from 0 to the tree count")
    for position, tree in enumerate(trees):
        _check_xgboost_tree(tree, position, num_feature)


def _check_xgboost_objective(spec: Any, num_class: int) -> None:
    if spec.get("name") == "multi:softprob":
        if spec != {"name": "multi:softprob", "softmax_multiclass_param": {"num_class": str(num_class)}}:
            raise _refuse("softmax_multiclass_param does not match num_class")
        return
    loss = spec.get("reg_loss_param")
    if set(spec) != {"name", "reg_loss_param"} or not isinstance(loss, dict) or set(loss) != {"scale_pos_weight"}:
        raise _refuse("the objective's parameters differ from XGBoost's")
    try:
        weight = float(loss["scale_pos_weight"])
    except (TypeError, ValueError):
        raise _refuse("scale_pos_weight is not a number") from None
    if not math.isfinite(weight):
        raise _refuse("scale_pos_weight is not finite")


def _check_xgboost_tree(tree: Any, position: int, num_feature: int) -> None:
    what = f"tree {position}"
    if not isinstance(tree, dict) or set(tree) != _XGB_TREE_KEYS or tree["id"] != position:
        raise _refuse(f"{what}'s keys or id differ from XGBoost's")
    param = tree["tree_param"]
    if not isinstance(param, dict) or set(param) != _XGB_TREE_PARAM_KEYS:
        raise _refuse(f"{what}'s tree_param keys differ from XGBoost's")
    n_nodes = _int(param["num_nodes"], f"{what} num_nodes")
    if n_nodes < 1 or param["num_deleted"] != "0" or param["size_leaf_vector"] != "1":
        raise _refuse(f"{what} has {n_nodes} nodes, deleted nodes or vector leaves")
    if _int(param["num_feature"], f"{what} num_feature") != num_feature:
        raise _refuse(f"{what} reads another feature count than the model")
    if any(tree[key] != [] for key in ("categories", "categories_nodes", "categories_segments", "categories_sizes")):
        raise _refuse(f"{what} has categorical splits")
    arrays = {
        key: _index_array(tree[key], n_nodes, f"{what} {key}")
        for key in _XGB_NODE_ARRAYS
        if key not in _XGB_FLOAT_ARRAYS
    }
    for key in _XGB_FLOAT_ARRAYS:
        _float_array(tree[key], n_nodes, f"{what} {key}")
    left, right = arrays["left_children"], arrays["right_children"]
    leaf = left == -1
    if ((right == -1) != leaf).any():
        raise _refuse(f"{what} has a node with one child")
    if (arrays["split_type"] != 0).any() or ((arrays["default_left"] != 0) & (arrays["default_left"] != 1)).any():
        raise _refuse(f"{what} has a categorical split or a default direction other than 0/1")
    features = arrays["split_indices"]
    if ((features < 0) | (features >= num_feature)).any():
        raise _refuse(f"{what} splits on a feature outside 0..{num_feature - 1}")
    parents_of = _check_tree_shape(left, right, leaf, n_nodes, what)
    parents = arrays["parents"]
    if parents[0] != _XGB_NO_PARENT or (parents[1:] != parents_of[1:]).any():
        raise _refuse(f"{what}'s parents do not match its children")


def check_lightgbm_model(text: bytes, objective: str, n_features: int, n_classes: int) -> None:
    """Refuse a LightGBM model string that is not a gbdt hokusai wrote for this description."""
    if not text.isascii():
        raise _refuse("the LightGBM model string is not ASCII")
    model = text.decode("ascii")
    header_text, _, rest = model.partition("\n\n")
    header_lines = header_text.split("\n")
    if header_lines[0] != "tree":
        raise _refuse("the LightGBM model string does not start with 'tree'")
    header = _key_values(header_lines[1:], "the header")
    if set(header) != _LGB_HEADER_KEYS:
        raise _refuse("the header's keys differ from LightGBM's")
    name, *objective_params = header["objective"].split(" ")
    num_feature = _int(header["max_feature_idx"], "max_feature_idx") + 1
    num_class = _int(header["num_class"], "num_class")
    expected_class = n_classes if n_classes > 2 else 1
    if name != objective or num_feature != n_features or num_class != expected_class:
        raise ModelError(
            f"the LightGBM model (objective {name!r}, {num_feature} features, num_class {num_class}) does not match "
            f"its description (objective {objective!r}, {n_features} features, num_class {expected_class})",
            code="E_MODEL_FORMAT",
        )
    _check_lightgbm_objective(name, objective_params, num_class)
    if header["version"] != "v4" or header["label_index"] != "0" or header["num_tree_per_iteration"] != str(num_class):
        raise _refuse("version, label_index or num_tree_per_iteration differ from what hokusai writes")
    if header["feature_names"].split(" ") != [f"Column_{i}" for i in range(num_feature)]:
        raise _refuse("feature_names are not Column_0.. for each feature")
    infos = header["feature_infos"].split(" ")
    if len(infos) != num_feature or not all(_LGB_FEATURE_INFO.fullmatch(info) for info in infos):
        raise _refuse("feature_infos do not give one numeric range (or none) per feature")
    sizes = [_int(size, "tree_sizes") for size in header["tree_sizes"].split(" ")]

    trees_text, marker, tail = rest.partition("end of trees")
    if not marker:
        raise _refuse("the model string has no 'end of trees'")
    starts = [match.start() for match in re.finditer(r"^Tree=", trees_text, re.MULTILINE)]
    if not starts or starts[0] != 0 or len(starts) != len(sizes) or len(starts) % num_class:
        raise _refuse(f"{len(starts)} trees for tree_sizes of {len(sizes)} and {num_class} trees per iteration")
    bounds = [*starts, len(trees_text)]
    actual = [bounds[i + 1] - bounds[i] for i in range(len(starts))]
    if actual != sizes:
        raise _refuse("tree_sizes do not match the trees' lengths")
    for position in range(len(starts)):
        block = trees_text[bounds[position] : bounds[position + 1]]
        _check_lightgbm_tree(block, position, num_feature)
    _check_lightgbm_tail(tail)


def _check_lightgbm_objective(name: str, params: list[str], num_class: int) -> None:
    # The objective's parameters steer how raw scores become outputs: a num_class here that
    # disagrees with the header's makes LightGBM write past its buffers.
    if name == "multiclass":
        valid = params == [f"num_class:{num_class}"]
    elif name == "binary":
        valid = len(params) == 1 and re.fullmatch(r"sigmoid:\d+(\.\d+)?([eE][-+]?\d+)?", params[0]) is not None
        valid = valid and 0 < float(params[0].split(":")[1]) < math.inf
    else:
        valid = params in ([], ["sqrt"])
    if not valid:
        raise _refuse(f"the objective's parameters {' '.join(params)!r} are not what LightGBM writes for {name}")


def _key_values(lines: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if not equals or key in pairs:
            raise _refuse(f"{what} has a line that is not a new key=value")
        pairs[key] = value
    return pairs


def _check_lightgbm_tree(block: str, position: int, num_feature: int) -> None:
    what = f"tree {position}"
    if not block.endswith("\n\n\n"):
        raise _refuse(f"{what} does not end as LightGBM writes it")
    tree = _key_values(block[:-3].split("\n"), what)
    if set(tree) != _LGB_TREE_KEYS or tree["Tree"] != str(position):
        raise _refuse(f"{what}'s keys or number differ from LightGBM's")
    n_leaves = _int(tree["num_leaves"], f"{what} num_leaves")
    if n_leaves < 1 or tree["num_cat"] != "0" or tree["is_linear"] != "0":
        raise _refuse(f"{what} has {n_leaves} leaves, categorical splits or a linear model")

    def numbers(key: str, length: int, integral: bool) -> np.ndarray:
        values = tree[key].split(" ") if tree[key] else []
        pattern = r"-?\d{1,18}" if integral else r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
        if len(values) != length or not all(re.fullmatch(pattern, v) for v in values):
            raise _refuse(f"{what} {key} does not hold {length} {'integers' if integral else 'numbers'}")
        return np.asarray(values, dtype=np.int64 if integral else np.float64).reshape(length)

    n_inner = n_leaves - 1
    arrays = {
        key: numbers(
            key, n_inner, key in {"split_feature", "decision_type", "left_child", "right_child", "internal_count"}
        )
        for key in _LGB_INTERNAL_ARRAYS
    }
    for key in _LGB_LEAF_ARRAYS:
        numbers(key, n_leaves, key == "leaf_count")
    numbers("leaf_weight", n_leaves if n_inner else 0, False)  # a one-leaf tree writes no leaf weight
    numbers("shrinkage", 1, False)
    if not all(np.isfinite(arrays[key]).all() for key in ("threshold", "split_gain", "internal_value")):
        raise _refuse(f"{what} has a threshold or value that is not finite")
    if not all(int(v) in _LGB_DECISION_TYPES for v in arrays["decision_type"]):
        raise _refuse(f"{what} has a categorical or unknown decision type")
    features = arrays["split_feature"]
    if ((features < 0) | (features >= num_feature)).any():
        raise _refuse(f"{what} splits on a feature outside 0..{num_feature - 1}")
    # Nodes 0..n_inner-1 are splits; a negative child ~k is leaf k (nodes n_inner+k below).
    left, right = arrays["left_child"], arrays["right_child"]
    as_node = lambda child: np.where(child < 0, n_inner + ~child, child)  # noqa: E731
    if ((left < -n_leaves) | (right < -n_leaves) | (left >= n_inner) | (right >= n_inner)).any():
        raise _refuse(f"{what} points to a split or a leaf it does not have")
    n_nodes = n_inner + n_leaves
    leaf = np.arange(n_nodes) >= n_inner
    # Leaves are numbered after every split, so "forward" holds for them whatever their order.
    _check_tree_shape(
        np.concatenate((as_node(left), np.full(n_leaves, -1))),
        np.concatenate((as_node(right), np.full(n_leaves, -1))),
        leaf,
        n_nodes,
        what,
    )


def _check_lightgbm_tail(tail: str) -> None:
    """What follows 'end of trees': importances, the parameters block, no categorical mapping."""
    match = re.fullmatch(
        r"\n\nfeature_importances:\n((?:[^\n]*\n)*?)\nparameters:\n((?:[^\n]*\n)*?)\nend of parameters\n\n"
        r"pandas_categorical:null\n",
        tail,
    )
    if match is None:
        raise _refuse("the text after the trees is not importances, parameters and no pandas categories")
    importances, parameters = match.group(1).splitlines(), match.group(2).splitlines()
    if not all(_LGB_IMPORTANCE.fullmatch(line) for line in importances):
        raise _refuse("feature_importances are not Column_i=count lines")
    names = [line[1 : line.index(":")] for line in parameters if _LGB_PARAMETER.fullmatch(line)]
    if len(names) != len(parameters) or len(set(names)) != len(names):
        raise _refuse("the parameters block has a line that is not a new [name: value]")
