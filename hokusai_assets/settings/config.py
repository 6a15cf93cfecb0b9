"""``hokusai.yaml``: every section and key, validated with pydantic, and how a file is read.

Unknown keys and wrong types are errors that name the key (``parse_config``); how the file
and the home are chosen, and the settings built from them, are in ``settings/load.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hokusai_assets.lib.attestation.eip712 import Eip712Domain
from hokusai_assets.lib.errors import ConfigError, HokusaiError
from hokusai_assets.lib.evaluation.delta import EvaluationPolicy
from hokusai_assets.lib.evaluation.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from hokusai_assets.lib.intake.formats import ParseRules
from hokusai_assets.lib.intake.leakage import NearCopyRule
from hokusai_assets.lib.intake.quality import QualityFloors
from hokusai_assets.lib.intake.validate import IntakePolicy
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.aliases import implied_task_type, normalise_training
from hokusai_assets.settings.alerts import AlertsConfig
from hokusai_assets.settings.layout import DEFAULT_INBOX, DEFAULT_QUARANTINE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="model name in the registry")
    type: Literal["classification", "regression"]
    label: str
    label_type: Literal["int", "str", "float"] | None = None
    # int, float and bool are numbers; category a string one-hot encoded over the training
    # set's values; text free text read as TF-IDF (lib/training/features.py).
    features: dict[str, Literal["int", "float", "bool", "category", "text"]] = Field(min_length=1)
    # feature -> mean | median | most_frequent | constant:<value>: what a missing value becomes.
    # A numeric feature named here may be missing in the data (null); others may not.
    imputation: dict[str, str] = Field(default_factory=dict)
    id_column: str | None = None
    baseline_data: str
    benchmark_data: str

    @model_validator(mode="after")
    def _label_fits_task(self) -> TaskConfig:
        if self.label in self.features:
            raise ValueError(f"label {self.label!r} is also listed as a feature; remove it from features")
        if self.type == "regression" and self.label_type == "str":
            raise ValueError("a regression label must be numeric (label_type int or float)")
        if self.id_column and (self.id_column in self.features or self.id_column == self.label):
            raise ValueError(f"id_column {self.id_column!r} must not be a feature or the label")
        try:
            self.schema()
        except HokusaiError as error:  # an imputation that names no feature or does not fit its type
            raise ValueError(f"task.imputation: {error.message}") from None
        return self

    def schema(self) -> TaskSchema:
        label_type = self.label_type or ("int" if self.type == "classification" else "float")
        return TaskSchema(
            task_type=self.type,
            label=self.label,
            label_type=label_type,
            features=tuple(self.features.items()),
            id_column=self.id_column,
            imputation=tuple(self.imputation.items()),
        )


class TuningConfig(_Strict):
    """``training.tuning``: one seeded Optuna study on the baseline training set (lib/training/tuning.py)."""

    method: Literal["optuna"] = "optuna"
    trials: int = Field(default=20, ge=1, le=10_000)
    cv_folds: int = Field(default=5, ge=2, le=100)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)  # default: training.seed


class TrainingConfig(_Strict):
    framework: Literal["sklearn", "torch", "xgboost", "lightgbm"] = "sklearn"
    model: str = "logistic_regression"
    # The replaced pipeline's spelling (RandomForestClassifier, ...), accepted as written:
    # it sets model (lib/training/aliases.py) and is kept only to check it against task.type.
    model_type: str | None = None
    hyperparameters: dict[str, int | float | str | bool | list[int] | None] = Field(default_factory=dict)
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    # Absent: the configured hyperparameters, as before; present: tuned once on the baseline.
    tuning: TuningConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_spellings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            return normalise_training(data)
        except HokusaiError as error:  # reported as a config error, with the file's path
            raise ValueError(error.message) from None


class BootstrapConfig(_Strict):
    resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)


class EvaluationConfig(_Strict):
    metrics: list[str] | None = None  # default: every metric of the task type
    weights: dict[str, float] = Field(default_factory=dict)
    primary_metric: str | None = None  # default: accuracy / mse
    average: Literal["macro", "weighted"] = "macro"
    min_improvement: float = Field(default=0.0, ge=0.0)
    min_benchmark_rows: int = Field(default=100, ge=1)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)


class IntegrationConfig(_Strict):
    strategy: Literal["append", "replace", "update"] = "append"
    max_samples: int | None = Field(default=None, ge=1)
    deduplicate: bool = True


class QualityFloorsConfig(_Strict):
    """``intake.quality_floors``: the least each quality part may score (lib/intake/quality.py)."""

    completeness: float = Field(default=QualityFloors.completeness, ge=0.0, le=1.0)
    uniqueness: float = Field(default=QualityFloors.uniqueness, ge=0.0, le=1.0)
    label_balance: float = Field(default=QualityFloors.label_balance, ge=0.0, le=1.0)
    in_range: float = Field(default=QualityFloors.in_range, ge=0.0, le=1.0)


class NearCopyConfig(_Strict):
    """``intake.near_copy``: when a row counts as a benchmark row edited a little (lib/intake/leakage.py)."""

    # 0 counts exact copies only; above 1 the check would cost rows x features**k.
    max_differing_features: int = Field(default=NearCopyRule.max_differing_features, ge=0, le=1)
    max_standardised_distance: float = Field(default=NearCopyRule.max_standardised_distance, ge=0.0)
    min_numeric_features: int = Field(default=NearCopyRule.min_numeric_features, ge=1)


PARSE_RULE_KEYS = ("max_columns", "max_cell_bytes", "max_number_digits", "max_json_depth", "trim_headers")


class IntakeConfig(_Strict):
    max_file_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    max_rows: int = Field(default=5_000_000, ge=1)
    # The parser's limits (lib/intake/formats.py, ParseRules), each checked before what it bounds is built.
    max_columns: int = Field(default=ParseRules.max_columns, ge=1)
    max_cell_bytes: int = Field(default=ParseRules.max_cell_bytes, ge=1)
    # Python converts at most 4,300 digits of an integer (sys.int_info): no limit above that could hold.
    max_number_digits: int = Field(default=ParseRules.max_number_digits, ge=1, le=4300)
    # Python's JSON parser recurses once per level, within a recursion limit of 1,000 frames.
    max_json_depth: int = Field(default=ParseRules.max_json_depth, ge=1, le=500)
    trim_headers: bool = False  # strip spaces around column names instead of reporting them
    nan_policy: Literal["reject", "drop_rows"] = "reject"
    allow_lowercase_wallet: bool = False
    min_quality: float = Field(default=0.7, ge=0.0, le=1.0)
    quality_floors: QualityFloorsConfig = Field(default_factory=QualityFloorsConfig)
    range_margin: float = Field(default=IntakePolicy.range_margin, ge=0.0)
    max_leakage_share: float = Field(default=0.05, ge=0.0, le=1.0)
    near_copy: NearCopyConfig = Field(default_factory=NearCopyConfig)
    max_duplicate_share: float = Field(default=0.5, ge=0.0, le=1.0)
    # A file dropped in the inbox by hand gets this long for its sidecar to follow.
    sidecar_wait_seconds: float = Field(default=600.0, ge=0.0)
    # Bounded work per sensor tick keeps every tick well inside Dagster's sensor timeout.
    max_files_per_tick: int = Field(default=500, ge=1)
    sensor_interval_seconds: int = Field(default=30, ge=5)

    def parse_rules(self) -> ParseRules:
        return ParseRules(
            max_columns=self.max_columns,
            max_cell_bytes=self.max_cell_bytes,
            max_number_digits=self.max_number_digits,
            max_json_depth=self.max_json_depth,
            max_rows=self.max_rows,
            max_file_bytes=self.max_file_bytes,
            trim_headers=self.trim_headers,
        )

    def policy(self) -> IntakePolicy:
        return IntakePolicy(
            nan_policy=self.nan_policy,
            max_bytes=self.max_file_bytes,
            max_rows=self.max_rows,
            parse=self.parse_rules(),
            min_quality=self.min_quality,
            quality_floors=QualityFloors(**self.quality_floors.model_dump()),
            range_margin=self.range_margin,
            max_leakage_share=self.max_leakage_share,
            near_copy=NearCopyRule(**self.near_copy.model_dump()),
            max_duplicate_share=self.max_duplicate_share,
        )


class Eip712Config(_Strict):
    """The EIP-712 domain the attester signs under: the contract that will check it."""

    name: str = "Hokusai DeltaOne"
    version: str = "1"
    chain_id: int = Field(default=1, ge=1)
    verifying_contract: str = Field(default="0x" + "0" * 40, pattern=r"^0x[0-9a-fA-F]{40}$")

    def domain(self) -> Eip712Domain:
        return Eip712Domain(
            name=self.name, version=self.version, chain_id=self.chain_id, verifying_contract=self.verifying_contract
        )


class AttestationConfig(_Strict):
    eip712: Eip712Config = Field(default_factory=Eip712Config)


class MonitoringConfig(_Strict):
    # Evidently costs ~3.5 s to import and ~0.5-3 s per report; a task may switch it off.
    drift_report: bool = True
    drift_share_threshold: float = Field(default=0.5, gt=0.0, le=1.0)


class TrackingConfig(_Strict):
    """MLflow: one run per contribution, and the registry its models are promoted in."""

    enabled: bool = True
    experiment: str | None = None  # default: task.name
    model_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")  # default: task.name
    # A challenger becomes champion only with `hokusai models promote --approve` when set.
    require_approval: bool = False
    # Where `make mlflow-ui` serves a local store; links in asset metadata point there.
    ui_url: str = "http://127.0.0.1:5000"


class ServingConfig(_Strict):
    """`hokusai serve`: where it listens, how it caches and batches, who may call it."""

    host: str = "127.0.0.1"  # loopback unless you say otherwise (--host)
    port: int = Field(default=8080, ge=1, le=65535)
    # The prediction cache: keyed by model digest and the row's canonical JSON.
    cache_max_entries: int = Field(default=100_000, ge=1)
    cache_ttl_seconds: float = Field(default=300.0, gt=0)
    # Concurrent requests for one model version are scored together.
    batching: bool = True
    max_batch_rows: int = Field(default=256, ge=1)
    max_batch_wait_ms: float = Field(default=2.0, ge=0)
    # Request limits, each answered with its own error code.
    max_rows: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_loaded_models: int = Field(default=4, ge=1)
    # An alias (champion, staging, ...) is looked up again after this long: a promotion is
    # served within it, without a restart.
    alias_refresh_seconds: float = Field(default=0.25, gt=0, le=1.0)
    # How often each server reviews the running A/B experiment (decisions, automatic rollback
    # or promotion); the Dagster sensor reviews it too.
    experiment_review_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Bearer tokens: HOKUSAI_SERVING_TOKENS / HOKUSAI_ADMIN_TOKENS (comma-separated) or the
    # 0600 files below (one token per line).
    require_token: bool = False
    token_file: str | None = None
    admin_token_file: str | None = None


class RewardsConfig(_Strict):
    """Reward epochs: a pool shared among the contributions attested in a window (README, "Rewards").

    Absent from hokusai.yaml means no epoch can close: rewards fail closed, never pay by default.
    """

    # daily: a schedule closes yesterday's epoch (UTC) after midnight; manual: `hokusai epoch close`.
    epoch: Literal["daily", "manual"] = "manual"
    # The amount shared per epoch, in the token's smallest unit (an integer: no float rounding).
    pool: int = Field(ge=0)
    wallet_cap: int | None = Field(default=None, ge=0)
    epoch_cap: int | None = Field(default=None, ge=0)
    # Players are content clusters of the epoch's new rows, never wallets (splitting cannot pay).
    players: int = Field(default=8, ge=1, le=64)
    # Exact Shapley (2**players fits) up to this many players; beyond, truncated Monte Carlo.
    exact_max: int = Field(default=10, ge=1, le=16)
    # Every fit of an epoch, leave-one-out included; exact Shapley needs 2**players of them.
    max_fits: int = Field(default=1024, ge=2)
    truncation: float = Field(default=0.0, ge=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    # Rows equal after rounding float features to this many decimals are one row (near-duplicates).
    float_decimals: int = Field(default=6, ge=0, le=15)
    # Per-row KNN-Shapley flags each contribution's most harmful rows in the epoch report.
    knn_neighbours: int = Field(default=5, ge=1)
    harmful_rows: int = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _budget_holds_exact(self) -> RewardsConfig:
        if self.players <= self.exact_max and 2**self.players > self.max_fits:
            raise ValueError(
                f"rewards.players {self.players} is valued exactly (<= exact_max {self.exact_max}), which takes "
                f"2**{self.players} = {2**self.players} fits, over rewards.max_fits {self.max_fits}; raise "
                "max_fits or lower players"
            )
        if self.players > self.exact_max and self.max_fits < 2 * self.players:
            raise ValueError(
                f"rewards.max_fits {self.max_fits} may sample fewer than two permutations of {self.players} players, "
                f"so no value would have a standard error; raise it to at least {2 * self.players}"
            )
        return self


class PathsConfig(_Strict):
    home: str | None = None
    inbox: str = DEFAULT_INBOX
    quarantine: str = DEFAULT_QUARANTINE


class HokusaiConfig(_Strict):
    task: TaskConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    integration: IntegrationConfig = Field(default_factory=IntegrationConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    attestation: AttestationConfig = Field(default_factory=AttestationConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    rewards: RewardsConfig | None = None
    alerts: AlertsConfig | None = None  # settings/alerts.py; absent: no alert is sent
    paths: PathsConfig = Field(default_factory=PathsConfig)

    @model_validator(mode="after")
    def _consistent(self) -> HokusaiConfig:
        valid = CLASSIFICATION_METRICS if self.task.type == "classification" else REGRESSION_METRICS
        metrics = self.metric_names
        unknown = [m for m in metrics if m not in valid]
        if unknown:
            raise ValueError(
                f"evaluation.metrics: {', '.join(unknown)} not valid for a {self.task.type} task; "
                f"choose from {', '.join(valid)}"
            )
        if self.primary_metric not in metrics:
            raise ValueError(f"evaluation.primary_metric {self.primary_metric!r} must be one of evaluation.metrics")
        stray = [m for m in self.evaluation.weights if m not in metrics]
        if stray:
            raise ValueError(f"evaluation.weights names metrics that are not evaluated: {', '.join(stray)}")
        implied = implied_task_type(self.training.model_type)
        if implied is not None and implied != self.task.type:
            raise ValueError(
                f"training.model_type {self.training.model_type} is a {implied} model, but task.type is "
                f"{self.task.type}; use the {'Classifier' if self.task.type == 'classification' else 'Regressor'}"
            )
        if self.integration.strategy == "update" and not self.task.id_column:
            raise ValueError("integration.strategy 'update' matches rows by id: set task.id_column")
        return self

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.evaluation.metrics is not None:
            return tuple(self.evaluation.metrics)
        return CLASSIFICATION_METRICS if self.task.type == "classification" else REGRESSION_METRICS

    @property
    def primary_metric(self) -> str:
        if self.evaluation.primary_metric:
            return self.evaluation.primary_metric
        return "accuracy" if self.task.type == "classification" else "mse"

    def evaluation_policy(self) -> EvaluationPolicy:
        evaluation = self.evaluation
        return EvaluationPolicy(
            metrics=self.metric_names,
            weights=dict(evaluation.weights),
            primary_metric=self.primary_metric,
            average=evaluation.average,
            min_improvement=evaluation.min_improvement,
            min_benchmark_rows=evaluation.min_benchmark_rows,
            bootstrap_resamples=evaluation.bootstrap.resamples,
            bootstrap_seed=evaluation.bootstrap.seed,
            confidence=evaluation.bootstrap.confidence,
        )

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.task.name

    @property
    def registered_model_name(self) -> str:
        return self.tracking.model_name or self.task.name

    def digest_view(self) -> dict:
        """The config as it bears on results: no filesystem locations, no tracking.

        Paths differ between machines and homes but change no number; the data they point
        at is committed separately (data roots), so the config digest stays portable.
        Where MLflow records a run, or how a model is served, changes no number either; the
        rewards section changes no contribution's numbers (an epoch's statement records it whole),
        nor does where alerts go.
        """
        view = self.model_dump(
            mode="json",
            exclude={"paths": True, "tracking": True, "serving": True, "rewards": True, "alerts": True},
        )
        # model_type only spells model, which is in the view: configs that say the same
        # thing in the old words and in ours have the same digest.
        view["training"].pop("model_type")
        # A config without training.tuning keeps the digest it had before tuning existed.
        if view["training"]["tuning"] is None:
            view["training"].pop("tuning")
        # A task without imputation keeps the digest it had before imputation existed.
        if not view["task"]["imputation"]:
            view["task"].pop("imputation")
        # Intake settings left at their defaults keep the digest it had before they existed.
        defaults = IntakeConfig().model_dump(mode="json")
        for key in ("quality_floors", "range_margin", "near_copy"):
            if view["intake"][key] == defaults[key]:
                view["intake"].pop(key)
        for key in PARSE_RULE_KEYS:  # the parser's limits too
            if view["intake"][key] == defaults[key]:
                view["intake"].pop(key)
        view["task"].pop("baseline_data")
        view["task"].pop("benchmark_data")
        view["evaluation"]["metrics"] = list(self.metric_names)
        view["evaluation"]["primary_metric"] = self.primary_metric
        return view


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key '{location}' (remove it or check its spelling)")
        else:
            problems.append(f"'{location}': {error['msg']}")
    more = len(exc.errors()) - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{path}: " + "; ".join(problems) + suffix


def parse_config(path: Path) -> HokusaiConfig:
    """Read and validate one hokusai.yaml; no file beyond it is touched."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: config file not found; pass --config, set HOKUSAI_CONFIG_PATH, "
            "or unset it to use the bundled example",
            code="E_CONFIG_MISSING",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}; fix the syntax", code="E_CONFIG_SYNTAX") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the config must be a mapping with at least a 'task' section",
            code="E_CONFIG_SHAPE",
        )
    try:
        return HokusaiConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc), code="E_CONFIG_INVALID") from exc
