"""The PyTorch trainer: an MLP for tabular classification and regression.

Same contract as the scikit-learn trainer (``train.Trainer``): rows of the task schema in,
a :class:`~hokusai_assets.lib.training.trainers.TrainedModel` out, and the same rows, hyperparameters
and seed always give the same model file bytes on CPU.

How determinism is kept:
- initial weights come from ``torch.manual_seed(seed)`` inside ``fork_rng`` (the caller's
  global RNG is left as it was); batch order comes from a dedicated ``torch.Generator``;
  nothing else draws random numbers (no dropout), so that generator's state is the only
  RNG state a checkpoint needs;
- ``torch.use_deterministic_algorithms(True)`` and one intra-op thread while fitting and
  predicting (both restored afterwards), so summation order does not depend on the core
  count;
- dtypes are fixed: preprocessing (standardisation) is float64 numpy arithmetic, the
  network and its inputs are float32;
- the model file is always written from CPU tensors; a CUDA run differs from a CPU run
  only by the floating-point results of the device, never by the file layout.

Checkpoints: after every epoch, weights, Adam's state tensors and the shuffle generator's
state go into one safetensors file under ``checkpoint_dir`` (temp file + ``os.replace``),
named by a key over the data fingerprint, hyperparameters, seed and device. A fit that
finds a checkpoint with its key resumes after the checkpoint's epoch and ends with the
same bytes as a fit that was never interrupted. The checkpoint is removed once the fit
completes. Nothing is pickled: optimizer state is flattened into tensors plus JSON.

``torch`` is imported inside functions only: importing it costs about a second, which the
scikit-learn path must not pay.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.trainers import TrainedModel

TORCH_FORMAT = "hokusai-torch/v1"
CHECKPOINT_FORMAT = "hokusai-torch-checkpoint/v1"
CHECKPOINT_METADATA_KEY = "hokusai.checkpoint"
TORCH_MODELS = ("mlp",)
ACTIVATIONS = ("relu",)
NETWORK_DTYPE = "float32"
HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "hidden_sizes": [64, 32],
    "epochs": 30,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
}
# Tensor names of the preprocessing statistics in a model file.
_INPUT_MEAN, _INPUT_SCALE = "scaler.mean", "scaler.scale"
_TARGET_MEAN, _TARGET_SCALE = "target.mean", "target.scale"


# ----------------------------------------------------------------------------- hyperparameters


def _hyperparameter_error(message: str) -> ModelError:
    return ModelError(f"training.hyperparameters: {message}", code="E_MODEL_HYPERPARAMETER")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _hyperparameter_error(f"{name} must be a positive integer, got {value!r}")
    return value


def _number(name: str, value: Any, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _hyperparameter_error(f"{name} must be a finite number, got {value!r}")
    if (positive and value <= 0) or value < 0:
        raise _hyperparameter_error(f"{name} must be {'above' if positive else 'at least'} 0, got {value!r}")
    return float(value)


def _hidden_sizes(value: Any) -> list[int]:
    # Config hyperparameters are scalars, so "64,32" (or a single int) must work as well as a list.
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise _hyperparameter_error(
                f"hidden_sizes must be layer widths separated by commas, like \"64,32\"; got {value!r}"
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _hyperparameter_error(f"hidden_sizes must be a list of layer widths or \"64,32\", got {value!r}")
    return [_positive_int("each of hidden_sizes", size) for size in value]


def resolve_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with the configured values, checked and normalised."""
    unknown = sorted(set(hyperparameters) - set(HYPERPARAMETER_DEFAULTS))
    if unknown:
        raise _hyperparameter_error(
            f"{', '.join(unknown)} not accepted by the torch mlp; valid: {', '.join(sorted(HYPERPARAMETER_DEFAULTS))}"
        )
    merged = {**HYPERPARAMETER_DEFAULTS, **hyperparameters}
    return {
        "hidden_sizes": _hidden_sizes(merged["hidden_sizes"]),
        "epochs": _positive_int("epochs", merged["epochs"]),
        "batch_size": _positive_int("batch_size", merged["batch_size"]),
        "learning_rate": _number("learning_rate", merged["learning_rate"], positive=True),
        "weight_decay": _number("weight_decay", merged["weight_decay"], positive=False),
    }


