import hashlib

import pytest

from hokusai_assets.lib.errors import DataFileError, WalletError
from hokusai_assets.lib.store import ContributionStore, Contributor, partition_key
from hokusai_assets.lib.wallet import normalise_wallet

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own test vector


def test_partition_key_is_content_addressed(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,label\n1,0\n")
    stored, created = ContributionStore(tmp_path / "store").put(path, Contributor(wallet=CHECKSUMMED))
    assert created
    assert stored.key == "c-" + hashlib.sha256(b"a,label\n1,0\n").hexdigest()[:16]
    assert stored.key == partition_key(stored.file_digest)
    assert stored.data_path.read_bytes() == path.read_bytes()


def test_same_bytes_under_another_name_are_the_same_contribution(tmp_path):
    store = ContributionStore(tmp_path / "store")
    first = tmp_path / "one.csv"
    second = tmp_path / "two.csv"
    first.write_bytes(b"a,label\n1,0\n")
    second.write_bytes(b"a,label\n1,0\n")
    a, _ = store.put(first, Contributor(wallet=CHECKSUMMED))
    b, created = store.put(second, Contributor(wallet=CHECKSUMMED))
    assert a.key == b.key and not created
    assert store.keys() == [a.key]


def test_same_bytes_from_another_wallet_earn_nothing(tmp_path):
    store = ContributionStore(tmp_path / "store")
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,label\n1,0\n")
    store.put(path, Contributor(wallet=CHECKSUMMED))
    with pytest.raises(DataFileError) as error:
        store.put(path, Contributor(wallet=normalise_wallet("0x" + "11" * 20, allow_lowercase=True)))
    assert error.value.code == "E_STORE_ALREADY_CONTRIBUTED"


def test_unknown_key(tmp_path):
    with pytest.raises(DataFileError) as error:
        ContributionStore(tmp_path).get("c-0000000000000000")
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
