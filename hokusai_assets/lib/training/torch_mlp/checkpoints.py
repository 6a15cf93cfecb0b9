"""Checkpoints of a torch fit: resumable state, keyed by everything that determines the result.

After every epoch, weights, Adam's state tensors and the shuffle generator's state go into
one safetensors file (written atomically), named by a key over the data fingerprint,
hyperparameters, seed and device. A fit that finds a checkpoint with its key resumes
after the checkpoint's epoch. Nothing is pickled: optimizer state is flattened into
tensors plus JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.training.torch_mlp.network import assign_weights, weight_tensors

CHECKPOINT_FORMAT = "hokusai-torch-checkpoint/v1"
CHECKPOINT_METADATA_KEY = "hokusai.checkpoint"


def checkpoint_identity(model: str, hyperparameters: dict[str, Any], seed: int, fingerprint: str, device: str) -> dict[str, Any]:
    """Everything a checkpoint must agree on to be resumed from."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model,
        "data_fingerprint": fingerprint,
        "hyperparameters": hyperparameters,
        "seed": seed,
        "device": device,
    }


def checkpoint_file(directory: Path, identity: dict[str, Any]) -> Path:
    """Where the checkpoint with ``identity`` lives in ``directory``."""
    key = hashlib.sha256(canonical_json(identity)).hexdigest()[:32]
    return Path(directory) / f"torch-{identity['model']}-{key}.safetensors"


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


def save_checkpoint(path: Path, identity: dict, epoch: int, network: Any, optimizer: Any, shuffle: Any) -> None:
    from safetensors.torch import save

    tensors = dict(weight_tensors(network))
    optimizer_tensors, optimizer_scalars = _optimizer_tensors(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.shuffle"] = shuffle.get_state()
    metadata = {**identity, "epoch": epoch, "optimizer_scalars": optimizer_scalars}
    atomic_write_bytes(path, save(tensors, metadata={CHECKPOINT_METADATA_KEY: canonical_json(metadata).decode("utf-8")}))


def resume(
    path: Path, identity: dict, network: Any, optimizer: Any, shuffle: Any, report: Callable[[str], None]
) -> int:
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
        assign_weights(network, tensors)
        _load_optimizer(optimizer, tensors, metadata.get("optimizer_scalars", {}))
        shuffle.set_state(tensors["rng.shuffle"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError, ModelError) as exc:
        report(f"ignoring unusable checkpoint {path.name} ({type(exc).__name__}); starting over")
        return -1
    return epoch
