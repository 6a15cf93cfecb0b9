"""Files: writing them (and whole folders) so that a reader sees the old bytes or the new
ones, never half of them; saying so clearly when the disk is full; telling a regular file
from whatever else a path may name, without opening it; and showing a name someone else
chose on one printable line.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hokusai_assets.lib.errors import DataFileError, DiskFullError

# ENOSPC: the file system is full; EDQUOT: this user's quota on it is.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # sqlite3's SQLITE_FULL, "database or disk is full" (an instance or store on the same disk)
# How a full disk reads once the error is only text (a failed Dagster step keeps its message).
_DISK_FULL_TEXTS = tuple(os.strerror(n) for n in sorted(DISK_FULL_ERRNOS)) + ("database or disk is full",)
RETRY = "then run the command again"


def full_disk_in(error: BaseException) -> BaseException | None:
    """The error, ``error`` itself or one it was raised from or while handling (a library's
    wrapper: SQLAlchemy's, Dagster's), that says the disk or quota is full; None if none does."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DiskFullError):
            return current
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return current
        if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
            return current
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return None


def mentions_disk_full(text: str) -> bool:
    """Whether an error's text (all that is left of it after serialisation) says the disk was full."""
    return any(phrase in text for phrase in _DISK_FULL_TEXTS)