# ----------------------------------------------------------------------------- torch helpers


@contextlib.contextmanager
def _deterministic_torch() -> Iterator[Any]:
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


def _device() -> Any:
    import torch

    if torch.cuda.is_available():
        # cuBLAS is only deterministic with a fixed workspace; it reads this when it starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    return torch.device("cpu")


def _build_network(layer_sizes: list[int], activation: str) -> Any:
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


def _weight_tensors(network: Any) -> dict[str, Any]:
    """The network's parameters by stable names (``layers.<k>.weight|bias``), as CPU tensors."""
    tensors = {}
    for k, layer in enumerate(_linear_layers(network)):
        tensors[f"layers.{k}.weight"] = layer.weight.detach().cpu().contiguous()
        tensors[f"layers.{k}.bias"] = layer.bias.detach().cpu().contiguous()
    return tensors


def _assign_weights(network: Any, tensors: Mapping[str, Any]) -> None:
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


# ----------------------------------------------------------------------------- the estimator


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
        if self.classes is None:
            raise AttributeError("a regression model has no classes_")
        if all(isinstance(c, str) for c in self.classes):
            return np.array(self.classes, dtype=object)  # like scikit-learn's classes_ for strings
        return np.array(self.classes)

    def _outputs(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        inputs = (np.asarray(X, dtype=np.float64) - self.input_mean) / self.input_scale
        with _deterministic_torch() as torch, torch.no_grad():
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
        arrays = {name: t.numpy() for name, t in _weight_tensors(self.network).items()}
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


# ----------------------------------------------------------------------------- model files


def dump_torch(model: TrainedModel) -> bytes:
    """The model file of a torch model: safetensors, description as RFC 8785 JSON metadata."""
    from safetensors.numpy import save

    from hokusai_assets.lib.commitments.canonical import canonical_json
    from hokusai_assets.lib.training.sklearn_files import METADATA_KEY, ModelDescription

    estimator: TorchMLP = model.estimator
    description = ModelDescription(
        "torch", model.task_type, list(model.feature_names), model.label, model.label_type, estimator.body()
    )
    metadata = {METADATA_KEY: canonical_json(description.as_dict()).decode("utf-8")}
    return save(estimator.tensors(), metadata=metadata)


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

    network = _build_network(layer_sizes, activation)
    _assign_weights(network, tensors)
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


# ----------------------------------------------------------------------------- checkpoints


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Adam's per-parameter state as named tensors plus JSON for any non-tensor values."""
    import torch

    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in sorted(state.items()):
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, scalars


def _load_optimizer(optimizer: Any, tensors: Mapping[str, Any], scalars: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in scalars.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


# ----------------------------------------------------------------------------- the trainer


@dataclass(frozen=True)
class _Data:
    X: np.ndarray  # raw features, float64
    y: np.ndarray  # class indices (int64) or the target (float64)
    classes: list[Any] | None
    fingerprint: str


def _training_data(frame: pd.DataFrame, schema: TaskSchema) -> _Data:
    X = np.ascontiguousarray(frame[schema.feature_names].astype("float64").to_numpy())
    if not np.all(np.isfinite(X)):
        raise ModelError("the training set has missing or infinite feature values", code="E_MODEL_NONFINITE")
    labels = frame[schema.label]
    if labels.isna().any():
        raise ModelError("the training set has rows without a label", code="E_MODEL_NONFINITE")
    classes: list[Any] | None = None
    if schema.task_type == "classification":
        values = [str(v) for v in labels.tolist()] if schema.label_type == "str" else labels.tolist()
        if schema.label_type == "int":
            # 1.0 from a float column is the class 1: classes_ and the model file say 1, as for int columns.
            if not all(float(v).is_integer() for v in values):
                raise ModelError("task.label_type is int but some labels are fractional", code="E_MODEL_LABELS")
            values = [int(v) for v in values]
        try:
            classes = sorted(set(values))
        except TypeError:
            raise ModelError("class labels mix types; declare task.label_type", code="E_MODEL_LABELS") from None
        if len(classes) < 2:
            raise ModelError(
                "the training set has a single class; classification needs at least two",
                code="E_MODEL_ONE_CLASS",
            )
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[v] for v in values], dtype=np.int64)
    else:
        y = np.ascontiguousarray(labels.astype("float64").to_numpy())
        if not np.all(np.isfinite(y)):
            raise ModelError("the training set has infinite label values", code="E_MODEL_NONFINITE")

    from hokusai_assets.lib.commitments.canonical import canonical_json

    digest = hashlib.sha256()
    header = {
        "task_type": schema.task_type,
        "feature_names": schema.feature_names,
        "label": schema.label,
        "classes": classes,
        "shape": list(X.shape),
    }
    digest.update(canonical_json(header))
    digest.update(X.tobytes())
    digest.update(y.tobytes())
    return _Data(X=X, y=y, classes=classes, fingerprint="sha256:" + digest.hexdigest())


