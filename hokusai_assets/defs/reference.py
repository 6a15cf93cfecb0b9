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


# What the reference expects of itself, shown on each reference asset's Automation tab: built once,
# and again whenever the reference fingerprint (its code version, defs/definitions.py) changes.
# The contribution sensor acts on it before each evaluation; turning on reference_automation_sensor
# (defs/sensors.py) acts on it as soon as the config changes. Each part reacts to a change, not to
# a state, so a failed build is not retried in a loop: the next change, or a person, asks again.
REFERENCE_IS_CURRENT = (
    (
        # Dagster resets "since last handled" on a condition's first evaluation, so a reference
        # that was never built is asked for on that first look, outside the since.
        (dg.AutomationCondition.missing() & dg.AutomationCondition.initial_evaluation()).with_label("never built")
        | (
            dg.AutomationCondition.missing().newly_true().with_label("went missing")
            | dg.AutomationCondition.code_version_changed().with_label("reference fingerprint changed")
        )
        .since_last_handled()
        .with_label("went missing or fingerprint changed, since the last request")
    )
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
).with_label("reference is current")
