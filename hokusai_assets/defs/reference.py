"""Whether the shared reference (baseline model and metrics) is current: asked of the instance.

``baseline_metrics`` records the reference fingerprint it was built from (config, reference
files, code); the headless runner and the sensor compare it with today's.
"""

import dagster as dg

from hokusai_assets.settings.load import Settings

# The last reference asset to materialise, so its fingerprint speaks for the whole reference.
FINGERPRINTED_ASSET = dg.AssetKey("baseline_metrics")
FINGERPRINT_METADATA_KEY = "reference_fingerprint"


def recorded_reference_fingerprint(instance: dg.DagsterInstance) -> str | None:
    """The reference fingerprint the latest materialised reference was built from, if any."""
    latest = instance.get_latest_materialization_event(FINGERPRINTED_ASSET)
    if latest is None or latest.asset_materialization is None:
        return None
    recorded = latest.asset_materialization.metadata.get(FINGERPRINT_METADATA_KEY)
    return None if recorded is None else recorded.value


def reference_is_current(instance: dg.DagsterInstance, settings: Settings) -> bool:
    """Whether the reference assets were materialised from today's config, files and code."""
    return recorded_reference_fingerprint(instance) == settings.reference_fingerprint()
