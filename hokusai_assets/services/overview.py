"""The contributions overview, read from HOKUSAI_HOME: the store's manifests, intake reports, attestations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hokusai_assets.lib.overview import ContributionSummary, summarise
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.layout import HomeLayout


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_bytes()) if path.is_file() else None


def contribution_summaries(layout: HomeLayout, store: ContributionStore) -> list[ContributionSummary]:
    """A row for every contribution the store holds, in arrival order."""
    summaries = []
    for entry in store.entries():
        attestation = layout.attestation(entry.key)
        summaries.append(
            summarise(
                partition=entry.key,
                received_microseconds=entry.sequence,
                wallet=entry.contributor.wallet,
                intake_report=_json(layout.intake_report_file(entry.key)),
                statement=_json(attestation.statement),
                receipt=_json(attestation.receipt),
                store_fault=store.fault(entry.key),
            )
        )
    return summaries
