"""The Dagster UI in a real browser: Debian's chromium, driven by Playwright.

The browser is the system's (`apt install chromium`, done by `make test`); Playwright never
downloads one. Screenshots go to test-artifacts/ui/ at the repository root (gitignored),
kept whether the test passes or fails, for a person to look at.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from hokusai_assets_tests.defs.test_definitions import DESIGN_ASSETS, TRACKING_ASSETS
from hokusai_assets_tests.e2e.platform import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]
ARTIFACTS = REPO / "test-artifacts" / "ui"
# Headless chromium in a container: no sandbox (no user namespaces as root), no GPU, and
# nothing that phones home.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHECKS_OF_VALIDATED_CONTRIBUTION = (
    "schema_valid",
    "no_cleartext_pii",
    "no_benchmark_leakage",
    "quality_above_minimum",
    "duplicate_share",
)


def chromium_path() -> str:
    path = os.environ.get("HOKUSAI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no chromium on PATH: run `make test`, which installs Debian's chromium package")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _only_the_platform(platform):
    """Requests to anywhere but the webserver are refused: the UI must work offline."""

    def route(route):
        if route.request.url.startswith(platform.url):
            return route.continue_()
        return route.abort()

    return route


@pytest.fixture
def page(browser, platform):
    # What "Skip" on the first-visit community dialog records: the dialog would cover the page.
    platform.query("mutation { setNuxSeen }")
    context = browser.new_context(base_url=platform.url, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    context.route("**/*", _only_the_platform(platform))
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def test_the_lineage_shows_every_asset_of_the_design(page, attested_contribution):
    page.goto("/asset-groups", wait_until="networkidle")
    for group in ("contribution", "reference"):
        page.get_by_text(group, exact=True).first.wait_for()

    for asset in sorted(DESIGN_ASSETS | TRACKING_ASSETS):
        # "Jump to…" selects the asset in the graph, expanding its group and centring it.
        page.get_by_placeholder("Jump to…").fill(asset)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/asset-groups/{asset}?**")
        node = page.locator("foreignObject").get_by_text(asset, exact=True)
        node.first.wait_for(state="visible")
    shot(page, "lineage")


def test_the_checks_of_validated_contribution(page, platform, attested_contribution):
    page.goto("/assets/validated_contribution?view=checks", wait_until="networkidle")
    page.get_by_text(f"Checks ({len(CHECKS_OF_VALIDATED_CONTRIBUTION)})").wait_for()
    for check in CHECKS_OF_VALIDATED_CONTRIBUTION:
        assert page.get_by_text(check, exact=True).count() >= 1, check

    page.get_by_text("schema_valid", exact=True).first.click()
    page.get_by_text("This is a blocking asset check.").wait_for()
    shot(page, "validated_contribution-checks")


def test_the_metadata_of_delta_result(page, platform, attested_contribution):
    key, run_id = attested_contribution
    stored = json.loads((platform.home / "storage" / "delta_result" / f"{key}.json").read_text())

    page.goto(f"/assets/delta_result?view=events&partition={key}", wait_until="networkidle")
    page.get_by_text(f"Partition {key} materialized in run {run_id[:8]}").wait_for()
    for label in ("summary", "delta_one_score", "delta_one_bps", "accepted", "primary_metric", "ci_lower", "ci_upper"):
        assert page.get_by_text(label, exact=True).count() >= 1, label
    # The numbers the UI shows are the ones the attestation binds.
    page.get_by_text(repr(stored["delta_one_score"]), exact=True).wait_for()
    page.get_by_text(str(stored["delta_one_bps"]), exact=True).first.wait_for()
    page.get_by_text(json.dumps(stored["accepted"]), exact=True).first.wait_for()
    shot(page, "delta_result-metadata")
