"""Checks of files a verifier holds against the statement: the model file, the contributed data."""

from __future__ import annotations

from pathlib import Path

from hokusai_assets.lib.attestation.verify.base import Context, Failed, require
from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.formats import read_table


def check_model_digest(ctx: Context) -> str:
    path = Path(ctx.model_file)
    require(not path.is_dir(), f"{path} is a directory, not a model file")
    require(path.is_file(), f"model file {path} not found")
    digest = file_digest(path)
    predicate = ctx.predicate
    expected = predicate.improved.model_digest
    if digest != expected and digest == predicate.baseline.model_digest:
        raise Failed(f"{path.name} is the baseline model ({digest}), not the improved model {expected}")
    require(digest == expected, f"{path.name} has digest {digest}, the statement's improved model is {expected}")
    return f"{path.name} is the improved model ({digest})"


def check_data_file(ctx: Context) -> str:
    path = Path(ctx.data_file)
    require(not path.is_dir(), f"{path} is a directory, not a data file")
    require(path.is_file(), f"data file {path} not found")
    contribution = ctx.predicate.contribution
    digest = file_digest(path)
    if digest == contribution.file_digest:
        return f"{path.name} is the received file ({digest})"
    columns = list(ctx.predicate.columns)
    require(
        columns and all(isinstance(c, str) for c in columns),
        f"{path.name} is not the received file ({digest} != {contribution.file_digest}), and the statement "
        "records no task.columns to recompute a data root over",
    )
    try:
        root = data_root(read_table(path), columns)
    except HokusaiError as exc:
        raise Failed(
            f"{path.name} is not the received file ({digest}) and its data root cannot be computed: {exc.message}"
        ) from None
    require(
        root == contribution.data_root,
        f"{path.name}: neither its digest ({digest}) is contribution.file_digest nor its data root over "
        f"{len(columns)} committed column(s) ({root}) is contribution.data_root ({contribution.data_root})",
    )
    return f"{path.name} holds the committed rows (data root {root})"
