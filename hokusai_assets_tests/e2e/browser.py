"""The Dagster UI in a real browser: Debian's chromium, driven by Playwright (shared by the UI tests).

The browser is the system's (`apt install chromium`, done by `make test`); Playwright never
downloads one. The ``browser`` and ``page`` fixtures (conftest.py) use what is here.
Screenshots go to test-artifacts/ui/ at the repository root (gitignored), kept whether the
test passes or fails, for a person to look at.
"""

import os
import shutil
from pathlib import Path

import pytest

from hokusai_assets_tests.e2e.platform import REPO

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


def chromium_path() -> str:
    path = os.environ.get("HOKUSAI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no chromium on PATH: run `make test`, which installs Debian's chromium package")
    return path


def only_the_platform(platform):
    """Requests to anywhere but the webserver are refused: the UI must work offline."""

    def route(route):
        if route.request.url.startswith(platform.url):
            return route.continue_()
        return route.abort()

    return route


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def visible_text(page, text: str):
    # Partition keys are also in hidden elements that measure them for truncation.
    return page.locator(f'text="{text}" >> visible=true').last
