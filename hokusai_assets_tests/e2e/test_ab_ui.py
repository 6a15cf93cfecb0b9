"""A/B experiments in the Dagster UI, in a real browser (issue 15): an ``ab_experiment`` partition
per experiment with the arms table, the effect plot and the decision, and the non-blocking
``ab_guardrails`` check warning on a sample-ratio mismatch.

Two experiments are written straight into the platform's experiment store (made-up versions and
digests, as in hokusai_assets_tests/defs/test_ab_experiments.py): a healthy one where B clearly
wins and one whose exposures do not fit its 50/50 split. ab_experiment_sensor would add their
partitions and refresh them, but only every 300 s; so each is added and refreshed the way a user
does it from the UI's "Materialize…" dialog: the partition added and a run of
refresh_ab_experiment launched, through the running webserver's GraphQL API.
"""

import base64
import re
import secrets

import pytest

from hokusai_assets.defs.assets.ab_experiments import ARMS_HEADERS, PNG_SIGNATURE
from hokusai_assets.lib.experiments.spec import Arm, ExperimentSpec
from hokusai_assets.services.experiments.lifecycle import open_store
from hokusai_assets.settings.load import load_settings
from hokusai_assets_tests.e2e.browser import shot, visible_text
from hokusai_assets_tests.e2e.platform import MATERIALIZATIONS, wait_for
from hokusai_assets_tests.lib.experiments.factories import observe

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]

ASSET = "ab_experiment"
CHECK = "ab_guardrails"
JOB = "refresh_ab_experiment"
LOCATION = {"repositoryName": "__repository__", "repositoryLocationName": "hokusai_assets"}
# A refresh takes a few seconds; the queue may hold a contribution's run of another test first.
REFRESH_TIMEOUT = 120
ADD_PARTITION = """
mutation AddPartition($repository: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repository, partitionsDefName: "ab_experiments", partitionKey: $key) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
VERSIONS = {"a": "7", "b": "8"}


def _start(store, name: str):
    spec = ExperimentSpec(
        id=f"ab-{secrets.token_hex(5)}",
        name=name,
        model=f"ui-{name}",  # one running experiment per model: each its own made-up model
        a=Arm("champion", VERSIONS["a"], "sha256:" + "a" * 64, "c-a"),
        b=Arm("challenger", VERSIONS["b"], "sha256:" + "b" * 64, "c-b"),
        a_bps=5000,
        metric="conversion",
        kind="binary",
    )
    return store.create(spec, secrets.token_bytes(32), "test_ab_ui")


def _refresh(platform, key: str) -> str:
    """Add the partition and launch its refresh through the webserver, as the UI does; the run id."""
    added = platform.query(ADD_PARTITION, {"repository": LOCATION, "key": key})["addDynamicPartition"]
    # The sensor may have added it first, if it ticked since the experiment was created.
    assert added["__typename"] in {"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"}, added
    return platform.client().submit_job_execution(
        JOB,
        repository_location_name=LOCATION["repositoryLocationName"],
        repository_name=LOCATION["repositoryName"],
        tags={"dagster/partition": key},
    )


@pytest.fixture(scope="module")
def experiments(platform):
    """{"healthy", "srm"} -> experiment id, each refreshed once in the platform, the runs finished.

    The store is the webserver's own: the platform's config, home and environment."""
    settings = load_settings(config_path=platform.config, home=platform.home, environ=platform.env)
    store = open_store(settings, environ=platform.env)
    healthy = _start(store, "healthy")
    observe(store, healthy.id, 1000, 1000, 0.10, 0.30)  # B converts at 30%, A at 10%
    srm = _start(store, "srm")
    observe(store, srm.id, 5000, 4000, 0.10, 0.10)  # 50/50 split, 5000 vs 4000 exposed
    keys = {"healthy": healthy.id, "srm": srm.id}
    launched = {key: _refresh(platform, key) for key in keys.values()}
    for key, run_id in launched.items():
        runs = wait_for(lambda: platform.finished_runs(key), REFRESH_TIMEOUT, f"the refresh of {key} finishing")
        # Ours, and any the sensor asked for meanwhile: all refreshes, all successful (a warning fails no run).
        assert run_id in {r["runId"] for r in runs}
        assert {(r["jobName"], r["status"]) for r in runs} == {(JOB, "SUCCESS")}, runs
    yield keys
    for key in keys.values():  # no more refreshes of them by the sensor for the rest of the session
        store.stop(key, "test_ab_ui over")


def _refresh_runs(platform, key: str) -> list[str]:
    """Run ids of the partition's materialisations, newest first."""
    data = platform.query(MATERIALIZATIONS, {"path": [ASSET], "partitions": [key]})
    return [event["runId"] for event in data["assetOrError"]["assetMaterializations"]]


