import os
import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_assets_tests.e2e.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, only_the_platform
from hokusai_assets_tests.e2e.platform import RUN_TIMEOUT, Platform, wait_for, write_platform_task

HOKUSAI = [sys.executable, "-m", "hokusai_assets.entry.cli"]


def hokusai(*args: str, home: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh process, with HOKUSAI_HOME set and no inherited config."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOKUSAI_", "DAGSTER_"))}
    environ["HOKUSAI_HOME"] = str(home)
    environ.update(env or {})
    return subprocess.run([*HOKUSAI, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=300)


@pytest.fixture
def cli():
    return hokusai


PLATFORM_GROUP = "platform"  # the xdist_group of the tests that share the `platform` fixture
_platforms: list[Platform] = []


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """The webserver and daemon on a mock task, shared by this worker's platform and UI tests.

    At the end every process it started must be gone.
    """
    root = tmp_path_factory.mktemp("platform")
    task = write_platform_task(root / "task")
    deployment = Platform(root / "home", task.config_path)
    deployment.task = task
    with deployment:
        _platforms.append(deployment)
        yield deployment
    assert deployment.running_pids() == [], "processes left running after stop"


def _group(item: pytest.Item | None) -> str | None:
    mark = item.get_closest_marker("xdist_group") if item is not None else None
    return mark.args[0] if mark is not None and mark.args else None


@pytest.fixture(autouse=True)
def _platform_still_running(request):
    if _group(request.node) == PLATFORM_GROUP and any(p.stopped for p in _platforms):
        pytest.fail("the platform was stopped after its group's last test, yet another test of the group followed")


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Under `make test` (`--dist loadgroup`) a group's tests run one after another on one
    worker: stop the platform after the group's last test, rather than leave it idling (15% of
    a core) until the worker's session ends. A lone run (-n 0) keeps it to the end."""
    if not getattr(item.config.option, "loadgroup", False) or nextitem is None:
        return
    if _group(item) == PLATFORM_GROUP and _group(nextitem) != PLATFORM_GROUP:
        for deployment in _platforms:
            deployment.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright: one per test module of the UI tests."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, platform):
    """A fresh browser tab on the platform's webserver, every other address refused."""
    # What "Skip" on the first-visit community dialog records: the dialog would cover the page.
    platform.query("mutation { setNuxSeen }")
    context = browser.new_context(base_url=platform.url, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    context.route("**/*", only_the_platform(platform))
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def attested_contribution(platform) -> tuple[str, str]:
    """The mock contribution, submitted and carried through to its attestation: (partition, run id)."""
    key = platform.submit(platform.task.contribution_path)
    run_id = wait_for(
        lambda: platform.materialized_partitions("attestation").get(key),
        RUN_TIMEOUT,
        f"attestation[{key}] materialised",
    )
    return key, run_id


@pytest.fixture(scope="session")
def three_contributions(platform, attested_contribution, tmp_path_factory) -> dict[str, str]:
    """Two good contributions and one without its label column, each through its run, and
    contributions_overview refreshed after all three: {"first", "second", "bad"} -> partition.

    The second is the first's rows with a little seeded noise on every feature: about the
    same distribution, none of the same rows (so nothing is a duplicate), a different DeltaOne.
    """
    import numpy as np
    import pandas as pd

    folder = tmp_path_factory.mktemp("three")
    rows = pd.read_csv(platform.task.contribution_path)
    features = [column for column in rows.columns if column != "label"]
    noise = np.random.RandomState(1).normal(0.0, 0.1, (len(rows), len(features)))
    nudged = rows.assign(**{c: (rows[c] + noise[:, i]).round(4) for i, c in enumerate(features)})
    nudged.to_csv(folder / "second.csv", index=False)
    rows.drop(columns=["label"]).to_csv(folder / "no_label.csv", index=False)
    keys = {
        "first": attested_contribution[0],
        "second": platform.submit(folder / "second.csv"),
        "bad": platform.submit(folder / "no_label.csv"),
    }
    for key in keys.values():
        wait_for(lambda: platform.finished_runs(key), RUN_TIMEOUT, f"the run of {key} finishing")

    def overview_settled() -> bool:
        # A refresh asked for by an earlier run can land after the last run finished but still
        # show a later contribution as pending: wait for the one that has all three decided.
        path = platform.latest_metadata("contributions_overview").get("path")
        if not path:
            return False
        frame = pd.read_parquet(path).set_index("partition")
        return all(key in frame.index and frame.loc[key, "status"] != "pending" for key in keys.values())

    wait_for(overview_settled, RUN_TIMEOUT, "contributions_overview listing all three contributions, decided")
    return keys
