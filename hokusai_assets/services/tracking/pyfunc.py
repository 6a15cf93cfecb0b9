"""The MLflow pyfunc for a hokusai model file, logged as a "model from code".

``services/tracking/runs.py`` passes this file's *path* to ``mlflow.pyfunc.log_model``. MLflow
copies the file's source into the logged model and runs it when the model is loaded; the
fitted model itself travels as an artifact, our ``.safetensors`` model file, which is
rebuilt by :func:`hokusai_assets.lib.training.model.model_from_bytes` from an allow-list of
classes. Nothing is pickled on the way in or out, so loading a registered model never
executes code that came with a contribution.

The loading environment needs ``hokusai_assets`` importable (it is in the model's pip
requirements); the model file format belongs to it.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd


class HokusaiModel(mlflow.pyfunc.PythonModel):
    """Class predictions (classification) or values (regression) for rows of features."""

    def load_context(self, context: Any) -> None:
        from hokusai_assets.lib.training.model import model_from_bytes

        with open(context.artifacts["model_file"], "rb") as handle:
            self.model = model_from_bytes(handle.read())

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.model.predict_features(frame)


mlflow.models.set_model(HokusaiModel())
