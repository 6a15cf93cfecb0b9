"""Secret keys kept under ``HOKUSAI_HOME/keys`` (mode 0600) or supplied by environment.

A key is 32 random bytes. The environment variable (hex) wins over the file, so a
deployment can keep keys in its secret store. Otherwise the file is created on first use
by writing a temporary file and linking it into place, so concurrent first uses agree on
one key; an existing key file readable by group or others is refused rather than used,
because a leaked key undoes the protection it exists for.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from hokusai_assets.lib.errors import HokusaiError

KEY_BYTES = 32


class KeyFileError(HokusaiError):
    code = "E_KEY"


def load_or_create_secret(
    keys_dir: Path, file_name: str, env_var: str, environ: Mapping[str, str], *, purpose: str, code_prefix: str
) -> bytes:
    """The key's secret bytes; errors name ``purpose`` and use codes ``<code_prefix>_...``."""
    from_env = environ.get(env_var)
    if from_env is not None and from_env.strip():
        return _from_env(from_env.strip(), env_var, purpose, code_prefix)
    path = Path(keys_dir) / file_name
    if not path.exists() and not path.is_symlink():
        _create_key_file(Path(keys_dir), path)
    return _read_key_file(path, env_var, purpose, code_prefix)


def _from_env(text: str, env_var: str, purpose: str, code_prefix: str) -> bytes:
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(
            f"{env_var} is not hexadecimal; set it to {KEY_BYTES * 2} hex digits (e.g. from "
            "`python -c \"import secrets; print(secrets.token_hex(32))\"`) or unset it to use the key file",
            code=f"{code_prefix}_ENV",
        ) from None
    if len(secret) != KEY_BYTES:
        raise KeyFileError(
            f"{env_var} holds {len(secret)} bytes, a {purpose} key needs {KEY_BYTES} "
            f"({KEY_BYTES * 2} hex digits); set a full key or unset it to use the key file",
            code=f"{code_prefix}_ENV",
        )
    return secret


def _create_key_file(keys_dir: Path, path: Path) -> None:
    if not keys_dir.exists():
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = keys_dir / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # never replaces: a concurrent first use keeps its key
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path, env_var: str, purpose: str, code_prefix: str) -> bytes:
    try:
        info = path.stat()
    except OSError as error:
        raise KeyFileError(
            f"cannot read the {purpose} key file {path}: {error.strerror}; fix its permissions or set {env_var}",
            code=f"{code_prefix}_UNREADABLE",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(
            f"the {purpose} key path {path} is not a regular file; remove it so a key can be created",
            code=f"{code_prefix}_INVALID",
        )
    if info.st_mode & 0o077:
        raise KeyFileError(
            f"the {purpose} key file {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run `chmod 600 {path}` and, if others may have read it, treat the key as leaked",
            code=f"{code_prefix}_PERMISSIONS",
        )
    secret = path.read_bytes()
    if len(secret) != KEY_BYTES:
        raise KeyFileError(
            f"the {purpose} key file {path} holds {len(secret)} bytes, expected {KEY_BYTES}; "
            f"restore the right key or set {env_var}",
            code=f"{code_prefix}_INVALID",
        )
    return secret
