"""Reward players of a task with categories, texts and imputed numbers."""

import numpy as np

from hokusai_assets.lib.rewards.players import standardised_features
from hokusai_assets.lib.samples.mixed_task import FEATURES, IMPUTATION, LABEL, generate_rows
from hokusai_assets.lib.task import TaskSchema

SCHEMA = TaskSchema("classification", LABEL, "int", tuple(FEATURES.items()), imputation=tuple(IMPUTATION.items()))


def test_reward_players_encode_categories_and_texts():
    frame = generate_rows(50, seed=2)
    frame.loc[::5, "country"] = None
    frame.loc[::7, "age"] = np.nan
    X = standardised_features(frame, SCHEMA)
    assert X.shape[0] == 50 and X.shape[1] > len(FEATURES) and np.isfinite(X).all()