def _standardise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0.0] = 1.0  # a constant column stays constant (zero) instead of NaN
    return mean, scale


@dataclass(frozen=True)
class TorchTrainer:
    """``training.framework: torch``: an MLP fitted with Adam, deterministic and resumable."""

    model: str
    hyperparameters: Mapping[str, Any]
    seed: int
    checkpoint_dir: Path | None = None
    progress: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if self.model not in TORCH_MODELS:
            raise ModelError(
                f"unknown training.model {self.model!r} for framework torch; choose one of {', '.join(TORCH_MODELS)}",
                code="E_MODEL_UNKNOWN",
            )
        resolve_hyperparameters(self.hyperparameters)  # fail at configuration time, not mid-run

    def _report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def checkpoint_path(self, fingerprint: str, device: str) -> Path | None:
        """Where the checkpoint of this data, configuration and device lives."""
        if self.checkpoint_dir is None:
            return None
        from hokusai_assets.lib.commitments.canonical import canonical_json

        key = canonical_json(self._checkpoint_identity(fingerprint, device))
        return Path(self.checkpoint_dir) / f"torch-{self.model}-{hashlib.sha256(key).hexdigest()[:32]}.safetensors"

    def _checkpoint_identity(self, fingerprint: str, device: str) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model,
            "data_fingerprint": fingerprint,
            "hyperparameters": resolve_hyperparameters(self.hyperparameters),
            "seed": self.seed,
            "device": device,
        }

    def fit(self, frame: pd.DataFrame, schema: TaskSchema) -> TrainedModel:
        if frame.empty:
            raise ModelError("cannot train on an empty training set", code="E_MODEL_NO_ROWS")
        params = resolve_hyperparameters(self.hyperparameters)
        data = _training_data(frame, schema)
        input_mean, input_scale = _standardise(data.X)
        inputs = ((data.X - input_mean) / input_scale).astype(np.float32)
        target_mean = target_scale = None
        if data.classes is None:
            target_mean, target_scale = (s.reshape(1) for s in _standardise(data.y.reshape(-1, 1)))
            targets = ((data.y - target_mean[0]) / target_scale[0]).astype(np.float32).reshape(-1, 1)
        else:
            targets = data.y
        outputs = 1 if data.classes is None else len(data.classes)
        layer_sizes = [len(schema.feature_names), *params["hidden_sizes"], outputs]

        network = self._train(inputs, targets, layer_sizes, params, data)
        estimator = TorchMLP(
            task_type=schema.task_type,
            network=network,
            layer_sizes=layer_sizes,
            activation="relu",
            input_mean=input_mean,
            input_scale=input_scale,
            classes=data.classes,
            target_mean=target_mean,
            target_scale=target_scale,
            training={"model": self.model, "hyperparameters": params, "seed": self.seed},
        )
        return TrainedModel(
            framework="torch",
            task_type=schema.task_type,
            feature_names=schema.feature_names,
            label=schema.label,
            label_type=schema.label_type,
            estimator=estimator,
        )

    def _train(self, inputs: np.ndarray, targets: np.ndarray, layer_sizes: list[int], params: dict, data: _Data) -> Any:
        import torch

        device = _device()
        checkpoint = self.checkpoint_path(data.fingerprint, device.type)
        identity = self._checkpoint_identity(data.fingerprint, device.type)
        epochs, batch_size = params["epochs"], params["batch_size"]
        def initial_state() -> tuple[Any, Any, Any]:
            torch.manual_seed(self.seed)
            # Built on CPU, so the initial weights do not depend on the device.
            network = _build_network(layer_sizes, "relu").to(device)
            optimizer = torch.optim.Adam(
                network.parameters(), lr=params["learning_rate"], weight_decay=params["weight_decay"]
            )
            return network, optimizer, torch.Generator(device="cpu").manual_seed(self.seed)

        with _deterministic_torch(), torch.random.fork_rng(devices=[]):
            network, optimizer, shuffle = initial_state()
            loss_fn = torch.nn.MSELoss() if data.classes is None else torch.nn.CrossEntropyLoss()
            X = torch.from_numpy(inputs).to(device)
            y = torch.from_numpy(targets).to(device)
            n_rows = len(inputs)

            start = self._resume(checkpoint, identity, network, optimizer, shuffle) if checkpoint else 0
            if start < 0:  # an unusable checkpoint may have been half loaded: begin afresh
                network, optimizer, shuffle = initial_state()
                start = 0
            if start:
                self._report(f"resuming from checkpoint at epoch {start}/{epochs}")
            for epoch in range(start, epochs):
                network.train()
                order = torch.randperm(n_rows, generator=shuffle)
                total = 0.0
                for first in range(0, n_rows, batch_size):
                    batch = order[first : first + batch_size].to(device)
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(network(X[batch]), y[batch])
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(batch)
                mean_loss = total / n_rows
                if not math.isfinite(mean_loss):
                    raise ModelError(
                        f"training diverged at epoch {epoch + 1} (loss {mean_loss}); "
                        "lower training.hyperparameters.learning_rate",
                        code="E_MODEL_DIVERGED",
                    )
                if checkpoint:
                    self._save_checkpoint(checkpoint, identity, epoch + 1, network, optimizer, shuffle)
                # About twenty progress lines per fit, however many epochs: each is an event
                # in Dagster's log, and thousands of them slow the run and the UI.
                if (epoch + 1) % max(1, epochs // 20) == 0 or epoch + 1 == epochs:
                    self._report(f"epoch {epoch + 1}/{epochs} loss {mean_loss:.4f}")
            network = network.to("cpu").eval()
        if checkpoint:
            checkpoint.unlink(missing_ok=True)  # done: the model file is the result now
        return network

    def _save_checkpoint(
        self, path: Path, identity: dict, epoch: int, network: Any, optimizer: Any, shuffle: Any
    ) -> None:
        from safetensors.torch import save

        from hokusai_assets.lib.commitments.canonical import canonical_json

        tensors = dict(_weight_tensors(network))
        optimizer_tensors, optimizer_scalars = _optimizer_tensors(optimizer)
        tensors.update(optimizer_tensors)
        tensors["rng.shuffle"] = shuffle.get_state()
        metadata = {**identity, "epoch": epoch, "optimizer_scalars": optimizer_scalars}
        _write_atomic(path, save(tensors, metadata={CHECKPOINT_METADATA_KEY: canonical_json(metadata).decode("utf-8")}))

    def _resume(self, path: Path, identity: dict, network: Any, optimizer: Any, shuffle: Any) -> int:
        """Load a matching checkpoint into the objects; return the epochs it completed.

        0: no matching checkpoint (objects untouched); -1: unusable (objects may be changed).
        """
        from safetensors import SafetensorError, safe_open

        if not path.exists():
            return 0
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = json.loads((handle.metadata() or {})[CHECKPOINT_METADATA_KEY])
                # safe_open is not a mapping: .keys() is its only listing.
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
            if {key: metadata.get(key) for key in identity} != identity:
                return 0  # a key collision or an older format: start over rather than mix runs
            epoch = int(metadata["epoch"])
            _assign_weights(network, tensors)
            _load_optimizer(optimizer, tensors, metadata.get("optimizer_scalars", {}))
            shuffle.set_state(tensors["rng.shuffle"])
        except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError, ModelError) as exc:
            self._report(f"ignoring unusable checkpoint {path.name} ({type(exc).__name__}); starting over")
            return -1
        return epoch