def free_bytes(path: Path) -> int | None:
    """Bytes this user may still write on the file system holding ``path`` (or its nearest existing parent)."""
    for candidate in (Path(path), *Path(path).parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def disk_full_error(where: Path | str, needed: int | None = None, then: str = RETRY) -> DiskFullError:
    """The one message for a full disk: where, what was being written and what is free, what to do."""
    free = free_bytes(Path(where))
    sizes = []
    if needed is not None:
        sizes.append(f"{needed:,} bytes to write")
    if free is not None:
        sizes.append(f"{free:,} bytes free")
    shown = f" ({', '.join(sizes)})" if sizes else ""
    if needed is None:
        short = "space"
    else:  # the shortfall, or the whole size when the free space looks sufficient (blocks, other writers)
        short = f"at least {needed - free if free is not None and free < needed else needed:,} bytes"
    return DiskFullError(f"no space left on device under {printable(where)}{shown}: free {short} there, {then}")


@contextmanager
def reporting_full_disk(where: Path | str, needed: int | None = None, then: str = RETRY) -> Iterator[None]:
    """Turn an ``OSError`` of a full disk or quota, raised inside, into ``E_DISK_FULL`` naming ``where``."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        raise disk_full_error(where, needed, then) from None


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is fsynced before the rename and removed if anything fails, so a
    crash or a full disk leaves the previous file (or none), never a torn one; a full disk
    is reported as ``E_DISK_FULL`` naming the folder.
    """
    with reporting_full_disk(path.parent, needed=len(data)):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@contextmanager
def atomic_directory(target: Path, mode: int = 0o755) -> Iterator[Path]:
    """A fresh staging folder beside ``target`` to fill; when the block ends without error it
    becomes ``target`` by rename (an existing ``target`` is replaced whole), and on any error
    it is removed. A reader sees the old folder or the new one, never a mix or a part.

    The staging name starts with a dot and ends in ``.tmp``, like ``atomic_write_bytes``'s.
    Replacing an existing folder takes two renames; a crash between them leaves the old
    folder as ``.<name>.<id>.old`` beside the missing one, never half of either.
    """
    with reporting_full_disk(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield staging
        os.chmod(staging, mode)  # mkdtemp makes it private; the published folder is not
        retired = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old") if target.exists() else None
        if retired is not None:
            os.rename(target, retired)
        try:
            os.rename(staging, target)
        except BaseException:
            if retired is not None:
                os.rename(retired, target)
            raise
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except DiskFullError:
        shutil.rmtree(staging, ignore_errors=True)
        raise disk_full_error(target.parent) from None  # the folder people know, and what is free without the staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned
# characters, and the line and paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: object) -> str:
    """``text`` (a file name, a path, a message quoting one) as one line a terminal shows as is.

    A name is chosen by whoever sent the file: a newline in it would forge a second line of
    output, an escape sequence would drive the terminal, a bidirectional override would show
    another name, and an undecodable byte (a lone surrogate) would make printing it fail. Each
    such character is written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``) instead.
    """
    return "".join(repr(char)[1:-1] if unicodedata.category(char) in _UNPRINTABLE else char for char in str(text))



_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,15}")


def safe_file_name(name: str, limit: int = 120) -> str:
    """A file name, made from ``name``, that cannot climb out of a folder or confuse a shell,
    at most ``limit`` characters long, that keeps ``name``'s extension.

    The format of a contribution is read from its extension, so the stem alone is cleaned and
    shortened: ``..csv`` becomes ``file.csv``, not ``csv``, and a 250-character name still ends
    in ``.csv``.
    """
    base = Path(name).name
    extension = Path(base).suffix
    if not _EXTENSION.fullmatch(extension):
        extension = ""
    stem = base[: len(base) - len(extension)]
    cleaned = _UNSAFE_IN_NAME.sub("_", stem).strip("._") or "file"
    return cleaned[: max(1, limit - len(extension))] + extension


def require_regular_file(path: Path) -> None:
    """Refuse ``path`` unless it names a regular file (directly or through symbolic links),
    saying what it is instead; it is never opened, so a FIFO or a device cannot block a read.

    Only ``lstat`` and ``stat`` are asked, on the path as given: resolving it first would turn
    a dangling link into its missing target and a link loop into a crash.
    """
    shown = printable(path)
    try:
        link = os.lstat(path)
    except OSError as error:
        raise _unreachable(shown, error) from None
    if stat.S_ISLNK(link.st_mode):
        try:
            target = os.stat(path)
        except OSError as error:
            if error.errno == errno.ENOENT:
                raise DataFileError(
                    f"{shown} is a symbolic link whose target {printable(os.path.realpath(path))} does not exist; "
                    "give the path of the data file itself",
                    code="E_DATA_BROKEN_LINK",
                ) from None
            raise _unreachable(shown, error) from None
    else:
        target = link
    kind = _NOT_REGULAR.get(stat.S_IFMT(target.st_mode))
    if kind is not None:
        via = "a symbolic link to " if target is not link else ""
        raise DataFileError(f"{shown} is {via}{kind}", code="E_DATA_NOT_A_FILE")
    if not os.access(path, os.R_OK):
        raise _unreachable(shown, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))


_READS_REGULAR = "hokusai reads regular files only; save the data to a file and give its path"
_NOT_REGULAR = {
    stat.S_IFDIR: "a directory; give the data file itself, not the folder holding it",
    stat.S_IFIFO: f"a FIFO (named pipe): {_READS_REGULAR}",
    stat.S_IFCHR: f"a character device: {_READS_REGULAR}",
    stat.S_IFBLK: f"a block device: {_READS_REGULAR}",
    stat.S_IFSOCK: f"a socket: {_READS_REGULAR}",
}


def _unreachable(shown: str, error: OSError) -> DataFileError:
    if error.errno == errno.ELOOP:
        return DataFileError(
            f"{shown}: symbolic link loop (a link that leads back to itself); give the path of the data file itself",
            code="E_DATA_LINK_LOOP",
        )
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return DataFileError(f"{shown}: file not found", code="E_DATA_FILE_MISSING")
    if error.errno in (errno.EACCES, errno.EPERM):
        return DataFileError(
            f"{shown}: permission denied; make the file readable by this user", code="E_DATA_FILE_UNREADABLE"
        )
    reason = printable(error.strerror or type(error).__name__)
    return DataFileError(f"{shown}: cannot be read ({reason})", code="E_DATA_FILE_UNREADABLE")
