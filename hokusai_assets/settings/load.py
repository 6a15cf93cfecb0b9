"""Settings: the validated ``hokusai.yaml``, the home it writes to, and how both are chosen.

Precedence, highest first:
- config file: an explicit path, then ``HOKUSAI_CONFIG_PATH``, then the bundled example
  task (``hokusai_assets/examples/digits/hokusai.yaml``);
- home: an explicit path, then ``HOKUSAI_HOME``, then ``paths.home`` in the file, then
  ``./.hokusai``.

Missing data files are errors that name the key and the file. Loading settings writes
nothing, so a bad config never leaves a half-made home behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.settings.config import HokusaiConfig, parse_config
from hokusai_assets.settings.layout import DEFAULT_HOME, HomeLayout

BUNDLED_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "digits" / "hokusai.yaml"


@dataclass(frozen=True)
class Settings:
    """The validated config, where it was read from, and the home a run writes to."""

    config: HokusaiConfig
    config_path: Path
    home: Path

    @property
    def schema(self) -> TaskSchema:
        return self.config.task.schema()

    def _data_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.config_path.parent / path).resolve()

    @property
    def baseline_path(self) -> Path:
        return self._data_path(self.config.task.baseline_data)

    @property
    def benchmark_path(self) -> Path:
        return self._data_path(self.config.task.benchmark_data)

    @cached_property
    def layout(self) -> HomeLayout:
        """Every folder and file under this home (settings/layout.py)."""
        paths = self.config.paths
        return HomeLayout(self.home, inbox_path=paths.inbox, quarantine_path=paths.quarantine)

    @cached_property
    def config_digest(self) -> str:
        from hokusai_assets.lib.commitments.canonical import canonical_json
        from hokusai_assets.lib.commitments.digests import bytes_digest

        return bytes_digest(canonical_json(self.config.digest_view()))

    def reference_fingerprint(self) -> str:
        """Changes whenever the baseline's inputs do: config, reference files or code.

        Hashed once per Settings: settings are loaded afresh wherever files may have changed
        (each sensor tick, each run, each command).
        """
        return self._reference_fingerprint

    @cached_property
    def _reference_fingerprint(self) -> str:
        from hokusai_assets.lib.attestation.statement import code_version
        from hokusai_assets.lib.commitments.canonical import canonical_json
        from hokusai_assets.lib.commitments.digests import bytes_digest, file_digest

        inputs = {
            "config_digest": self.config_digest,
            "baseline_file": file_digest(self.baseline_path),
            "benchmark_file": file_digest(self.benchmark_path),
            "code_version": code_version(),
        }
        return bytes_digest(canonical_json(inputs))


def load_settings(
    config_path: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve, read and validate the settings; raise ConfigError naming what to fix."""
    env = os.environ if environ is None else environ
    chosen = config_path or env.get("HOKUSAI_CONFIG_PATH") or BUNDLED_CONFIG
    path = Path(chosen).expanduser().resolve()
    config = parse_config(path)
    chosen_home = home or env.get("HOKUSAI_HOME") or config.paths.home or DEFAULT_HOME
    home_path = Path(chosen_home).expanduser().resolve()
    settings = Settings(config=config, config_path=path, home=home_path)
    for key, data_path in (
        ("task.baseline_data", settings.baseline_path),
        ("task.benchmark_data", settings.benchmark_path),
    ):
        if not data_path.is_file():
            raise ConfigError(
                f"{path}: {key} points to {data_path}, which does not exist; fix the path "
                "(relative paths are resolved against the directory of hokusai.yaml)",
                code="E_CONFIG_DATA_MISSING",
            )
    return settings
