"""Resources: the settings and secrets of a deployment, and where its MLflow runs go."""

import os
from pathlib import Path
from typing import Any

import dagster as dg

from hokusai_assets.defs.io_managers import JsonIOManager, ModelIOManager, ParquetIOManager
from hokusai_assets.lib.attestation.signing import AttesterKeys
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.services import keys
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.services.tracking.worker import ADDRESS_ENV as TRACKING_WORKER_ENV
from hokusai_assets.settings.layout import HomeLayout
from hokusai_assets.settings.load import Settings, load_settings


class HokusaiResource(dg.ConfigurableResource):
    """This deployment's settings and secrets: which hokusai.yaml, which HOKUSAI_HOME.

    Keys come from the environment (HOKUSAI_PII_KEY, HOKUSAI_STORE_KEY) or from
    HOKUSAI_HOME/keys, read when a run needs them, never at import.
    """

    config_path: str
    home: str

    def load(self) -> Settings:
        # Parsed per use, not cached: a code-location reload must see an edited config.
        return load_settings(config_path=self.config_path, home=self.home)

    @property
    def layout(self) -> HomeLayout:
        # The store and the keys lie where the home says; no need to re-read hokusai.yaml.
        return HomeLayout(Path(self.home))

    def store(self) -> ContributionStore:
        return ContributionStore.open(self.layout, os.environ)

    def pii_key(self) -> PiiKey:
        return keys.pii_key(self.layout, os.environ)

    def attester_keys(self) -> AttesterKeys:
        return keys.attester_keys(self.layout, os.environ)


class TrackingResource(dg.ConfigurableResource):
    """Where MLflow runs go, and how to get them there quickly.

    ``tracking_uri`` empty means: ``MLFLOW_TRACKING_URI`` if set, else the SQLite store under
    ``HOKUSAI_HOME/mlflow`` (resolved when a run needs it). ``worker_address`` is a warm
    tracking worker's socket (``services/tracking/worker.py``): the headless runner starts one
    before its graph, and launched runs use the platform's (HOKUSAI_TRACKING_WORKER, which
    ``hokusai dev`` sets). Without one, or when it does not answer, runs log in this process.
    """

    home: str
    tracking_uri: str = ""
    worker_address: str = ""

    def resolved_uri(self) -> str:
        return self.tracking_uri or HomeLayout(Path(self.home)).tracking_uri(os.environ)

    def track(self, record: dict, log: Any) -> dict:
        """Log one ContributionRecord (as JSON); returns what ``runs.track_contribution`` does."""
        if self.worker_address:
            from hokusai_assets.services.tracking.worker import WorkerUnavailable, request_tracking

            try:
                return request_tracking(self.worker_address, record)
            except WorkerUnavailable as exc:
                log.warning(f"{exc.message}; logging to MLflow in this process instead")
        from hokusai_assets.services.tracking.worker import WORKER_ENVIRONMENT

        for name, value in WORKER_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        from hokusai_assets.lib.tracking.record import ContributionRecord
        from hokusai_assets.services.tracking import runs

        return runs.track_contribution(ContributionRecord.from_json(record))


def build_resources(config_path: str, home: str, tracking: TrackingResource | None = None) -> dict[str, Any]:
    return {
        "hokusai": HokusaiResource(config_path=config_path, home=home),
        # A platform's warm worker, when it runs one (`hokusai dev` does); in-process otherwise.
        "mlflow_tracking": tracking or TrackingResource(home=home, worker_address=os.environ.get(TRACKING_WORKER_ENV, "")),
        "table_io_manager": ParquetIOManager(home=home),
        "model_io_manager": ModelIOManager(home=home),
        "json_io_manager": JsonIOManager(home=home),
    }
