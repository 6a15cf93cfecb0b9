import json
import os

import pytest

from hokusai_assets.lib.commitments.digests import file_digest
from hokusai_assets.services.inbox import scan_inbox, sidecar_for

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
LIMITS = dict(max_bytes=10_000, sidecar_wait_seconds=60.0)


def drop(inbox, name, data=b"f01,label\n0.5,1\n", sidecar: dict | None | str = "auto"):
    inbox.mkdir(exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    if sidecar == "auto":
        sidecar = {"wallet": WALLET, "file_digest": file_digest(path)}
    if sidecar is not None:
        sidecar_for(path).write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
    return path


def test_submitted_pair_is_ready_at_once(tmp_path):
    drop(tmp_path, "a.csv")
    scan = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    assert [a.data.name for a in scan.arrivals] == ["a.csv"] and scan.arrivals[0].contributor.wallet == WALLET


def test_hand_placed_file_waits_for_its_size_to_hold_still(tmp_path):
    path = drop(tmp_path, "a.csv", sidecar={"wallet": WALLET})
    first = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    assert not first.arrivals and first.waiting == 1
    second = scan_inbox(tmp_path, first.state, now=30.0, **LIMITS)
    assert [a.data for a in second.arrivals] == [path]


def test_file_still_being_written_is_not_taken(tmp_path):
    path = drop(tmp_path, "a.csv", sidecar={"wallet": WALLET})
    first = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    with path.open("ab") as handle:
        handle.write(b"1.5,0\n")
    second = scan_inbox(tmp_path, first.state, now=30.0, **LIMITS)
    assert not second.arrivals and second.waiting == 1


def test_in_flight_temporaries_are_ignored(tmp_path):
    drop(tmp_path, ".a.csv.partial", sidecar=None)
    drop(tmp_path, "b.csv.tmp", sidecar=None)
    scan = scan_inbox(tmp_path, {}, now=1e9, **LIMITS)
    assert not scan.arrivals and not scan.rejections and scan.waiting == 0


def test_digest_mismatch_is_rejected_once_stable(tmp_path):
    drop(tmp_path, "a.csv", sidecar={"wallet": WALLET, "file_digest": "sha256:" + "0" * 64})
    first = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    assert not first.rejections
    second = scan_inbox(tmp_path, first.state, now=5.0, **LIMITS)
    assert [r.code for r in second.rejections] == ["E_INTAKE_DIGEST_MISMATCH"]


@pytest.mark.parametrize(
    ("sidecar", "code"),
    [
        ("{not json", "E_INTAKE_SIDECAR"),
        ({"contributor_id": "x"}, "E_INTAKE_SIDECAR"),
        ({"wallet": WALLET, "extra": 1}, "E_INTAKE_SIDECAR"),
        ({"wallet": WALLET.lower()}, "E_WALLET_NO_CHECKSUM"),
        ({"wallet": WALLET[:3] + WALLET[3].upper() + WALLET[4:]}, "E_WALLET_CHECKSUM"),
    ],
)
def test_bad_sidecars_are_rejected_with_both_files(tmp_path, sidecar, code):
    path = drop(tmp_path, "a.csv", sidecar=sidecar)
    [rejection] = scan_inbox(tmp_path, {}, now=0.0, **LIMITS).rejections
    assert rejection.code == code and set(rejection.paths) == {path, sidecar_for(path)}


def test_missing_sidecar_waits_then_is_rejected(tmp_path):
    drop(tmp_path, "a.csv", sidecar=None)
    first = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    assert not first.rejections
    later = scan_inbox(tmp_path, first.state, now=61.0, **LIMITS)
    assert [r.code for r in later.rejections] == ["E_INTAKE_NO_SIDECAR"]


def test_orphan_sidecar_is_rejected_after_the_wait(tmp_path):
    tmp_path.joinpath("gone.csv" + ".contributor.json").write_text(json.dumps({"wallet": WALLET}))
    first = scan_inbox(tmp_path, {}, now=0.0, **LIMITS)
    assert not first.rejections
    assert [r.code for r in scan_inbox(tmp_path, first.state, now=61.0, **LIMITS).rejections] == ["E_INTAKE_ORPHAN_SIDECAR"]


def test_symlinks_unsupported_types_and_oversized_files(tmp_path):
    real = tmp_path.parent / "outside.csv"
    real.write_bytes(b"f01,label\n1,1\n")
    os.symlink(real, tmp_path / "link.csv")
    drop(tmp_path, "sheet.xlsx")
    drop(tmp_path, "huge.csv", data=b"f01,label\n" + b"1,1\n" * 5000)
    codes = {r.paths[0].name: r.code for r in scan_inbox(tmp_path, {}, now=0.0, **LIMITS).rejections}
    assert codes == {"link.csv": "E_INTAKE_SYMLINK", "sheet.xlsx": "E_FORMAT_UNSUPPORTED", "huge.csv": "E_DATA_TOO_LARGE"}


def test_per_tick_limit_leaves_the_rest_for_later(tmp_path):
    for i in range(5):
        drop(tmp_path, f"{i}.csv", data=f"f01,label\n{i},1\n".encode())
    scan = scan_inbox(tmp_path, {}, now=0.0, limit=2, **LIMITS)
    assert len(scan.arrivals) == 2 and scan.waiting == 3
