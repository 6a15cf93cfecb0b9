import hashlib
import os
import stat

import pytest

from hokusai_assets.lib.errors import DataFileError, WalletError
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.lib.wallet import normalise_wallet
from hokusai_assets.services.keys import STORE_KEY_ENV, KeyFileError
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.layout import HomeLayout

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own test vector
ROWS = b"a,label\n1,0\nalice@example.com,1\n"


@pytest.fixture
def store(tmp_path):
    return ContributionStore.open(HomeLayout(tmp_path / "home"), environ={})


def test_partition_key_is_content_addressed_and_bytes_come_back(tmp_path, store):
    path = tmp_path / "d.csv"
    path.write_bytes(ROWS)
    stored, created = store.put(path, Contributor(wallet=CHECKSUMMED))
    assert created
    assert stored.key == "c-" + hashlib.sha256(ROWS).hexdigest()[:16] == partition_key(stored.file_digest)
    assert store.read_bytes(stored.key) == ROWS


def test_bytes_are_encrypted_at_rest_with_a_private_key(tmp_path, store):
    path = tmp_path / "d.csv"
    path.write_bytes(ROWS)
    stored, _ = store.put(path, Contributor(wallet=CHECKSUMMED))
    home = tmp_path / "home"
    for file in home.rglob("*"):
        if file.is_file():
            assert b"alice@example.com" not in file.read_bytes(), file
    key_file = home / "keys" / "store.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = home / "store" / "contributions" / stored.key / "data.enc"
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600


def test_tampered_or_wrong_key_is_detected(tmp_path, store):
    path = tmp_path / "d.csv"
    path.write_bytes(ROWS)
    stored, _ = store.put(path, Contributor(wallet=CHECKSUMMED))
    other = ContributionStore.open(HomeLayout(tmp_path / "home"), environ={STORE_KEY_ENV: "11" * 32})
    with pytest.raises(DataFileError) as error:
        other.read_bytes(stored.key)
    assert error.value.code == "E_STORE_CORRUPT" and STORE_KEY_ENV in error.value.message
    sealed = tmp_path / "home" / "store" / "contributions" / stored.key / "data.enc"
    data = bytearray(sealed.read_bytes())
    data[-1] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(DataFileError) as error:
        store.read_bytes(stored.key)
    assert error.value.code == "E_STORE_CORRUPT"


def test_world_readable_store_key_is_refused(tmp_path, store):
    key_file = tmp_path / "home" / "keys" / "store.key"
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyFileError) as error:
        ContributionStore.open(HomeLayout(tmp_path / "home"), environ={})
    assert error.value.code == "E_STORE_KEY_PERMISSIONS"


def test_same_bytes_under_another_name_are_the_same_contribution(tmp_path, store):
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    first.write_bytes(ROWS)
    second.write_bytes(ROWS)
    a, _ = store.put(first, Contributor(wallet=CHECKSUMMED))
    b, created = store.put(second, Contributor(wallet=CHECKSUMMED))
    assert a.key == b.key and not created
    assert store.keys() == [a.key]


def test_keys_come_in_arrival_order(tmp_path, store):
    keys = []
    for i in range(3):
        path = tmp_path / f"{i}.csv"
        path.write_bytes(ROWS + str(i).encode())
        keys.append(store.put(path, Contributor(wallet=CHECKSUMMED))[0].key)
    assert store.keys() == keys
    assert store.keys_before(keys[2]) == keys[:2] and store.keys_before(keys[0]) == []


def test_same_bytes_from_another_wallet_earn_nothing(tmp_path, store):
    path = tmp_path / "d.csv"
    path.write_bytes(ROWS)
    store.put(path, Contributor(wallet=CHECKSUMMED))
    with pytest.raises(DataFileError) as error:
        store.put(path, Contributor(wallet=normalise_wallet("0x" + "11" * 20, allow_lowercase=True)))
    assert error.value.code == "E_STORE_ALREADY_CONTRIBUTED"


def test_unknown_key(store):
    with pytest.raises(DataFileError) as error:
        store.get("c-0000000000000000")
    assert error.value.code == "E_STORE_UNKNOWN_KEY"


