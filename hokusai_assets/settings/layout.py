"""The one map of HOKUSAI_HOME: every folder and file the platform writes under it.

Nothing else in the package spells a path fragment of the home. A component that owns a
folder (the contribution store, the leaf index, quarantine, an attestation directory, a
trainer's checkpoints) is handed that folder from here and names only what lies inside it.

Standard library only (and the attestation's file names): the CLI asks where a dry run
keeps its MLflow store before it imports Dagster or MLflow (see ``entry/cli.py``).

```
HOKUSAI_HOME/
  dagster/                         DAGSTER_HOME: dagster.yaml, the instance (SQLite by default)
  inbox/  quarantine/              paths.inbox, paths.quarantine (relative to the home, or absolute)
  keys/                            pii-hmac.key, store.key, attester-ed25519.key, attester-secp256k1.key
  store/contributions/<key>/       received bytes (encrypted) and the contributor manifest
  storage/<asset>[/<key>].<ext>    asset values: .parquet tables, .safetensors models, .json documents
  storage/leaf_index/              leaf hashes of every accepted contribution
  checkpoints/<asset>/<key|all>/   resumable training state
  attestations/<key>/              statement, envelope, EIP-712 signature, attester keys, receipt
  reports/intake/<key>.json        what each contribution's intake found (its checks, rows kept)
  reports/drift/<key>.html         Evidently drift reports
  reports/comparison/<key>/        baseline-beside-improved plots and the metric table
  registry/audit.jsonl             every promote and rollback, refusals included, and every experiment decision
  experiments/experiments.db       A/B experiments: specs, exposures, outcomes, per-arm traffic, snapshots
                                   (SQLite; the Dagster instance's PostgreSQL when it has one)
  experiments/plots/<id>.png       each experiment's effect over time, drawn by the ab_experiment asset
  epochs/<epoch>/                  a reward epoch: window.json, members.json, signed statement, payout tree, report
  epochs/.closing.lock             held while `hokusai epoch close` runs
  storage/reward_subsets/          reward-epoch coalition fits, one JSON per key (services/epoch_valuation.py)
  mlflow/                          mlflow.db, and artifacts/ beside it as for any local SQLite store
                                   (services/tracking/store.py), unless MLFLOW_TRACKING_URI says otherwise
  dry-run[-<framework>]/           a dry run's own home, laid out the same way, with its mock task/
  logs/error-<time>-<pid>.log      the traceback of an unexpected error the CLI reported as E_INTERNAL
  alerts/state.json                alert suppression windows, per target (services/alerts)
  alerts/undelivered.jsonl         alerts no target took after every retry, one JSON line each
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hokusai_assets.lib.attestation.bundle import AttestationFiles

TABLE_SUFFIX = ".parquet"
MODEL_SUFFIX = ".safetensors"
DOCUMENT_SUFFIX = ".json"
DRY_RUN_DIR = "dry-run"
DEFAULT_HOME = Path(".hokusai")  # when neither --home, HOKUSAI_HOME nor paths.home says
DEFAULT_INBOX = "inbox"  # paths.inbox when hokusai.yaml does not say
DEFAULT_QUARANTINE = "quarantine"
# Asset values of unpartitioned assets sit beside the folders of partitioned ones.
_UNPARTITIONED = "all"


def _under(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


@dataclass(frozen=True)
class HomeLayout:
    """Where everything lives under one HOKUSAI_HOME (``home`` is absolute)."""

    home: Path
    inbox_path: str = DEFAULT_INBOX  # paths.inbox: relative to the home, or absolute
    quarantine_path: str = DEFAULT_QUARANTINE  # paths.quarantine

    # ---- Dagster and intake

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def instance_file(self) -> Path:
        return self.dagster_home / "dagster.yaml"

    @property
    def inbox(self) -> Path:
        return _under(self.home, self.inbox_path)

    @property
    def quarantine(self) -> Path:
        return _under(self.home, self.quarantine_path)

    @property
    def store_dir(self) -> Path:
        """The content-addressed store of received contribution files."""
        return self.home / "store" / "contributions"

    # ---- keys

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def pii_key_file(self) -> Path:
        return self.keys_dir / "pii-hmac.key"

    @property
    def store_key_file(self) -> Path:
        return self.keys_dir / "store.key"

    @property
    def attester_ed25519_key_file(self) -> Path:
        return self.keys_dir / "attester-ed25519.key"

    @property
    def attester_secp256k1_key_file(self) -> Path:
        return self.keys_dir / "attester-secp256k1.key"

    # ---- asset values

    @property
    def storage_dir(self) -> Path:
        return self.home / "storage"

    def asset_file(self, asset: str | tuple[str, ...], partition: str | None, suffix: str) -> Path:
        """Where an IO manager keeps one asset's value (one file per partition)."""
        *prefix, name = (asset,) if isinstance(asset, str) else asset
        folder = self.storage_dir.joinpath(*prefix)
        return folder / name / f"{partition}{suffix}" if partition is not None else folder / f"{name}{suffix}"

    def table_file(self, asset: str, partition: str | None = None) -> Path:
        return self.asset_file(asset, partition, TABLE_SUFFIX)

    def model_file(self, asset: str, partition: str | None = None) -> Path:
        return self.asset_file(asset, partition, MODEL_SUFFIX)

    def document_file(self, asset: str, partition: str | None = None) -> Path:
        return self.asset_file(asset, partition, DOCUMENT_SUFFIX)

    @property
    def leaf_index_dir(self) -> Path:
        """Leaf hashes of every accepted contribution, for deduplicating later ones."""
        return self.storage_dir / "leaf_index"

    def checkpoint_dir(self, asset: str, partition: str | None) -> Path:
        """Where a trainer keeps resumable state while ``asset`` (of ``partition``) is fitted."""
        return self.home / "checkpoints" / asset / (partition or _UNPARTITIONED)

    # ---- what a contribution's evaluation produces

    @property
    def attestations_dir(self) -> Path:
        return self.home / "attestations"

    def attestation(self, partition: str) -> AttestationFiles:
        return AttestationFiles(self.attestations_dir / partition)

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def intake_report_file(self, partition: str) -> Path:
        """What a contribution's intake found: its checks, rows kept, the decision (JSON)."""
        return self.reports_dir / "intake" / f"{partition}.json"

    def drift_report_file(self, partition: str) -> Path:
        return self.reports_dir / "drift" / f"{partition}.html"

    def comparison_dir(self, partition: str) -> Path:
        """The baseline-beside-improved plots and metric table of one contribution."""
        return self.reports_dir / "comparison" / partition

    # ---- reward epochs

    @property
    def epochs_dir(self) -> Path:
        return self.home / "epochs"

    def epoch_dir(self, epoch: str) -> Path:
        return self.epochs_dir / epoch

    def epoch_window_file(self, epoch: str) -> Path:
        """Which contributions an epoch may hold: written when the epoch is closed."""
        return self.epoch_dir(epoch) / "window.json"

    def epoch_members_file(self, epoch: str) -> Path:
        """Which contributions an epoch holds: decided on its first run, then fixed."""
        return self.epoch_dir(epoch) / "members.json"

    def epoch_attestation(self, epoch: str) -> AttestationFiles:
        """The epoch's signed statement, EIP-712 payout signature, attester keys and receipt."""
        return AttestationFiles(self.epoch_dir(epoch))

    @property
    def epochs_lock_file(self) -> Path:
        """Held while `hokusai epoch close` runs: one close at a time per home."""
        return self.epochs_dir / ".closing.lock"

    @property
    def reward_subset_cache_dir(self) -> Path:
        """Utilities of epoch coalitions, keyed by what was trained: each subset is fitted once."""
        return self.storage_dir / "reward_subsets"

    @property
    def registry_audit_log(self) -> Path:
        """Append-only JSON lines: every promote and rollback, refusals included."""
        return self.home / "registry" / "audit.jsonl"

    @property
    def logs_dir(self) -> Path:
        """Tracebacks of unexpected errors (services/error_log.py): the CLI prints one line and the log's path."""
        return self.home / "logs"

    # ---- alerts

    @property
    def alerts_dir(self) -> Path:
        return self.home / "alerts"

    @property
    def alert_state_file(self) -> Path:
        """Open suppression windows per target and alert (JSON): a daemon restart sends nothing twice."""
        return self.alerts_dir / "state.json"

    @property
    def undelivered_alerts_log(self) -> Path:
        """Append-only JSON lines: each alert a target did not take after every retry, and why."""
        return self.alerts_dir / "undelivered.jsonl"

    # ---- MLflow and dry runs

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow" / "mlflow.db"

    @property
    def experiments_db(self) -> Path:
        """SQLite file of the A/B experiments (services/experiments/store.py), unless PostgreSQL is configured."""
        return self.home / "experiments" / "experiments.db"

    def experiment_plot_file(self, experiment_id: str) -> Path:
        """One experiment's effect (B - A) with its confidence interval at each review (PNG)."""
        return self.home / "experiments" / "plots" / f"{experiment_id}.png"

    def tracking_uri(self, environ: Mapping[str, str]) -> str:
        """Where MLflow runs go: ``MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home."""
        configured = environ.get("MLFLOW_TRACKING_URI", "").strip()
        if configured:
            return configured
        return f"sqlite:///{self.mlflow_db.expanduser().absolute()}"

    def dry_run(self, framework: str = "sklearn", model: str | None = None) -> HomeLayout:
        """The home a dry run keeps everything it writes in, apart from real runs (and per
        framework and model, since every dry run evaluates the same contribution bytes)."""
        name = DRY_RUN_DIR if framework == "sklearn" else f"{DRY_RUN_DIR}-{framework}"
        return HomeLayout(self.home / (f"{name}-{model}" if model else name))

    @property
    def mock_task_dir(self) -> Path:
        """Where a dry run writes its mock task (config, reference tables, contribution)."""
        return self.home / "task"
