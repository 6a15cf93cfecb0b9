"""The attestation statement: an in-toto Statement v1 of what one contribution did, and its one definition.

:class:`DeltaOnePredicate` is the predicate, typed: :func:`attest_contribution` builds it
from what the graph actually used (data roots and model digests are re-derived from the
tables and models, never copied from upstream metadata); :meth:`DeltaOnePredicate.statement`
writes the statement; :meth:`DeltaOnePredicate.from_statement` reads one back, checking
its form, and is what the verifier, the re-run, the registry and the CLI all read with.

The statement carries no wall-clock time and no run id, so the same inputs always give
the same bytes (RFC 8785). Times and run ids go in an unsigned receipt beside it.
Signing (``signing.py``: DSSE with Ed25519, EIP-712 with secp256k1) wraps these bytes; it
does not change them, and both signature schemes are deterministic, so the same inputs
and keys give byte-identical envelopes too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hokusai_assets.lib.commitments.digests import bytes_digest, parse_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.intake.contributions import PARTITION_KEY_RE
from hokusai_assets.lib.wallet import normalise_wallet

if TYPE_CHECKING:  # only for attest_contribution's arguments: a verifier need not import training
    import pandas as pd

    from hokusai_assets.lib.intake.contributions import Contributor
    from hokusai_assets.lib.task import TaskSchema
    from hokusai_assets.lib.training.model import TrainedModel

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://hokusai.ai/attestations/delta-one/v1"
# The data subject is a Merkle tree head over canonical rows, not the hash of a file, so
# it gets its own algorithm name rather than passing for a plain sha256 of some bytes.
DATA_ROOT_ALGORITHM = "merkle-rfc6962-sha256"
PREDICATE_SECTIONS = ("task", "contribution", "baseline", "improved", "benchmark", "evaluation", "config_digest", "code_version", "seed")


class StatementFormatError(HokusaiError):
    """A statement that is not a well-formed DeltaOne statement; the message says what is wrong."""

    code = "E_ATTESTATION_STATEMENT"


@functools.cache
def code_version() -> dict[str, str | None]:
    """The package version and, in a git checkout, the commit it runs from."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("hokusai_assets")
    except PackageNotFoundError:
        package_version = None
    return {"package": "hokusai_assets", "version": package_version, "git_commit": _git_commit()}


def _git_commit() -> str | None:
    # Read .git directly: no subprocess, and no git needed on a verifier's machine.
    git_dir = Path(__file__).resolve().parents[3] / ".git"
    head = git_dir / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text().strip()
    if not ref.startswith("ref: "):
        return ref
    ref_path = git_dir / ref[5:]
    if ref_path.is_file():
        return ref_path.read_text().strip()
    packed = git_dir / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref[5:]):
                return line.split(" ", 1)[0]
    return None


# --------------------------------------------------------------------------- the predicate


@dataclass(frozen=True)
class AttestedContribution:
    """The contribution as received (file digest) and as committed (data root of its kept rows)."""

    partition: str
    wallet: str
    contributor_id: str | None
    license: str | None
    file_digest: str
    format: str
    data_root: str
    rows: int
    drift_digest: str | None  # the drift numbers' digest (not the HTML's, which embeds random ids)


@dataclass(frozen=True)
class AttestedModel:
    """A model (its file's digest) and the rows it was trained on (their data root)."""

    model_digest: str
    training_data_root: str
    training_rows: int
    integration_strategy: str | None = None  # the improved model's only

    def as_json(self) -> dict[str, Any]:
        section = {
            "model_digest": self.model_digest,
            "training_data_root": self.training_data_root,
            "training_rows": self.training_rows,
        }
        if self.integration_strategy is not None:
            section["integration_strategy"] = self.integration_strategy
        return section


