"""The statements of the dry runs and of the bundled example, pinned byte for byte.

The fixtures under ``fixtures/statements`` were written by the code as it stood before the
package was reorganised into layers (with the fixed keys below), without ``code_version``,
which names the commit and so changes with every one. Everything else a statement says
(digests of models and data, every metric, the decision, the wallet) must stay exactly
as it was: a refactoring that changes a byte here changed behaviour.

To re-pin after a deliberate change of behaviour, run these tests with
``HOKUSAI_REPIN_STATEMENTS=1`` and say in the commit why the statements changed.
"""

import json
import os
from pathlib import Path

import pytest
import rfc8785

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"
PINNED_KEYS = {"HOKUSAI_ED25519_KEY": "01" * 32, "HOKUSAI_ATTESTER_KEY": "4c" * 32}
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
EXAMPLE = Path(__file__).resolve().parents[2] / "hokusai_assets" / "examples" / "digits" / "contribution.csv"

RUNS = {
    "dry_run_sklearn": ("run", "--dry-run"),
    "dry_run_torch": ("run", "--dry-run", "--framework", "torch"),
    "digits_example": ("evaluate", str(EXAMPLE), "--wallet", WALLET),
}


def _differences(pinned, actual, path="") -> list[str]:
    if isinstance(pinned, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(pinned) | set(actual)):
            found += _differences(pinned.get(key), actual.get(key), f"{path}.{key}" if path else key)
        return found
    return [] if pinned == actual else [f"{path}: pinned {pinned!r}, now {actual!r}"]


@pytest.mark.parametrize("name", sorted(RUNS))
def test_statement_is_the_pinned_one_apart_from_the_code_version(cli, tmp_path, name):
    done = cli(*RUNS[name], home=tmp_path / "home", env=PINNED_KEYS)
    assert done.returncode == 0, done.stderr
    statement = json.loads(Path(json.loads(done.stdout)["attestation"]).with_name("statement.json").read_bytes())
    code_version = statement["predicate"].pop("code_version")
    assert code_version["package"] == "hokusai_assets"
    fixture = FIXTURES / f"{name}.statement.json"
    if os.environ.get("HOKUSAI_REPIN_STATEMENTS") == "1":
        fixture.write_bytes(rfc8785.dumps(statement))
    pinned = fixture.read_bytes()
    if rfc8785.dumps(statement) != pinned:
        differences = _differences(json.loads(pinned), statement)
        pytest.fail(f"{name} differs from its pinned statement:\n" + "\n".join(differences[:20]))
