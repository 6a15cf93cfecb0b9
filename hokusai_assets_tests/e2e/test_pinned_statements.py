"""The statements of the dry runs and of the bundled example, pinned byte for byte.

The fixtures under ``fixtures/statements`` were written by the code as it stood before the
package was reorganised into layers (with the fixed keys below), without ``code_version``,
which names the commit and so changes with every one. Everything else a statement says
(digests of models and data, every metric, the decision, the wallet) must stay exactly
as it was: a refactoring that changes a byte here changed behaviour.

To re-pin after a deliberate change of behaviour, run these tests with
``HOKUSAI_REPIN_STATEMENTS=1`` and say in the commit why the statements changed.

The torch MLP is byte-for-byte deterministic on one kind of CPU, not across kinds: MKL
picks its matrix kernels by instruction set, so the low bits of the weights (never the
metrics) differ between, say, an AVX2 and an AVX-512 machine. Its two model digests are
therefore pinned per CPU signature (torch's CPU capability and the vector flags) in
``torch_model_digests.json``; everything else in its statement is pinned as for the others.
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


TORCH_DIGESTS = FIXTURES / "torch_model_digests.json"


def cpu_signature() -> str:
    """torch's CPU capability and the vector-instruction flags MKL dispatches on."""
    import hashlib

    import torch

    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags |= {f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "amx", "fma", "sse4"))}
    return f"{torch.backends.cpu.get_cpu_capability()}-{hashlib.sha256(' '.join(sorted(flags)).encode()).hexdigest()[:12]}"


def _model_digests(statement: dict) -> dict:
    """Take the two model digests (and the subject naming the improved one) out of a statement."""
    predicate = statement["predicate"]
    digests = {"baseline": predicate["baseline"].pop("model_digest"), "improved": predicate["improved"].pop("model_digest")}
    statement["subject"] = [s for s in statement["subject"] if not s["name"].startswith("model:")]
    return digests


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
    repin = os.environ.get("HOKUSAI_REPIN_STATEMENTS") == "1"
    if repin:
        fixture.write_bytes(rfc8785.dumps(statement))
    pinned = json.loads(fixture.read_bytes())
    if name == "dry_run_torch":
        ours, signature = _model_digests(statement), cpu_signature()
        _model_digests(pinned)
        table = json.loads(TORCH_DIGESTS.read_text())
        if repin:
            table[signature] = ours
            TORCH_DIGESTS.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        assert signature in table, f"no torch model digests pinned for CPU {signature}: pin them on such a machine (HOKUSAI_REPIN_STATEMENTS=1)"
        assert ours == table[signature], f"torch model digests differ from those pinned for CPU {signature}"
    if rfc8785.dumps(statement) != rfc8785.dumps(pinned):
        differences = _differences(pinned, statement)
        pytest.fail(f"{name} differs from its pinned statement:\n" + "\n".join(differences[:20]))