def test_the_partition_of_an_experiment_shows_its_arms_decision_and_effect_plot(page, platform, experiments):
    key = experiments["healthy"]
    page.goto(f"/assets/{ASSET}?view=events&partition={key}", wait_until="networkidle")
    heading = page.get_by_text(re.compile(rf"^Partition {key} materialized in run [0-9a-f]{{8}}$"))
    heading.wait_for()
    shown_run = heading.inner_text().rsplit(" ", 1)[1]
    assert any(run_id.startswith(shown_run) for run_id in _refresh_runs(platform, key))
    for label in ("status", "decision", "effect", "ci_low", "ci_high", "arms", "effect_over_time"):
        page.get_by_text(label, exact=True).first.wait_for()

    # The metadata table's rows: label, value (and an empty cell for actions).
    def value_of(label: str) -> str:
        row = page.locator("tr").filter(has=page.get_by_text(label, exact=True)).last
        return row.locator(":scope > td").nth(1).inner_text().strip()

    assert value_of("decision") == "b_better"
    assert value_of("status") == "running"
    low, effect, high = (float(value_of(label)) for label in ("ci_low", "effect", "ci_high"))
    assert 0 < low < effect < high  # B's win, with an interval clear of zero

    # The arms: the markdown table inside the "arms" row, one line per arm with its version.
    arms = page.locator("table table")
    arms.locator("th").first.wait_for()
    assert [h.strip() for h in arms.locator("th").all_inner_texts()] == ARMS_HEADERS
    rows = [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in arms.locator("tbody tr").all()]
    assert [row[:6] for row in rows] == [
        ["A", VERSIONS["a"], "champion", "50%", "1000", "1000"],
        ["B", VERSIONS["b"], "challenger", "50%", "1000", "1000"],
    ]
    assert page.get_by_text("Decision: b_better").first.is_visible()
    shot(page, "ab_experiment-metadata")

    # The effect plot: inline PNG in the effect_over_time markdown, which the UI shows in a dialog.
    page.locator("tr").filter(has=page.get_by_text("effect_over_time", exact=True)).last.get_by_text(
        "Show Markdown"
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("conversion: B - A at each review").wait_for()
    image = dialog.get_by_role("img", name="effect over time")
    image.wait_for()
    src = image.get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.removeprefix("data:image/png;base64,")).startswith(PNG_SIGNATURE)
    image.evaluate("img => img.decode()")  # resolves once decoded; rejects (fails here) if it cannot be
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 0 and height > 0
    shot(page, "ab_experiment-effect_over_time")


def _check_detail(page, key: str):
    """The checks tab's detail of one partition: its heading (the key), status tag, latest execution."""
    return page.locator("div").filter(has=page.locator(f'[title="{key}"]')).filter(
        has=page.get_by_text("Latest execution", exact=True)
    ).last


def test_ab_guardrails_warns_on_the_sample_ratio_mismatch_and_passes_the_healthy_experiment(page, experiments):
    healthy, srm = experiments["healthy"], experiments["srm"]
    page.goto(f"/assets/{ASSET}?view=checks", wait_until="networkidle")
    page.get_by_text("Checks (1)").wait_for()
    page.get_by_text(CHECK, exact=True).first.click()
    page.get_by_text("This is a non-blocking asset check.").wait_for()
    page.get_by_text("Partitions", exact=True).last.click()

    expected = {
        srm: ("Failed", "warning_outline", "sample-ratio mismatch: 5000 units exposed to A and 4000 to B"),
        healthy: ("Passed", "check_circle", "exposures A 1000 / B 1000 fit the 50/50 split"),
    }
    for key, (status, icon, description) in expected.items():
        visible_text(page, key).click()
        detail = _check_detail(page, key)
        detail.get_by_text(description).wait_for()  # this partition's evaluation, not the previous one's
        detail.get_by_text(status, exact=True).wait_for()
        # A WARN-severity failure is drawn as a warning (yellow triangle), not as an error.
        latest = detail.get_by_text("Latest execution", exact=True).locator("xpath=..")
        assert latest.get_by_role("img").first.get_attribute("aria-label") == icon
        if key == srm:
            assert detail.get_by_role("img", name="warning_outline").count() == 2  # the status tag's too
            detail.get_by_text("E_AB_SAMPLE_RATIO_MISMATCH", exact=True).wait_for()
        shot(page, f"ab_experiment-{CHECK}-{'srm' if key == srm else 'healthy'}")