def test_wallet_checksum_rules():
    assert normalise_wallet(CHECKSUMMED) == CHECKSUMMED
    with pytest.raises(WalletError) as error:
        normalise_wallet(CHECKSUMMED.lower())
    assert error.value.code == "E_WALLET_NO_CHECKSUM" and CHECKSUMMED in error.value.message
    assert normalise_wallet(CHECKSUMMED.lower(), allow_lowercase=True) == CHECKSUMMED
    typo = CHECKSUMMED[:3] + CHECKSUMMED[3].upper() + CHECKSUMMED[4:]  # one letter with the wrong case
    with pytest.raises(WalletError) as error:
        normalise_wallet(typo, allow_lowercase=True)
    assert error.value.code == "E_WALLET_CHECKSUM"
    with pytest.raises(WalletError) as error:
        normalise_wallet("0x1234")
    assert error.value.code == "E_WALLET_FORMAT"


def _flip_one_byte(store: ContributionStore, key: str) -> None:
    sealed = store.root / key / "data.enc"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))


def test_a_damaged_entry_is_recorded_and_the_same_bytes_restore_it(tmp_path, store):
    stored, _ = store.put_bytes(ROWS, "d.csv", Contributor(wallet=CHECKSUMMED))
    assert store.fault(stored.key) is None
    _flip_one_byte(store, stored.key)
    with pytest.raises(DataFileError) as error:
        store.read_bytes(stored.key)
    assert error.value.code == "E_STORE_CORRUPT"
    assert "fails authentication (AES-GCM tag)" in error.value.message
    assert f"hokusai evaluate FILE --wallet {CHECKSUMMED}" in error.value.message
    assert store.fault(stored.key) == error.value.as_dict()  # what the contributions overview shows
    # Other bytes cannot restore it (another key); the very same bytes do, and it keeps its place.
    again, created = store.put_bytes(ROWS, "again.csv", Contributor(wallet=CHECKSUMMED))
    assert not created and again == stored
    assert store.read_bytes(stored.key) == ROWS and store.fault(stored.key) is None


def test_a_lost_data_file_is_damage_too_and_is_restored_the_same_way(store):
    stored, _ = store.put_bytes(ROWS, "d.csv", Contributor(wallet=CHECKSUMMED))
    (store.root / stored.key / "data.enc").unlink()
    with pytest.raises(DataFileError) as error:
        store.read_bytes(stored.key)
    assert error.value.code == "E_STORE_CORRUPT" and "is missing" in error.value.message
    store.put_bytes(ROWS, "d.csv", Contributor(wallet=CHECKSUMMED))
    assert store.read_bytes(stored.key) == ROWS


def test_a_good_read_clears_a_recorded_fault(tmp_path):
    layout = HomeLayout(tmp_path / "home")
    store = ContributionStore.open(layout, environ={})
    stored, _ = store.put_bytes(ROWS, "d.csv", Contributor(wallet=CHECKSUMMED))
    wrong_key = ContributionStore.open(layout, environ={STORE_KEY_ENV: "11" * 32})
    with pytest.raises(DataFileError):
        wrong_key.read_bytes(stored.key)
    assert store.fault(stored.key)["code"] == "E_STORE_CORRUPT"
    assert store.read_bytes(stored.key) == ROWS and store.fault(stored.key) is None  # the right key reads it


def test_a_damaged_manifest_stops_whatever_lists_the_store_naming_the_entry(tmp_path, store):
    first, _ = store.put_bytes(ROWS, "d.csv", Contributor(wallet=CHECKSUMMED))
    later, _ = store.put_bytes(ROWS + b"2,1\n", "e.csv", Contributor(wallet=CHECKSUMMED))
    (store.root / first.key / "manifest.json").write_bytes(b'{"partition": "c-')
    for listing in (store.entries, lambda: store.keys_before(later.key)):
        with pytest.raises(DataFileError) as error:
            listing()
        assert error.value.code == "E_STORE_CORRUPT" and first.key in error.value.message
        assert "restore it from a backup" in error.value.message
