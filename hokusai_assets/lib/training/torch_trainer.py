"""The torch fit: an MLP trained with Adam, deterministic on CPU and resumable (see ``torch_mlp/``)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.features import FeatureEncoder, training_matrix
from hokusai_assets.lib.training.labels import class_indices
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.lib.training.torch_mlp.checkpoints import (
    checkpoint_file,
    checkpoint_identity,
    resume,
    save_checkpoint,
)
from hokusai_assets.lib.training.torch_mlp.hyperparameters import resolve_hyperparameters
from hokusai_assets.lib.training.torch_mlp.network import TorchMLP, build_network, deterministic_torch, training_device

TORCH_MODELS = ("mlp",)


@dataclass(frozen=True)
class _Data:
    X: np.ndarray  # features (encoded, when there is an encoder), float64
    y: np.ndarray  # class indices (int64) or the target (float64)
    classes: list[Any] | None
    fingerprint: str
    encoder: FeatureEncoder | None


def _training_data(frame: pd.DataFrame, schema: TaskSchema) -> _Data:
    encoder, features = training_matrix(frame, schema)
    X = np.ascontiguousarray(features.to_numpy())
    if not np.all(np.isfinite(X)):
        raise ModelError("the training set has missing or infinite feature values", code="E_MODEL_NONFINITE")
    labels = frame[schema.label]
    if labels.isna().any():
        raise ModelError("the training set has rows without a label", code="E_MODEL_NONFINITE")
    classes: list[Any] | None = None
    if schema.task_type == "classification":
        y, classes = class_indices(labels, schema.label_type)
    else:
        y = np.ascontiguousarray(labels.astype("float64").to_numpy())
        if not np.all(np.isfinite(y)):
            raise ModelError("the training set has infinite label values", code="E_MODEL_NONFINITE")

    from hokusai_assets.lib.commitments.canonical import canonical_json

    digest = hashlib.sha256()
    header = {
        "task_type": schema.task_type,
        "feature_names": encoder.output_names if encoder else schema.feature_names,
        "label": schema.label,
        "classes": classes,
        "shape": list(X.shape),
    }
    digest.update(canonical_json(header))
    digest.update(X.tobytes())
    digest.update(y.tobytes())
    return _Data(X=X, y=y, classes=classes, fingerprint="sha256:" + digest.hexdigest(), encoder=encoder)


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
        return checkpoint_file(self.checkpoint_dir, self._checkpoint_identity(fingerprint, device))

    def _checkpoint_identity(self, fingerprint: str, device: str) -> dict[str, Any]:
        return checkpoint_identity(self.model, resolve_hyperparameters(self.hyperparameters), self.seed, fingerprint, device)

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
        layer_sizes = [data.X.shape[1], *params["hidden_sizes"], outputs]

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
        return TrainedModel.fitted("torch", schema, estimator, data.encoder)

    def _train(self, inputs: np.ndarray, targets: np.ndarray, layer_sizes: list[int], params: dict, data: _Data) -> Any:
        import torch

        device = training_device()
        checkpoint = self.checkpoint_path(data.fingerprint, device.type)
        identity = self._checkpoint_identity(data.fingerprint, device.type)
        epochs, batch_size = params["epochs"], params["batch_size"]
        def initial_state() -> tuple[Any, Any, Any]:
            torch.manual_seed(self.seed)
            # Built on CPU, so the initial weights do not depend on the device.
            network = build_network(layer_sizes, "relu").to(device)
            optimizer = torch.optim.Adam(
                network.parameters(), lr=params["learning_rate"], weight_decay=params["weight_decay"]
            )
            return network, optimizer, torch.Generator(device="cpu").manual_seed(self.seed)

        with deterministic_torch(), torch.random.fork_rng(devices=[]):
            network, optimizer, shuffle = initial_state()
            loss_fn = torch.nn.MSELoss() if data.classes is None else torch.nn.CrossEntropyLoss()
            X = torch.from_numpy(inputs).to(device)
            y = torch.from_numpy(targets).to(device)
            n_rows = len(inputs)

            start = resume(checkpoint, identity, network, optimizer, shuffle, self._report) if checkpoint else 0
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
                    save_checkpoint(checkpoint, identity, epoch + 1, network, optimizer, shuffle)
                # About twenty progress lines per fit, however many epochs: each is an event
                # in Dagster's log, and thousands of them slow the run and the UI.
                if (epoch + 1) % max(1, epochs // 20) == 0 or epoch + 1 == epochs:
                    self._report(f"epoch {epoch + 1}/{epochs} loss {mean_loss:.4f}")
            network = network.to("cpu").eval()
        if checkpoint:
            checkpoint.unlink(missing_ok=True)  # done: the model file is the result now
        return network
