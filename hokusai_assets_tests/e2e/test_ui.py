"""The Dagster UI in a real browser: Debian's chromium, driven by Playwright.

The browser is the system's (`apt install chromium`, done by `make test`); Playwright never
downloads one. Screenshots go to test-artifacts/ui/ at the repository root (gitignored),
kept whether the test passes or fails, for a person to look at. The ``browser`` and ``page``
fixtures are in conftest.py, their helpers in browser.py.
"""

import json
import re
import time

import pytest

from hokusai_assets.lib.intake.validate import BLOCKING_CHECKS, CHECKS
from hokusai_assets_tests.defs.test_definitions import ALL_ASSETS
from hokusai_assets_tests.e2e.browser import shot, visible_text

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]
CHECKS_OF_VALIDATED_CONTRIBUTION = CHECKS


def test_the_lineage_shows_every_asset_of_the_design(page, attested_contribution):
    page.goto("/asset-groups", wait_until="networkidle")
    for group in ("contribution", "reference"):
        page.get_by_text(group, exact=True).first.wait_for()

    for asset in sorted(ALL_ASSETS):
        jump_to(page, asset)
    shot(page, "lineage")


def jump_to(page, asset: str) -> None:
    """"Jump to…" selects the asset in the graph, expanding its group and centring it. The first
    jump into a collapsed group can centre before the expanded group is laid out (so the node,
    off screen, is not drawn); a second jump centres the node itself."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    node = page.locator("foreignObject").get_by_text(asset, exact=True).first
    for attempt in (1, 2):
        page.get_by_placeholder("Jump to…").fill(asset)
        # The suggestion of exactly this name: Enter takes the first in alphabetical order, and
        # "mlflow_run" also suggests epoch_mlflow_run.
        page.locator("[role=dialog]").get_by_text(asset, exact=True).click()
        page.wait_for_url(f"**/asset-groups/{asset}?**")
        try:
            node.wait_for(state="visible", timeout=10_000 if attempt == 1 else 30_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_the_checks_of_validated_contribution(page, platform, attested_contribution):
    page.goto("/assets/validated_contribution?view=checks", wait_until="networkidle")
    page.get_by_text(f"Checks ({len(CHECKS_OF_VALIDATED_CONTRIBUTION)})").wait_for()
    for check in CHECKS_OF_VALIDATED_CONTRIBUTION:
        # The list can draw its rows after the tab's heading: wait for each name, don't count at once.
        page.get_by_text(check, exact=True).first.wait_for()

    page.get_by_text("schema_valid", exact=True).first.click()
    page.get_by_text("This is a blocking asset check.").wait_for()
    shot(page, "validated_contribution-checks")


def test_the_metadata_of_delta_result(page, platform, attested_contribution):
    key, run_id = attested_contribution
    stored = json.loads((platform.home / "storage" / "delta_result" / f"{key}.json").read_text())

    page.goto(f"/assets/delta_result?view=events&partition={key}", wait_until="networkidle")
    page.get_by_text(f"Partition {key} materialized in run {run_id[:8]}").wait_for()
    for label in ("summary", "delta_one_score", "delta_one_bps", "accepted", "primary_metric", "ci_lower", "ci_upper"):
        page.get_by_text(label, exact=True).first.wait_for()
    # The numbers the UI shows are the ones the attestation binds.
    page.get_by_text(repr(stored["delta_one_score"]), exact=True).wait_for()
    page.get_by_text(str(stored["delta_one_bps"]), exact=True).first.wait_for()
    page.get_by_text(json.dumps(stored["accepted"]), exact=True).first.wait_for()
    shot(page, "delta_result-metadata")


def check_list_statuses(page) -> dict[str, str]:
    """The status shown under each check in the checks tab's list (aggregated over partitions),
    once every check shows one: the list's names render before their statuses arrive."""
    page.get_by_text(f"Checks ({len(CHECKS)})").wait_for()
    deadline = time.monotonic() + 30
    while True:
        body = page.inner_text("body")
        found = {}
        for check in CHECKS:
            match = re.search(rf"^{check}\n{check}\n(Succeeded|Failed|Skipped|Not evaluated|In progress)$", body, re.M)
            found[check] = match.group(1) if match else None
        if None not in found.values() or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(250)


def open_check(page, check: str, tab: str = "Overview") -> None:
    page.get_by_text(check, exact=True).first.click()
    page.get_by_text(tab, exact=True).last.click()


def open_partition_of_check(page, check: str, partition: str) -> None:
    open_check(page, check, "Partitions")
    visible_text(page, partition).click()


