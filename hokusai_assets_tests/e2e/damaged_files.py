"""Ways a JSON file handed to `hokusai verify`, `verify-epoch`, `prove-row` or `prove-payout`
can be damaged, or an envelope's signatures tampered with, and what the CLI must answer: a
failed check or one error line, never a traceback."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from hokusai_assets.lib.attestation.dsse import b64encode, pae
from hokusai_assets.lib.attestation.signing import AttesterKeys
from hokusai_assets.lib.commitments.canonical import canonical_json


def _to_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _wrong_types(path: Path) -> None:
    """The same keys, every value a number."""
    value = json.loads(path.read_bytes())
    path.write_text(json.dumps({key: 7 for key in value} if isinstance(value, dict) else 7))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "missing": Path.unlink,
    "a directory": _to_directory,
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
    "not UTF-8": lambda path: path.write_bytes(b"\xff\xfe" + path.read_bytes()),
    "a list": lambda path: path.write_text("[1, 2]"),
    "missing keys": lambda path: path.write_text("{}"),
    "wrong types": _wrong_types,
    "empty": lambda path: path.write_bytes(b""),
}
# Damage that leaves no JSON to read, as opposed to JSON of the wrong shape.
UNREADABLE = ("a directory", "truncated", "not UTF-8", "empty")


# What a tampered envelope carries, and how the failed check names it (``{ours}`` is the
# attester's key id, ``{other}`` another key's).
EXTRA_SIGNATURES = {
    "another key's valid signature": "signatures[1] (keyid {other}) has an unknown keyid",
    "a forged signature": "signatures[1] (keyid {ours}) repeats the keyid of signatures[0], and does not verify",
    "the good signature twice": "signatures[1] (keyid {ours}) repeats the sig of signatures[0]",
    "an unknown keyid alone": "signatures[0] (keyid {other}) has an unknown keyid",
}
OTHER_KEYS = AttesterKeys(bytes(range(32)), bytes(range(1, 33)))  # a key nobody trusts


def _forged(entry: dict) -> dict:
    sig = bytearray(base64.b64decode(entry["sig"]))
    sig[7] ^= 0x10
    return {**entry, "sig": b64encode(bytes(sig))}


def set_signatures(envelope_file: Path, signatures: str) -> tuple[str, str]:
    """Rewrite the attester's envelope with the signatures EXTRA_SIGNATURES names, canonically,
    so only the signature check can object; returns the attester's key id and the other key's."""
    envelope = json.loads(envelope_file.read_bytes())
    good = envelope["signatures"][0]
    signed = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    other = {"keyid": OTHER_KEYS.ed25519_keyid, "sig": b64encode(OTHER_KEYS.ed25519_private_key.sign(signed))}
    entries = {
        "another key's valid signature": [good, other],
        "a forged signature": [good, _forged(good)],
        "the good signature twice": [good, dict(good)],
        "an unknown keyid alone": [other],
    }[signatures]
    envelope_file.write_bytes(canonical_json({**envelope, "signatures": entries}))
    return good["keyid"], other["keyid"]


def assert_no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


def assert_error_line(done: subprocess.CompletedProcess, code: str, names: str) -> None:
    """Exit 2 and exactly one line on stderr, `error[code]: ...`, naming ``names``."""
    assert_no_traceback(done)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error[{code}]: ") and done.stderr.count("\n") == 1, done.stderr
    assert names in done.stderr, done.stderr


def assert_failed_check(done: subprocess.CompletedProcess, check: str, names: str) -> None:
    """Exit 1 and one line on stderr saying ``check`` failed, its detail naming ``names``."""
    assert_no_traceback(done)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"invalid: {check} failed: ") and done.stderr.count("\n") == 1, done.stderr
    assert names in done.stderr, done.stderr
