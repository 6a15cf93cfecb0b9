"""Digests: ``"sha256:" + 64 lowercase hex`` of raw bytes or of a file's bytes."""

from __future__ import annotations

import hashlib
import os
import re

from hokusai_assets.lib.errors import CommitmentError

SHA256_PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_CHUNK = 1 << 20  # 1 MiB: bounded memory for any file size


def bytes_digest(data: bytes) -> str:
    """``"sha256:" + hex`` of raw bytes."""
    return SHA256_PREFIX + hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """``"sha256:" + hex`` of a file's raw bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return SHA256_PREFIX + digest.hexdigest()


def parse_digest(digest: str) -> bytes:
    """``"sha256:<64 lowercase hex>"`` -> the 32 raw bytes."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise CommitmentError(
            f"{digest!r} is not a digest; expected 'sha256:' followed by 64 lowercase hex "
            "characters, as written by hokusai.",
            code="E_COMMIT_BAD_DIGEST",
        )
    return bytes.fromhex(digest[len(SHA256_PREFIX):])
