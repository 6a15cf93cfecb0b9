"""Every secret key of a deployment: the PII pseudonym key, the store key, the attester's keys.

A key is 32 random bytes: a file under ``HOKUSAI_HOME/keys`` (mode 0600; which file,
``settings/layout.py`` says) or an environment variable holding its hex. The environment
variable wins over the file, so a deployment can keep keys in its secret store. Otherwise
the file is created on first use
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

from hokusai_assets.lib.attestation.signing import AttesterKeys
from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.files import reporting_full_disk
from hokusai_assets.lib.intake.pii.pseudonyms import PiiKey
from hokusai_assets.settings.layout import HomeLayout

KEY_BYTES = 32
PII_KEY_ENV = "HOKUSAI_PII_KEY"
STORE_KEY_ENV = "HOKUSAI_STORE_KEY"
ED25519_KEY_ENV = "HOKUSAI_ED25519_KEY"  # the attester's 32-byte Ed25519 seed
SECP256K1_KEY_ENV = "HOKUSAI_ATTESTER_KEY"  # the attester's 32-byte secp256k1 private key


class KeyFileError(HokusaiError):
    code = "E_KEY"


def pii_key(layout: HomeLayout, environ: Mapping[str, str]) -> PiiKey:
    """The key of every pseudonym (HMAC-SHA256), created on first use."""
    return PiiKey.from_secret(
        load_or_create_secret(layout.pii_key_file, PII_KEY_ENV, environ, purpose="PII", code_prefix="E_PII_KEY")
    )


def existing_pii_key(layout: HomeLayout, environ: Mapping[str, str]) -> PiiKey | None:
    """The deployment's PII key if it has one; None rather than creating it."""
    if environ.get(PII_KEY_ENV, "").strip() or layout.pii_key_file.exists():
        return pii_key(layout, environ)
    return None


def store_key(layout: HomeLayout, environ: Mapping[str, str]) -> bytes:
    """The AES-256-GCM key of the contribution store, created on first use."""
    return load_or_create_secret(
        layout.store_key_file, STORE_KEY_ENV, environ, purpose="store encryption", code_prefix="E_STORE_KEY"
    )


def store_key_source(layout: HomeLayout) -> str:
    """Where the store key comes from, for a message that tells the operator what to check."""
    return f"{STORE_KEY_ENV} or {layout.store_key_file}"


def attester_keys(layout: HomeLayout, environ: Mapping[str, str]) -> AttesterKeys:
    """The attester's Ed25519 (DSSE) and secp256k1 (EIP-712) keys, created on first use."""
    seed = load_or_create_secret(
        layout.attester_ed25519_key_file, ED25519_KEY_ENV, environ,
        purpose="Ed25519 attestation signing", code_prefix="E_SIGN_KEY_ED25519",
    )
    secret = load_or_create_secret(
        layout.attester_secp256k1_key_file, SECP256K1_KEY_ENV, environ,
        purpose="secp256k1 (EIP-712) attester", code_prefix="E_SIGN_KEY_SECP256K1",
    )
    return AttesterKeys(seed, secret)


def load_or_create_secret(
    path: Path, env_var: str, environ: Mapping[str, str], *, purpose: str, code_prefix: str
) -> bytes:
    """The secret bytes from ``env_var`` (hex) or the key file ``path`` (created if absent).

    Errors name ``purpose`` and use codes ``<code_prefix>_...``.
    """
    from_env = environ.get(env_var)
    if from_env is not None and from_env.strip():
        return _from_env(from_env.strip(), env_var, purpose, code_prefix)
    if not path.exists() and not path.is_symlink():
        _create_key_file(path.parent, path)
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
    with reporting_full_disk(keys_dir, needed=KEY_BYTES):
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
