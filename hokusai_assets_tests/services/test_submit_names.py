"""Whatever a contribution file is called, the inbox keeps its extension, and a name is shown
on one clean line wherever a message quotes it."""

import dagster as dg
import pytest

from hokusai_assets.defs.sensors import intake_tick
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.services.inbox import scan_inbox
from hokusai_assets.services.intake import submit_file
from hokusai_assets.services.quarantine import list_quarantine, quarantine_bytes
from hokusai_assets.services.store import ContributionStore

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def tick(settings):
    with dg.instance_for_test() as instance:
        return intake_tick(dg.build_sensor_context(instance=instance), settings, ContributionStore.open(settings.layout, environ={}))


@pytest.mark.parametrize("name", ["..csv", "n" * 246 + ".csv", "evil\n\x1b[31m.csv"], ids=["dotdot", "250-chars", "control"])
def test_an_accepted_name_keeps_its_extension_and_is_read_as_csv(mock_settings, mock_task, tmp_path, name):
    source = tmp_path / name
    source.write_bytes(mock_task.contribution_path.read_bytes())
    submitted = submit_file(mock_settings, source, Contributor(wallet=WALLET))
    inbox_file = mock_settings.layout.inbox / submitted["inbox_file"].rsplit("/", 1)[1]
    assert inbox_file.is_file() and inbox_file.suffix == ".csv" and len(inbox_file.name) < 160
    assert inbox_file.name.isprintable() and "/" not in inbox_file.name
    result = tick(mock_settings)
    key = submitted["partition"]
    [request] = result.dynamic_partitions_requests
    assert list(request.partition_keys) == [key], "taken, not quarantined"
    assert list_quarantine(mock_settings.layout.quarantine) == []
    stored = ContributionStore.open(mock_settings.layout, environ={}).get(key)
    assert (stored.format, stored.suffix) == ("csv", ".csv")


def test_submit_refuses_a_name_without_a_readable_extension(mock_settings, mock_task, tmp_path):
    source = tmp_path / ".csv"  # a hidden file named "csv", with no extension
    source.write_bytes(mock_task.contribution_path.read_bytes())
    with pytest.raises(DataFileError) as error:
        submit_file(mock_settings, source, Contributor(wallet=WALLET))
    assert error.value.code == "E_FORMAT_UNSUPPORTED"
    assert not mock_settings.layout.inbox.exists()


def test_a_quarantined_copy_keeps_its_extension(tmp_path):
    moved = quarantine_bytes(b"a,label\n", "x" * 300 + ".jsonl", tmp_path, "E_TEST", "test")
    assert moved.path.suffix == ".jsonl" and len(moved.path.name) < 160


def test_inbox_messages_show_a_hand_placed_name_on_one_clean_line(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "rows\n\x1b[2J.xlsx").write_bytes(b"not ours")
    (inbox / "rows\n\x1b[2J.xlsx.contributor.json").write_text('{"wallet": "%s"}' % WALLET)
    scan = scan_inbox(inbox, {}, now=0.0, max_bytes=1000, sidecar_wait_seconds=60.0)
    [rejection] = scan.rejections
    assert rejection.code == "E_FORMAT_UNSUPPORTED"
    assert rejection.message.startswith("rows\\n\\x1b[2J.xlsx: unsupported file type")
    assert rejection.message.isprintable()
