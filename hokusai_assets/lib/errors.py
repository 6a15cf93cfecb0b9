"""One error family for the whole domain.

Every error carries a stable ``code`` (for machines: tests, asset checks, quarantine
reasons) and a ``message`` that says what is wrong and what to do (for people). The CLI
prints ``error[CODE]: message`` on one line and exits non-zero.
"""

from __future__ import annotations


class HokusaiError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "E_HOKUSAI"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ConfigError(HokusaiError):
    """hokusai.yaml (or the environment) is missing, malformed or inconsistent."""

    code = "E_CONFIG"


class DataFileError(HokusaiError):
    """A data file cannot be found, read or parsed."""

    code = "E_DATA_FILE"


class SchemaError(HokusaiError):
    """Rows do not match the task schema (columns, types, labels)."""

    code = "E_SCHEMA"


class CommitmentError(HokusaiError):
    """A value cannot be committed to (NaN, infinity, an unsupported type)."""

    code = "E_COMMITMENT"


class EvaluationError(HokusaiError):
    """Metrics or deltas cannot be computed from what was given."""

    code = "E_EVALUATION"


class ModelError(HokusaiError):
    """A model cannot be trained, saved or safely loaded."""

    code = "E_MODEL"


class WalletError(HokusaiError):
    """A contributor wallet address is not a valid EIP-55 address."""

    code = "E_WALLET"


class SignError(HokusaiError):
    """Keys, statements or typed data that cannot be signed (or checked) as asked."""

    code = "E_SIGN"


class DiskFullError(HokusaiError):
    """A write found no space left on its file system (or the user's quota used up)."""

    code = "E_DISK_FULL"
