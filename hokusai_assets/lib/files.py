"""Files: writing them so that a reader sees the old bytes or the new ones, never half of
them; telling a regular file from whatever else a path may name, without opening it; and
showing a name someone else chose on one printable line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import unicodedata
from pathlib import Path

from hokusai_assets.lib.errors import DataFileError


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is fsynced before the rename and removed if anything fails, so a
    crash or a full disk leaves the previous file (or none), never a torn one.
    """
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
