"""Telling a regular file from what else a path names, safe file names, printable names, and
writing files and folders whole, or saying clearly that the disk is full."""

import errno
import os
import stat
from pathlib import Path

import pytest

from hokusai_assets.lib.errors import DataFileError, DiskFullError
from hokusai_assets.lib.files import (
    atomic_directory,
    atomic_write_bytes,
    full_disk_in,
    mentions_disk_full,
    printable,
    require_regular_file,
    safe_file_name,
)
from hokusai_assets_tests.small_disk import fill, free_again, left_behind, small_disk


def refusal(path: Path) -> DataFileError:
    with pytest.raises(DataFileError) as error:
        require_regular_file(path)
    assert "\n" not in error.value.message
    return error.value


def test_a_regular_file_and_a_link_to_one_pass(tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("a,label\n1,0\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    require_regular_file(data)
    require_regular_file(link)


def test_a_directory_is_named_as_one(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    error = refusal(folder)
    assert error.code == "E_DATA_NOT_A_FILE" and "is a directory; give the data file itself" in error.message


def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    error = refusal(fifo)  # opening it for reading would block this test forever
    assert error.code == "E_DATA_NOT_A_FILE" and "is a FIFO" in error.message and "regular files only" in error.message


def test_a_device_is_refused():
    error = refusal(Path("/dev/zero"))
    assert error.code == "E_DATA_NOT_A_FILE" and "/dev/zero is a character device" in error.message


def test_a_link_to_a_directory_says_so(tmp_path):
    (tmp_path / "folder").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "folder")
    error = refusal(link)
    assert error.code == "E_DATA_NOT_A_FILE" and "is a symbolic link to a directory; give" in error.message


def test_a_dangling_link_names_its_missing_target(tmp_path):
    link = tmp_path / "dangling.csv"
    link.symlink_to(tmp_path / "gone.csv")
    error = refusal(link)
    assert error.code == "E_DATA_BROKEN_LINK"
    assert error.message.startswith(f"{link} is a symbolic link whose target {tmp_path / 'gone.csv'} does not exist")


def test_a_link_loop_is_an_error_not_a_crash(tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    error = refusal(loop)
    assert error.code == "E_DATA_LINK_LOOP" and "symbolic link loop" in error.message
    assert refusal(loop / "inside.csv").code == "E_DATA_LINK_LOOP"


def test_a_missing_file_is_not_found(tmp_path):
    assert refusal(tmp_path / "nope.csv").code == "E_DATA_FILE_MISSING"
    assert refusal(tmp_path / "nope" / "rows.csv").code == "E_DATA_FILE_MISSING"


def test_the_path_is_printed_on_one_clean_line(tmp_path):
    folder = tmp_path / "evil\n\x1b[31mname.csv"
    folder.mkdir()
    error = refusal(folder)
    assert "\x1b" not in error.message and "evil\\n\\x1b[31mname.csv" in error.message


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("rows.csv", "rows.csv"),
        ("two\nlines.csv", "two\\nlines.csv"),
        ("\x1b[2Jclear.csv", "\\x1b[2Jclear.csv"),
        ("tab\there.csv", "tab\\there.csv"),
        ("gpj.\u202ecsv", "gpj.\\u202ecsv"),  # a right-to-left override would show "vsc.jpg"
        ("bad\udcffbyte.csv", "bad\\udcffbyte.csv"),  # an undecodable byte, as os.listdir gives it
        ("café ü.csv", "café ü.csv"),  # letters of any script stay as they are
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(name, shown):
    assert printable(name) == shown
    assert printable(name).isprintable()
    printable(name).encode("utf-8")  # no lone surrogate left to fail the print


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rows.csv", "rows.csv"),
        ("..csv", "file.csv"),
        ("...jsonl", "file.jsonl"),
        ("my data (1).parquet", "my_data_1.parquet"),
        ("../../etc/rows.json", "rows.json"),
        ("line\nbreak.csv", "line_break.csv"),
        ("noextension", "noextension"),
        ("Upper.CSV", "Upper.CSV"),
    ],
)
def test_safe_file_name_keeps_the_extension(name, expected):
    assert safe_file_name(name) == expected


def test_a_long_name_is_shortened_in_its_stem():
    name = "x" * 246 + ".csv"
    safe = safe_file_name(name)
    assert len(safe) == 120 and safe.endswith(".csv") and safe.startswith("x" * 116)


# ---- a full disk: E_DISK_FULL, and nothing half-written


def _real_enospc() -> OSError:
    with pytest.raises(OSError) as raised, open("/dev/full", "wb", buffering=0) as device:
        device.write(b"x")  # /dev/full fails every write with ENOSPC
    return raised.value


def test_a_full_disk_is_recognised_through_the_errors_that_wrap_it():
    full = _real_enospc()
    assert full.errno == errno.ENOSPC and full_disk_in(full) is full
    try:
        try:
            raise full
        except OSError as error:
            raise RuntimeError("a library's own wrapper") from error
    except RuntimeError as wrapped:
        assert full_disk_in(wrapped) is full
    assert mentions_disk_full(str(full))  # all that is left once a run's error is serialised
    assert full_disk_in(FileNotFoundError(errno.ENOENT, "No such file or directory")) is None
    assert not mentions_disk_full("[Errno 2] No such file or directory")


def test_sqlite_on_a_full_disk_is_a_full_disk(tmp_path):
    import sqlite3

    with small_disk(tmp_path / "disk", 64):
        database = sqlite3.connect(tmp_path / "disk" / "runs.db")
        database.execute("create table events (body blob)")
        with pytest.raises(sqlite3.OperationalError) as raised:
            for _ in range(100):
                database.execute("insert into events values (?)", (b"\1" * 4096,))
                database.commit()
        database.close()
    assert "database or disk is full" in str(raised.value) and full_disk_in(raised.value) is raised.value


def test_atomic_write_on_a_full_disk_says_where_and_keeps_the_old_file(tmp_path):
    disk = tmp_path / "disk"
    with small_disk(disk, 256):
        target = disk / "reports" / "intake.json"
        atomic_write_bytes(target, b"old")
        fill(disk)
        with pytest.raises(DiskFullError) as raised:
            atomic_write_bytes(target, b"n" * 100_000)
        assert target.read_bytes() == b"old" and left_behind(disk) == []
        free_again(disk)
        atomic_write_bytes(target, b"n" * 100_000)
        assert target.read_bytes() == b"n" * 100_000
    error = raised.value
    assert error.code == "E_DISK_FULL" and "\n" not in error.message
    assert error.message.startswith(f"no space left on device under {disk / 'reports'} (100,000 bytes to write, ")
    assert "free at least " in error.message and error.message.endswith("then run the command again")


def test_an_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "attestations" / "c-1"
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "statement.json").write_text("{}")
        raise RuntimeError("the second file could not be written")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_directory(target) as staging:
        (staging / "statement.json").write_text("1")
        (staging / "receipt.json").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == ["receipt.json", "statement.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    # Written again: the new folder replaces the old one whole (no file of the old one stays).
    with atomic_directory(target) as staging:
        (staging / "statement.json").write_text("2")
    assert [p.name for p in target.iterdir()] == ["statement.json"] and (target / "statement.json").read_text() == "2"
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "statement.json").write_text("3")
        raise RuntimeError("interrupted")
    assert (target / "statement.json").read_text() == "2" and sorted(target.parent.iterdir()) == [target]