@dataclass(frozen=True)
class DeltaOnePredicate:
    """Everything a DeltaOne attestation says; every digest is ``sha256:<hex>``."""

    task_name: str
    task_type: str
    label: str
    columns: tuple[str, ...]  # the committed columns, in order: what a data root is computed over
    contribution: AttestedContribution
    baseline: AttestedModel
    improved: AttestedModel
    benchmark_data_root: str
    benchmark_rows: int
    evaluation: Mapping[str, Any]  # the delta (lib/evaluation/delta.py)
    config_digest: str
    code_version: Mapping[str, Any]
    seed: int
    # With training.tuning only: the study's settings, the chosen hyperparameters, their CV score
    # and the study digest (lib/training/tuning.py). Absent otherwise, so untuned statements keep
    # their bytes.
    tuning: Mapping[str, Any] | None = None

    def statement(self) -> dict[str, Any]:
        """The in-toto Statement v1: subjects are the improved model and the contribution's data root."""
        partition = self.contribution.partition
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": f"model:{self.task_name}:{partition}", "digest": {"sha256": _hex(self.improved.model_digest)}},
                {"name": f"data:{partition}", "digest": {DATA_ROOT_ALGORITHM: _hex(self.contribution.data_root)}},
            ],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "task": {"name": self.task_name, "type": self.task_type, "label": self.label, "columns": list(self.columns)},
                "contribution": dict(vars(self.contribution)),
                "baseline": self.baseline.as_json(),
                "improved": self.improved.as_json(),
                "benchmark": {"data_root": self.benchmark_data_root, "rows": self.benchmark_rows},
                "evaluation": dict(self.evaluation),
                "config_digest": self.config_digest,
                "code_version": dict(self.code_version),
                "seed": self.seed,
            },
        }
        if self.tuning is not None:
            statement["predicate"]["tuning"] = dict(self.tuning)
        return statement

    @classmethod
    def from_statement(cls, statement: Any) -> DeltaOnePredicate:
        """Read a statement back; StatementFormatError says what is wrong with one that is not ours.

        Checks its type and predicate type, that every section is there, every digest is
        ``sha256:<64 hex>``, the partition key and the EIP-55 wallet, and that the subjects
        are the improved model and the data root the predicate names.
        """
        _require(isinstance(statement, Mapping), "the statement is not a JSON object")
        _require(statement.get("_type") == STATEMENT_TYPE, f"_type is {statement.get('_type')!r}, expected {STATEMENT_TYPE}")
        _require(
            statement.get("predicateType") == PREDICATE_TYPE,
            f"predicateType is {statement.get('predicateType')!r}, expected {PREDICATE_TYPE}",
        )
        predicate = _mapping(statement, "predicate", "statement")
        missing = sorted(set(PREDICATE_SECTIONS) - set(predicate))
        _require(not missing, f"the predicate lacks {', '.join(missing)}")
        task = _mapping(predicate, "task", "predicate")
        contribution = _mapping(predicate, "contribution", "predicate")
        improved = _mapping(predicate, "improved", "predicate")
        baseline = _mapping(predicate, "baseline", "predicate")
        benchmark = _mapping(predicate, "benchmark", "predicate")
        evaluation = _mapping(predicate, "evaluation", "predicate")
        model = _digest(improved.get("model_digest"), "improved.model_digest")
        root = _digest(contribution.get("data_root"), "contribution.data_root")
        _digest(contribution.get("file_digest"), "contribution.file_digest")
        _digest(baseline.get("model_digest"), "baseline.model_digest")
        _digest(benchmark.get("data_root"), "benchmark.data_root")
        _digest(predicate.get("config_digest"), "config_digest")
        partition = contribution.get("partition")
        _require(
            isinstance(partition, str) and PARTITION_KEY_RE.fullmatch(partition) is not None,
            f"contribution.partition {partition!r} is not c-<16 hex>",
        )
        wallet = contribution.get("wallet")
        try:
            eip55 = isinstance(wallet, str) and normalise_wallet(wallet) == wallet
        except HokusaiError:
            eip55 = False
        _require(eip55, f"contribution.wallet {wallet!r} is not an EIP-55 address")
        _require(
            evaluation.get("task_type") == task.get("type"),
            f"evaluation.task_type {evaluation.get('task_type')!r} differs from task.type {task.get('type')!r}",
        )
        subjects = statement.get("subject")
        _require(isinstance(subjects, list) and len(subjects) == 2, "the statement must have exactly two subjects")
        _require(
            subjects[0] == {"name": f"model:{task.get('name')}:{partition}", "digest": {"sha256": model.hex()}},
            "subject[0] is not the improved model (sha256 == predicate.improved.model_digest)",
        )
        _require(
            subjects[1] == {"name": f"data:{partition}", "digest": {DATA_ROOT_ALGORITHM: root.hex()}},
            f"subject[1] is not the contribution ({DATA_ROOT_ALGORITHM} == predicate.contribution.data_root)",
        )
        tuning = predicate.get("tuning")
        if tuning is not None:
            tuning = _mapping(predicate, "tuning", "predicate")
            _digest(tuning.get("study_digest"), "tuning.study_digest")
            _require(isinstance(tuning.get("chosen"), dict), "tuning.chosen is missing or not an object")
        columns = task.get("columns")
        return cls(
            task_name=task.get("name"),
            task_type=task.get("type"),
            label=task.get("label"),
            columns=tuple(columns) if isinstance(columns, list) else (),
            contribution=AttestedContribution(
                **{name: contribution.get(name) for name in AttestedContribution.__dataclass_fields__}
            ),
            baseline=_attested_model(baseline),
            improved=_attested_model(improved),
            benchmark_data_root=benchmark["data_root"],
            benchmark_rows=benchmark.get("rows"),
            evaluation=evaluation,
            config_digest=predicate["config_digest"],
            code_version=predicate["code_version"],
            seed=predicate["seed"],
            tuning=tuning,
        )