def test_the_checks_tab_reports_each_contribution_and_only_what_ran(page, platform, three_contributions):
    first, second, bad = (three_contributions[name] for name in ("first", "second", "bad"))
    page.goto("/assets/validated_contribution?view=checks", wait_until="networkidle")
    # Aggregated over partitions: only schema_valid failed anywhere; the rest passed wherever they ran.
    statuses = check_list_statuses(page)
    assert statuses == {check: "Failed" if check == "schema_valid" else "Succeeded" for check in CHECKS}

    for check in CHECKS:
        open_check(page, check)
        page.get_by_text(f"This is a {'blocking' if check in BLOCKING_CHECKS else 'non-blocking'} asset check.").wait_for()
        open_partition_of_check(page, check, bad)
        page.get_by_text("Execution Failed (0)").wait_for()  # nothing is shown as failed that never ran
        if check == "schema_valid":
            page.get_by_text("missing required column(s) 'label'", exact=False).first.wait_for()
            page.get_by_text("not_evaluated", exact=True).wait_for()
            shot(page, "validated_contribution-schema_valid-bad-partition")
        else:
            page.get_by_text("Failed (0)", exact=True).wait_for()
            page.get_by_text("No execution attempted").wait_for()
        for good in (first, second):  # the earlier good ones stay green
            visible_text(page, good).click()
            page.get_by_text("Latest execution").wait_for()
            page.locator("text=Passed >> visible=true").first.wait_for()
    open_partition_of_check(page, "no_cleartext_pii", bad)
    page.get_by_text("No execution attempted").wait_for()
    shot(page, "validated_contribution-no_cleartext_pii-bad-partition")


def test_the_plots_of_delta_result_have_a_point_per_attested_contribution(page, platform, three_contributions):
    answers = []

    def keep_partition_events(response):
        request = response.request
        if "graphql" in response.url and request.method == "POST":
            if json.loads(request.post_data or "{}").get("operationName") == "AssetPartitionEventsQuery":
                answers.append(response.json())

    page.on("response", keep_partition_events)
    page.goto("/assets/delta_result", wait_until="networkidle")
    page.get_by_role("button", name="Plots").click()
    for label in ("delta_one_bps", "primary_delta", "ci_lower", "ci_upper"):
        page.get_by_text(label, exact=True).first.wait_for()
    page.wait_for_timeout(1000)  # the charts animate in
    shot(page, "delta_result-plots")

    # The points the DeltaOne chart draws: one per partition with a numeric delta_one_bps.
    points = {}
    for answer in answers:
        for event in answer["data"]["assetNodeOrError"]["latestMaterializationByPartition"]:
            if event is None:  # a partition never materialised
                continue
            for entry in event["metadataEntries"]:
                if entry["label"] == "delta_one_bps" and entry["__typename"] == "IntMetadataEntry":
                    points[event["partition"]] = entry["intValue"]
    assert three_contributions["first"] in points and three_contributions["second"] in points
    assert three_contributions["bad"] not in points  # rejected at intake: nothing to plot
    assert set(points) == set(platform.materialized_partitions("delta_result"))
    assert len(points) == 2  # the two good contributions of this session
    for key, bps in points.items():
        stored = json.loads((platform.home / "storage" / "delta_result" / f"{key}.json").read_text())
        assert bps == stored["delta_one_bps"]


def test_the_contributions_table_lists_every_contribution(page, platform, three_contributions):
    page.goto("/assets/contributions_overview", wait_until="networkidle")
    page.get_by_text("contributions", exact=True).first.wait_for()
    # The markdown table, rendered inside the metadata table's "contributions" row.
    page.locator("table table th").first.wait_for()
    header = [h.strip() for h in page.locator("table table th").all_inner_texts()]
    assert header[:1] == ["partition"] and "wallet" in header and "DeltaOne bps" in header
    rows = {key: page.locator("tr", has_text=key).last.locator("td").all_inner_texts() for key in three_contributions.values()}
    shot(page, "contributions_overview")
    accepted_at = header.index("accepted")
    for name in ("first", "second"):
        key = three_contributions[name]
        stored = json.loads((platform.home / "storage" / "delta_result" / f"{key}.json").read_text())
        assert rows[key][accepted_at].strip() == ("yes" if stored["accepted"] else "no")
    assert rows[three_contributions["bad"]][accepted_at].strip() == "no"
    assert "rejected at intake" in rows[three_contributions["bad"]]
