import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.evaluation.metrics import Predictions
from hokusai_assets.lib.samples.mock_task import feature_names, generate_rows
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.model import METADATA_KEY, model_from_bytes, read_model_file
from hokusai_assets.lib.training.torch_mlp.checkpoints import CHECKPOINT_METADATA_KEY
from hokusai_assets.lib.training.torch_trainer import TorchTrainer
from hokusai_assets.lib.training.trainers import get_trainer

CLASSIFICATION = TaskSchema("classification", "label", "int", tuple((n, "float") for n in feature_names()))
REGRESSION = TaskSchema("regression", "label", "float", tuple((n, "float") for n in feature_names()))
SMALL = {"hidden_sizes": "16,8", "epochs": 5, "batch_size": 32}
PICKLE_HEADERS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@pytest.fixture(scope="module")
def rows():
    return generate_rows("classification", 240, seed=5)


def _header(data: bytes) -> dict:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length])


def _assert_plain_safetensors(data: bytes, dtypes: set[str]) -> None:
    """A safetensors file of numeric tensors: no tensor, and no metadata value, is a pickle."""
    header = _header(data)
    body = data[8 + int.from_bytes(data[:8], "little") :]
    assert not data.startswith(PICKLE_HEADERS)
    for name, entry in header.items():
        if name == "__metadata__":
            for value in entry.values():
                json.loads(value)  # JSON text, not an opaque blob
            continue
        assert entry["dtype"] in dtypes, name
        start, end = entry["data_offsets"]
        assert not body[start:end].startswith(PICKLE_HEADERS), name


def test_classification_learns_better_than_the_majority_class():
    # One draw, split: a different seed would be a different task (other class centres).
    drawn = generate_rows("classification", 900, seed=5)
    training, held_out = drawn.iloc[:600], drawn.iloc[600:]
    model = get_trainer("torch", "mlp", {"epochs": 20}, 0).fit(training, CLASSIFICATION)
    predictions = model.predict(held_out)
    assert isinstance(predictions, Predictions)
    assert list(predictions.classes) == [0, 1, 2]
    assert predictions.proba.shape == (300, 3)
    assert np.allclose(predictions.proba.sum(axis=1), 1.0)
    accuracy = np.mean(predictions.y_pred == held_out["label"].to_numpy())
    majority = held_out["label"].value_counts(normalize=True).max()
    assert accuracy > majority + 0.2


def test_regression_learns_better_than_the_training_mean():
    drawn = generate_rows("regression", 900, seed=3)
    training, held_out = drawn.iloc[:600], drawn.iloc[600:]
    model = get_trainer("torch", "mlp", {"epochs": 20}, 0).fit(training, REGRESSION)
    predictions = model.predict(held_out)
    assert predictions.proba is None and predictions.y_pred.dtype == np.float64
    truth = held_out["label"].to_numpy()
    mse = np.mean((predictions.y_pred - truth) ** 2)
    baseline = np.mean((training["label"].mean() - truth) ** 2)
    assert mse < 0.5 * baseline


def test_two_runs_give_identical_bytes(rows):
    first = get_trainer("torch", "mlp", SMALL, 7).fit(rows, CLASSIFICATION).to_bytes()
    second = get_trainer("torch", "mlp", SMALL, 7).fit(rows, CLASSIFICATION).to_bytes()
    assert first == second
    other_seed = get_trainer("torch", "mlp", SMALL, 8).fit(rows, CLASSIFICATION).to_bytes()
    assert other_seed != first


def test_hidden_sizes_as_string_or_list_are_the_same_model(rows):
    as_string = get_trainer("torch", "mlp", SMALL, 1).fit(rows, CLASSIFICATION).to_bytes()
    as_list = get_trainer("torch", "mlp", {**SMALL, "hidden_sizes": [16, 8]}, 1).fit(rows, CLASSIFICATION)
    assert as_list.to_bytes() == as_string


