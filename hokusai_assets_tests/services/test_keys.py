"""Key files and key environment variables (services/keys.py): private, reused, refused when loose."""

import os
import re
import stat

import pytest

from hokusai_assets.lib.attestation.signing import sign_statement
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.services.keys import (
    PII_KEY_ENV,
    KeyFileError,
    attester_keys,
    existing_pii_key,
    pii_key,
    store_key,
)
from hokusai_assets.settings.layout import HomeLayout
from hokusai_assets_tests.lib.attestation.test_signing import (
    ED25519_SEED,
    GOLDEN_ED25519_PUBLIC,
    SECP256K1_ADDRESS,
    SECP256K1_KEY,
    golden_statement,
)

# ------------------------------------------------------------------ the PII key


def test_pii_key_is_created_private_and_reused(tmp_path):
    layout = HomeLayout(tmp_path / "home")
    key = pii_key(layout, {})
    path = layout.pii_key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.keys_dir.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32 and key.secret == path.read_bytes()
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{16}", key.key_id)
    assert key.secret.hex() not in repr(key)
    assert pii_key(layout, {}) == key
    assert [p.name for p in layout.keys_dir.iterdir()] == [path.name]  # no temporary file left behind


def test_environment_pii_key_wins(tmp_path):
    layout = HomeLayout(tmp_path)
    secret = bytes(range(100, 132))
    key = pii_key(layout, {PII_KEY_ENV: secret.hex()})
    assert key.secret == secret and key == PiiKey.from_secret(secret)
    assert not layout.pii_key_file.exists()
    assert pii_key(layout, {PII_KEY_ENV: "0x" + secret.hex().upper()}) == key


@pytest.mark.parametrize("bad", ["not-hex-at-all", "abcd", "00" * 31, "00" * 33])
def test_bad_environment_key_is_refused(tmp_path, bad):
    with pytest.raises(KeyFileError) as error:
        pii_key(HomeLayout(tmp_path), {PII_KEY_ENV: bad})
    assert error.value.code == "E_PII_KEY_ENV"
    assert PII_KEY_ENV in error.value.message and bad not in error.value.message


def test_world_readable_key_file_is_refused(tmp_path):
    layout = HomeLayout(tmp_path)
    pii_key(layout, {})
    os.chmod(layout.pii_key_file, 0o644)
    with pytest.raises(KeyFileError) as error:
        pii_key(layout, {})
    assert error.value.code == "E_PII_KEY_PERMISSIONS" and "chmod 600" in error.value.message


def test_damaged_key_file_is_refused(tmp_path):
    layout = HomeLayout(tmp_path)
    layout.keys_dir.mkdir()
    layout.pii_key_file.write_bytes(b"short")
    os.chmod(layout.pii_key_file, 0o600)
    with pytest.raises(KeyFileError) as error:
        pii_key(layout, {})
    assert error.value.code == "E_PII_KEY_INVALID"


def test_an_existing_pii_key_is_used_but_none_is_created(tmp_path):
    layout = HomeLayout(tmp_path)
    assert existing_pii_key(layout, {}) is None and not layout.keys_dir.exists()
    assert existing_pii_key(layout, {PII_KEY_ENV: "ab" * 32}).secret == bytes.fromhex("ab" * 32)
    created = pii_key(layout, {})
    assert existing_pii_key(layout, {}) == created


# ------------------------------------------------------------------ the store key


def test_store_key_is_its_own_file(tmp_path):
    layout = HomeLayout(tmp_path)
    secret = store_key(layout, {})
    assert layout.store_key_file.read_bytes() == secret and secret != pii_key(layout, {}).secret


# ------------------------------------------------------------------ the attester's keys


def test_attester_keys_are_created_0600_and_reused(tmp_path):
    layout = HomeLayout(tmp_path / "home")
    first = attester_keys(layout, {})
    for path in (layout.attester_ed25519_key_file, layout.attester_secp256k1_key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    again = attester_keys(layout, {})
    assert again.ed25519_public_hex == first.ed25519_public_hex
    assert again.attester_address == first.attester_address
    other = attester_keys(HomeLayout(tmp_path / "other"), {})
    assert other.ed25519_public_hex != first.ed25519_public_hex and other.attester_address != first.attester_address


def test_environment_overrides_the_attester_key_files(tmp_path):
    layout = HomeLayout(tmp_path)
    attester_keys(layout, {})  # files exist, the environment still wins
    keys = attester_keys(
        layout, {"HOKUSAI_ED25519_KEY": ED25519_SEED.hex(), "HOKUSAI_ATTESTER_KEY": SECP256K1_KEY.hex().upper()}
    )
    assert keys.ed25519_public_hex == GOLDEN_ED25519_PUBLIC
    assert keys.attester_address == SECP256K1_ADDRESS


def test_attester_key_errors_name_the_key(tmp_path):
    with pytest.raises(KeyFileError) as bad_env:
        attester_keys(HomeLayout(tmp_path / "k"), {"HOKUSAI_ED25519_KEY": "zz"})
    assert bad_env.value.code == "E_SIGN_KEY_ED25519_ENV"
    layout = HomeLayout(tmp_path / "loose")
    attester_keys(layout, {})
    layout.attester_secp256k1_key_file.chmod(0o644)
    with pytest.raises(KeyFileError) as loose:
        attester_keys(layout, {})
    assert loose.value.code == "E_SIGN_KEY_SECP256K1_PERMISSIONS"


def test_same_env_keys_in_two_fresh_homes_give_identical_envelopes(tmp_path):
    import rfc8785

    from hokusai_assets.lib.attestation.eip712 import Eip712Domain

    environ = {"HOKUSAI_ED25519_KEY": ED25519_SEED.hex(), "HOKUSAI_ATTESTER_KEY": "0x" + SECP256K1_KEY.hex()}
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    results = []
    for home in ("a", "b"):
        keys = attester_keys(HomeLayout(tmp_path / home), environ)
        results.append(sign_statement(body, statement, keys, Eip712Domain()))
    assert results[0].envelope_bytes == results[1].envelope_bytes
    assert results[0].eip712 == results[1].eip712
    assert not (tmp_path / "a" / "keys").exists()  # keys from the environment write no files
