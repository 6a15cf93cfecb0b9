"""Locations a caller needs before (or without) loading settings; standard library only.

The CLI starts the tracking worker before it imports Dagster, so what it needs to know
about HOKUSAI_HOME lives here rather than in ``config.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DRY_RUN_DIR = "dry-run"


def dry_run_home(home: Path, framework: str = "sklearn") -> Path:
    """A dry run keeps everything it writes here, apart from real runs (and per framework,
    since both frameworks' dry runs evaluate the same contribution bytes)."""
    return Path(home) / (DRY_RUN_DIR if framework == "sklearn" else f"{DRY_RUN_DIR}-{framework}")


def tracking_uri_for(home: Path, environ: Mapping[str, str]) -> str:
    """Where MLflow runs go: ``MLFLOW_TRACKING_URI`` if set, else a SQLite store under ``<home>/mlflow``."""
    configured = environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return configured
    db = (Path(home) / "mlflow" / "mlflow.db").expanduser().absolute()
    return f"sqlite:///{db}"