@pytest.mark.parametrize("schema", [CLASSIFICATION, REGRESSION], ids=["classification", "regression"])
def test_round_trip_gives_identical_bytes_and_predictions(schema):
    rows = generate_rows(schema.task_type, 200, seed=2)
    model = get_trainer("torch", "mlp", SMALL, 0).fit(rows, schema)
    data = model.to_bytes()
    loaded = model_from_bytes(data)
    assert loaded.framework == "torch"
    assert loaded.to_bytes() == data
    original, restored = model.predict(rows), loaded.predict(rows)
    assert np.array_equal(original.y_pred, restored.y_pred)
    if schema.task_type == "classification":
        assert np.array_equal(original.proba, restored.proba)
        assert np.array_equal(original.classes, restored.classes)


def test_model_file_is_safetensors_with_a_json_description(rows):
    data = get_trainer("torch", "mlp", SMALL, 0).fit(rows, CLASSIFICATION).to_bytes()
    _assert_plain_safetensors(data, {"F32", "F64"})
    description, tensors = read_model_file(data)
    assert _header(data)["__metadata__"][METADATA_KEY] == json.dumps(
        description, sort_keys=True, separators=(",", ":")
    )
    assert description["format"] == "hokusai-torch/v1"
    assert description["model"]["architecture"] == {
        "kind": "mlp",
        "layer_sizes": [12, 16, 8, 3],
        "activation": "relu",
        "dtype": "float32",
    }
    assert description["model"]["classes"] == [0, 1, 2]
    assert {"scaler.mean", "scaler.scale", "layers.0.weight", "layers.2.bias"} <= set(tensors)


def test_string_labels():
    rows = generate_rows("classification", 150, seed=9)
    rows["label"] = rows["label"].map({0: "cat", 1: "dog", 2: "eel"}).astype(object)
    schema = TaskSchema("classification", "label", "str", CLASSIFICATION.features)
    model = get_trainer("torch", "mlp", SMALL, 0).fit(rows, schema)
    loaded = model_from_bytes(model.to_bytes())
    predictions = loaded.predict(rows)
    assert list(predictions.classes) == ["cat", "dog", "eel"]
    assert all(isinstance(label, str) for label in predictions.y_pred)
    assert read_model_file(model.to_bytes())[0]["model"]["classes"] == ["cat", "dog", "eel"]


class _Interrupt(Exception):
    pass


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_bytes(rows, tmp_path):
    params = {**SMALL, "epochs": 3}
    uninterrupted = get_trainer("torch", "mlp", params, 4).fit(rows, CLASSIFICATION).to_bytes()

    def stop_at_epoch_2(message: str) -> None:
        if message.startswith("epoch 2/3"):
            raise _Interrupt

    with pytest.raises(_Interrupt):
        get_trainer("torch", "mlp", params, 4, checkpoint_dir=tmp_path, progress=stop_at_epoch_2).fit(
            rows, CLASSIFICATION
        )
    [checkpoint] = tmp_path.glob("*.safetensors")
    _assert_plain_safetensors(checkpoint.read_bytes(), {"F32", "U8"})
    with safe_open(str(checkpoint), framework="pt") as handle:
        metadata = json.loads(handle.metadata()[CHECKPOINT_METADATA_KEY])
        names = set(handle.keys())
    assert metadata["epoch"] == 2 and metadata["seed"] == 4
    assert metadata["hyperparameters"]["hidden_sizes"] == [16, 8]
    assert metadata["data_fingerprint"].startswith("sha256:")
    assert "rng.shuffle" in names and any(name.startswith("optim.") for name in names)

    messages: list[str] = []
    resumed = get_trainer("torch", "mlp", params, 4, checkpoint_dir=tmp_path, progress=messages.append)
    assert resumed.fit(rows, CLASSIFICATION).to_bytes() == uninterrupted
    assert messages[0] == "resuming from checkpoint at epoch 2/3"
    assert len(messages) == 2 and messages[1].startswith("epoch 3/3 loss ")
    assert list(tmp_path.glob("*.safetensors")) == []  # removed once the fit completed


