"""After intake no cleartext PII value exists anywhere under HOKUSAI_HOME (quarantine aside)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hokusai_assets.entry.runner import evaluate_file
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.settings.load import load_settings

pytestmark = pytest.mark.e2e
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_pii_is_nowhere_in_clear_after_a_full_run(tmp_path):
    task = write_mock_task(tmp_path / "task")
    directory = task.config_path.parent
    for name in ("baseline.parquet", "benchmark.parquet"):
        frame = pd.read_parquet(directory / name)
        frame.insert(0, "user", [f"{name[:4]}-{i}" for i in range(len(frame))])
        frame.to_parquet(directory / name, index=False)
    config = yaml.safe_load(task.config_path.read_text())
    config["task"]["id_column"] = "user"
    task.config_path.write_text(yaml.safe_dump(config))

    contribution = pd.read_csv(task.contribution_path)
    emails = [f"contributor.person{i}@example.org" for i in range(len(contribution))]
    contribution.insert(0, "user", emails)
    contribution["notes"] = [f"call +44 20 7946 {i:04d} or pay GB82 WEST 1234 5698 7654 32" for i in range(len(contribution))]
    # A column *named* with personal data: echoed in the report's extra columns and PII counts
    # unless the name itself is pseudonymised.
    contribution["sent by jane.roe@example.net"] = "ok"
    source = tmp_path / "with_pii.csv"
    contribution.to_csv(source, index=False)

    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    outcome = evaluate_file(settings, source, Contributor(wallet=WALLET))
    assert outcome.accepted

    needles = [e.encode() for e in emails[:50]] + [b"7946 0001", b"GB82 WEST", b"GB82WEST", b"person0@example", b"jane.roe@"]
    scanned = 0
    for path in settings.home.rglob("*"):
        if not path.is_file() or settings.layout.quarantine in path.parents:
            continue
        data = path.read_bytes()
        scanned += 1
        for needle in needles:
            assert needle not in data, f"{needle!r} in clear in {path.relative_to(settings.home)}"
    assert scanned > 20  # dagster's SQLite storage, parquet tables, model files, attestations, keys
    statement = json.loads(Path(outcome.attestation).with_name("statement.json").read_bytes())
    assert statement["predicate"]["contribution"]["rows"] == len(contribution)
