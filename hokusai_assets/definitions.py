"""The code location: one Definitions object for the whole graph.

``defs`` is loaded lazily (``@dg.definitions``), so importing this module reads no
environment and no file; Dagster calls it when it loads the code location, and a broken
hokusai.yaml then shows up as a load error that says what to fix.
"""

from __future__ import annotations

import os

import dagster as dg

from hokusai_assets.defs.definitions import build_definitions
from hokusai_assets.defs.executors import executor_from_environment
from hokusai_assets.settings.load import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings(), executor=executor_from_environment(os.environ))
