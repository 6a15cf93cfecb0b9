"""The contributions overview: every contribution in one table, refreshed after each evaluation."""

import dagster as dg

from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.overview import overview_frame, overview_markdown
from hokusai_assets.services.overview import contribution_summaries


@dg.asset(
    group_name="overview",
    kinds={"pandas", "parquet"},
    io_manager_key="table_io_manager",
    # Reads what the evaluations recorded under HOKUSAI_HOME, not their values: no partition is loaded.
    deps=["validated_contribution", "attestation"],
    description=(
        "One row per contribution: when it was received, the wallet, rows kept, checks passed, the "
        "decision, DeltaOne in basis points and the attestation's digest. Refreshed after every "
        "evaluation (contributions_overview_sensor); the Parquet file is for notebooks."
    ),
)
def contributions_overview(hokusai: HokusaiResource) -> dg.MaterializeResult:
    frame = overview_frame(contribution_summaries(hokusai.layout, hokusai.store()))
    counts = frame["status"].value_counts()
    return dg.MaterializeResult(
        value=frame,
        metadata={
            "dagster/row_count": len(frame),
            "contributions": dg.MetadataValue.md(overview_markdown(frame)),
            **{f"count/{status}": int(count) for status, count in counts.items()},
            "accepted": int(frame["accepted"].fillna(False).sum()) if len(frame) else 0,
        },
    )