def _attested_model(section: Mapping[str, Any]) -> AttestedModel:
    return AttestedModel(**{name: section.get(name) for name in AttestedModel.__dataclass_fields__})


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise StatementFormatError(detail)


def _mapping(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    _require(isinstance(value, dict), f"{where}.{key} is missing or not an object")
    return value


def _digest(value: Any, where: str) -> bytes:
    try:
        return parse_digest(value)
    except HokusaiError:
        raise StatementFormatError(f"{where} is not a sha256:<64 hex> digest: {value!r}") from None


def _hex(digest: str) -> str:
    return parse_digest(digest).hex()


# --------------------------------------------------------------------------- building it


def attest_contribution(
    *,
    task_name: str,
    schema: TaskSchema,
    partition: str,
    contributor: Contributor,
    file_digest: str,
    file_format: str,
    contribution: pd.DataFrame,
    drift_digest: str | None,
    baseline_model: TrainedModel,
    baseline_rows: pd.DataFrame,
    improved_model: TrainedModel,
    improved_rows: pd.DataFrame,
    integration_strategy: str,
    benchmark: pd.DataFrame,
    delta: Mapping[str, Any],
    config_digest: str,
    seed: int,
    code: Mapping[str, Any] | None = None,
    tuning: Mapping[str, Any] | None = None,
) -> DeltaOnePredicate:
    """The predicate of one evaluated contribution, from the tables and models actually used.

    Data roots are computed over the task's committed columns; model digests are the
    SHA-256 of the model files the models write. ``tuning`` is the tuning section
    (``lib/training/tuning.attested_section``), None when nothing was tuned.
    """
    columns = schema.columns
    return DeltaOnePredicate(
        task_name=task_name,
        task_type=schema.task_type,
        label=schema.label,
        columns=tuple(columns),
        contribution=AttestedContribution(
            partition=partition,
            wallet=contributor.wallet,
            contributor_id=contributor.contributor_id,
            license=contributor.license,
            file_digest=file_digest,
            format=file_format,
            data_root=data_root(contribution, columns),
            rows=len(contribution),
            drift_digest=drift_digest,
        ),
        baseline=AttestedModel(
            model_digest=bytes_digest(baseline_model.to_bytes()),
            training_data_root=data_root(baseline_rows, columns),
            training_rows=len(baseline_rows),
        ),
        improved=AttestedModel(
            model_digest=bytes_digest(improved_model.to_bytes()),
            training_data_root=data_root(improved_rows, columns),
            training_rows=len(improved_rows),
            integration_strategy=integration_strategy,
        ),
        benchmark_data_root=data_root(benchmark, columns),
        benchmark_rows=len(benchmark),
        evaluation=delta,
        config_digest=config_digest,
        code_version=code_version() if code is None else code,
        seed=seed,
        tuning=tuning,
    )
