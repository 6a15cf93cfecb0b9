"""The MLP, its fitted form (network plus preprocessing), and how it is stored in a model file.

``torch`` is imported inside functions only (about a second), so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.training.labels import classes_array

TORCH_FORMAT = "hokusai-torch/v1"
ACTIVATIONS = ("relu",)
NETWORK_DTYPE = "float32"
# Tensor names of the preprocessing statistics in a model file.
_INPUT_MEAN, _INPUT_SCALE = "scaler.mean", "scaler.scale"
_TARGET_MEAN, _TARGET_SCALE = "target.mean", "target.scale"


@contextlib.contextmanager
def deterministic_torch() -> Iterator[Any]:
    """Deterministic algorithms on one intra-op thread; the caller's settings come back after."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield torch
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def training_device() -> Any:
    import torch

    if torch.cuda.is_available():
        # cuBLAS is only deterministic with a fixed workspace; it reads this when it starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    return torch.device("cpu")


def build_network(layer_sizes: list[int], activation: str) -> Any:
    import torch

    if activation not in ACTIVATIONS:
        raise ModelError(
            f"activation {activation!r} is not supported; use one of {', '.join(ACTIVATIONS)}", code="E_MODEL_FORMAT"
        )
    layers: list[Any] = []
    for i, (width_in, width_out) in enumerate(itertools.pairwise(layer_sizes)):
        layers.append(torch.nn.Linear(width_in, width_out, dtype=torch.float32))
        if i < len(layer_sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _linear_layers(network: Any) -> list[Any]:
    import torch

    return [module for module in network if isinstance(module, torch.nn.Linear)]


def weight_tensors(network: Any) -> dict[str, Any]:
    """The network's parameters by stable names (``layers.<k>.weight|bias``), as CPU tensors."""
    tensors = {}
    for k, layer in enumerate(_linear_layers(network)):
        tensors[f"layers.{k}.weight"] = layer.weight.detach().cpu().contiguous()
        tensors[f"layers.{k}.bias"] = layer.bias.detach().cpu().contiguous()
    return tensors


def assign_weights(network: Any, tensors: Mapping[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for k, layer in enumerate(_linear_layers(network)):
            for name, parameter in (("weight", layer.weight), ("bias", layer.bias)):
                value = torch.as_tensor(tensors[f"layers.{k}.{name}"])
                if tuple(value.shape) != tuple(parameter.shape) or value.dtype != parameter.dtype:
                    raise ModelError(
                        f"tensor layers.{k}.{name} has shape {tuple(value.shape)} ({value.dtype}); "
                        f"the architecture needs {tuple(parameter.shape)} ({parameter.dtype})",
                        code="E_MODEL_FORMAT",
                    )
                parameter.copy_(value)


@dataclass(eq=False)
class TorchMLP:
    """A fitted MLP plus its preprocessing: the ``estimator`` of a torch ``TrainedModel``.

    Offers what ``TrainedModel.predict`` uses of a scikit-learn estimator: ``predict``,
    ``predict_proba`` and ``classes_`` (classification).
    """

    task_type: str
    network: Any  # torch.nn.Sequential on CPU
    layer_sizes: list[int]
    activation: str
    input_mean: np.ndarray  # float64
    input_scale: np.ndarray  # float64
    classes: list[Any] | None = None  # sorted training labels (classification)
    target_mean: np.ndarray | None = None  # float64, shape (1,) (regression)
    target_scale: np.ndarray | None = None
    training: dict[str, Any] = field(default_factory=dict)  # provenance, as stored in the file

    @property
    def classes_(self) -> np.ndarray:
        return classes_array(self.classes)

    def _outputs(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        inputs = (np.asarray(X, dtype=np.float64) - self.input_mean) / self.input_scale
        with deterministic_torch() as torch, torch.no_grad():
            self.network.eval()
            out = self.network(torch.from_numpy(inputs.astype(np.float32)))
        return out.numpy().astype(np.float64)

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if self.classes is None:
            raise ModelError("predict_proba is for classification models", code="E_MODEL_UNSUPPORTED")
        logits = self._outputs(X)
        # Softmax in float64, so every row sums to 1 to double precision.
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if self.classes is not None:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        assert self.target_mean is not None and self.target_scale is not None
        return self._outputs(X)[:, 0] * self.target_scale[0] + self.target_mean[0]

    def tensors(self) -> dict[str, np.ndarray]:
        arrays = {name: t.numpy() for name, t in weight_tensors(self.network).items()}
        arrays[_INPUT_MEAN] = np.ascontiguousarray(self.input_mean, dtype=np.float64)
        arrays[_INPUT_SCALE] = np.ascontiguousarray(self.input_scale, dtype=np.float64)
        if self.target_mean is not None and self.target_scale is not None:
            arrays[_TARGET_MEAN] = np.ascontiguousarray(self.target_mean, dtype=np.float64)
            arrays[_TARGET_SCALE] = np.ascontiguousarray(self.target_scale, dtype=np.float64)
        return arrays

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "architecture": {
                "kind": "mlp",
                "layer_sizes": list(self.layer_sizes),
                "activation": self.activation,
                "dtype": NETWORK_DTYPE,
            },
            "preprocessing": {
                "inputs": {"standardise": {"mean": _INPUT_MEAN, "scale": _INPUT_SCALE}},
            },
            "training": self.training,
        }
        if self.classes is not None:
            body["classes"] = list(self.classes)
        else:
            body["preprocessing"]["target"] = {"standardise": {"mean": _TARGET_MEAN, "scale": _TARGET_SCALE}}
        return body


def load_torch(description: dict, tensors: dict[str, np.ndarray]) -> TorchMLP:
    """Rebuild the MLP from the JSON description and the tensors; nothing is executed."""
    if description.get("format") != TORCH_FORMAT:
        raise ModelError(f"unsupported model format {description.get('format')!r}", code="E_MODEL_FORMAT")
    try:
        body = description["model"]
        architecture = body["architecture"]
        task_type = description["task_type"]
        layer_sizes = [int(size) for size in architecture["layer_sizes"]]
        activation = architecture["activation"]
        if architecture.get("kind") != "mlp" or architecture.get("dtype") != NETWORK_DTYPE:
            raise ModelError(f"unsupported architecture {architecture!r}", code="E_MODEL_FORMAT")
        if activation not in ACTIVATIONS:
            raise ModelError(
                f"model file names activation {activation!r}; refusing to load it", code="E_MODEL_UNTRUSTED"
            )
        if len(layer_sizes) < 2 or min(layer_sizes) < 1 or layer_sizes[0] != len(description["feature_names"]):
            raise ModelError(f"layer sizes {layer_sizes} do not fit the model's features", code="E_MODEL_FORMAT")
        classes = body.get("classes")
        regression = task_type == "regression"
        expected = {f"layers.{k}.{p}" for k in range(len(layer_sizes) - 1) for p in ("weight", "bias")}
        expected |= {_INPUT_MEAN, _INPUT_SCALE} | ({_TARGET_MEAN, _TARGET_SCALE} if regression else set())
        if set(tensors) != expected:
            raise ModelError(
                f"model file tensors {sorted(tensors)} do not match the architecture (expected {sorted(expected)})",
                code="E_MODEL_FORMAT",
            )
        outputs = 1 if regression else len(classes)
        if layer_sizes[-1] != outputs:
            raise ModelError(
                f"the output layer has {layer_sizes[-1]} units for {outputs} output(s)", code="E_MODEL_FORMAT"
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"malformed torch model description ({type(exc).__name__}: {exc})", code="E_MODEL_FORMAT"
        ) from exc

    network = build_network(layer_sizes, activation)
    assign_weights(network, tensors)
    return TorchMLP(
        task_type=task_type,
        network=network,
        layer_sizes=layer_sizes,
        activation=activation,
        input_mean=tensors[_INPUT_MEAN],
        input_scale=tensors[_INPUT_SCALE],
        classes=None if regression else list(classes),
        target_mean=tensors.get(_TARGET_MEAN),
        target_scale=tensors.get(_TARGET_SCALE),
        training=body.get("training", {}),
    )