def test_checkpoint_of_other_data_or_a_corrupt_one_is_not_used(rows, tmp_path):
    params = {**SMALL, "epochs": 2}
    expected = get_trainer("torch", "mlp", params, 0).fit(rows, CLASSIFICATION).to_bytes()

    def stop(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise _Interrupt

    with pytest.raises(_Interrupt):
        interrupted = get_trainer("torch", "mlp", params, 0, checkpoint_dir=tmp_path, progress=stop)
        interrupted.fit(rows.iloc[1:], CLASSIFICATION)
    # Different rows: a different data fingerprint, so the checkpoint above is not this fit's.
    messages: list[str] = []
    trainer = get_trainer("torch", "mlp", params, 0, checkpoint_dir=tmp_path, progress=messages.append)
    assert trainer.fit(rows, CLASSIFICATION).to_bytes() == expected
    assert not any("resuming" in m for m in messages)

    stale = set(tmp_path.glob("*.safetensors"))
    with pytest.raises(_Interrupt):
        get_trainer("torch", "mlp", params, 0, checkpoint_dir=tmp_path, progress=stop).fit(rows, CLASSIFICATION)
    [checkpoint] = set(tmp_path.glob("*.safetensors")) - stale
    checkpoint.write_bytes(b"\x80\x04K\x01.")  # garbage (a pickle, even): never loaded
    messages.clear()
    assert trainer.fit(rows, CLASSIFICATION).to_bytes() == expected
    assert messages[0].startswith("ignoring unusable checkpoint")


def test_progress_reports_every_epoch(rows):
    messages: list[str] = []
    get_trainer("torch", "mlp", {**SMALL, "epochs": 3}, 0, progress=messages.append).fit(rows, CLASSIFICATION)
    assert [m.split(" loss ")[0] for m in messages] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(float(m.split(" loss ")[1]) > 0 for m in messages)


def test_fit_leaves_torch_settings_and_global_rng_as_they_were(rows):
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng = torch.get_rng_state()
    get_trainer("torch", "mlp", SMALL, 0).fit(rows, CLASSIFICATION)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng)


def test_unknown_hyperparameter_lists_valid_ones():
    with pytest.raises(ModelError) as error:
        get_trainer("torch", "mlp", {"dropout": 0.1}, 0)
    assert error.value.code == "E_MODEL_HYPERPARAMETER"
    assert "dropout" in error.value.message
    for name in ("hidden_sizes", "epochs", "batch_size", "learning_rate", "weight_decay"):
        assert name in error.value.message


@pytest.mark.parametrize(
    "hyperparameters",
    [{"epochs": 0}, {"batch_size": True}, {"learning_rate": -1.0}, {"hidden_sizes": "64,x"}, {"weight_decay": "a"}],
)
def test_bad_hyperparameter_values_are_refused(hyperparameters):
    with pytest.raises(ModelError) as error:
        TorchTrainer("mlp", hyperparameters, 0)
    assert error.value.code == "E_MODEL_HYPERPARAMETER"


def test_unknown_model_and_single_class_are_refused(rows):
    with pytest.raises(ModelError) as error:
        get_trainer("torch", "transformer", {}, 0)
    assert error.value.code == "E_MODEL_UNKNOWN"
    with pytest.raises(ModelError) as error:
        get_trainer("torch", "mlp", SMALL, 0).fit(rows.assign(label=1), CLASSIFICATION)
    assert error.value.code == "E_MODEL_ONE_CLASS"


def test_tampered_architecture_is_refused(rows):
    from safetensors.numpy import save

    description, tensors = read_model_file(get_trainer("torch", "mlp", SMALL, 0).fit(rows, CLASSIFICATION).to_bytes())
    description["model"]["architecture"]["activation"] = "os.system"
    with pytest.raises(ModelError) as error:
        model_from_bytes(save(tensors, metadata={METADATA_KEY: json.dumps(description)}))
    assert error.value.code == "E_MODEL_UNTRUSTED"


def test_importing_the_trainers_does_not_import_torch():
    code = (
        "import sys, hokusai_assets.lib.training.trainers, hokusai_assets.lib.training.torch_trainer, "
        "hokusai_assets.lib.training.torch_mlp.network, hokusai_assets.lib.training.torch_mlp.checkpoints; "
        "assert 'torch' not in sys.modules, 'torch imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
