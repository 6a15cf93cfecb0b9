"""An epoch's files: writing its statement, signatures, payout tree and report; verifying and proving from them.

``HOKUSAI_HOME/epochs/<epoch>/`` holds ``window.json`` (when it closed), ``members.json``
(which contributions it holds; ``services/epochs.py``), ``statement.json``,
``statement.dsse.json`` (Ed25519), ``statement.eip712.json`` (the attester's signature over
the epoch, root, total and statement digest), ``attester.json``, ``payout-tree.json``
(OpenZeppelin's StandardMerkleTree dump: load it with ``StandardMerkleTree.load``),
``report.md`` and ``values.png``, and an unsigned ``receipt.json``. Everything but the
window and the receipt is the same bytes for the same epoch inputs and keys.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from hokusai_assets.lib.attestation.bundle import AttestationFiles
from hokusai_assets.lib.attestation.eip712 import Eip712Domain
from hokusai_assets.lib.attestation.signing import AttesterKeys
from hokusai_assets.lib.attestation.statement import code_version
from hokusai_assets.lib.attestation.verify.base import UnreadableFile, VerificationReport
from hokusai_assets.lib.attestation.verify.signed_checks import trusted_info_problems
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.commitments.merkle import data_root
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.rewards.errors import RewardsError
from hokusai_assets.lib.rewards.payout_tree import PayoutTree
from hokusai_assets.lib.rewards.report import epoch_markdown, harmful_markdown, values_plot_png
from hokusai_assets.lib.rewards.signing import sign_epoch
from hokusai_assets.lib.rewards.statement import epoch_predicate
from hokusai_assets.lib.rewards.verify import paid, verify_epoch
from hokusai_assets.lib.rewards.window import check_epoch_id
from hokusai_assets.lib.training.model import TrainedModel
from hokusai_assets.services.attestations import read_json_file
from hokusai_assets.services.epochs import rewards_config
from hokusai_assets.settings.load import Settings

TREE_FILE = "payout-tree.json"
PLOT_FILE = "values.png"


def epoch_predicate_of(
    settings: Settings,
    reward_epoch: dict,
    values: dict,
    payouts: dict,
    epoch_model: TrainedModel,
    baseline_model: TrainedModel,
    baseline: pd.DataFrame,
    benchmark: pd.DataFrame,
) -> dict:
    """The epoch's predicate from its asset values, digests re-derived from the models and tables."""
    schema, config = settings.schema, settings.config
    return epoch_predicate(
        epoch_document=reward_epoch,
        values=values,
        payouts=payouts,
        task={"name": config.task.name, "type": config.task.type, "columns": schema.columns},
        rewards=rewards_config(settings).model_dump(mode="json"),
        config_digest=settings.config_digest,
        baseline={
            "model_digest": bytes_digest(baseline_model.to_bytes()),
            "data_root": data_root(baseline, schema.columns),
            "rows": len(baseline),
        },
        benchmark={"data_root": data_root(benchmark, schema.columns), "rows": len(benchmark)},
        epoch_model={"model_digest": bytes_digest(epoch_model.to_bytes())},
        code_version=code_version(),
    )


def published_statement(files: AttestationFiles) -> dict | None:
    """The statement inside an epoch's signed envelope (None when there is none): what was
    published, as opposed to the unsigned copy beside it."""
    if not files.envelope.is_file():
        return None
    envelope = _read_json(files.envelope, "the signed envelope (statement.dsse.json)")
    try:
        return json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (KeyError, TypeError, ValueError) as exc:
        raise RewardsError(
            f"{files.envelope}: not a DSSE envelope ({type(exc).__name__}); restore it from the epoch's publisher",
            code="E_EPOCH_FILES",
        ) from None


def attest_epoch(
    directory: Path, statement: dict, harmful: dict, keys: AttesterKeys, domain: Eip712Domain, receipt: dict
) -> tuple[str, VerificationReport]:
    """Sign the epoch, verify the signed bytes as a third party would, and only then publish them.

    Returns the statement's digest and the verification report; when the report fails,
    nothing is written, so a failed epoch never looks attested. An epoch published before is
    never re-signed with other numbers (claims may already rest on its root): the same
    statement again is written again, a different one is refused.
    """
    files = AttestationFiles(directory)
    signed = sign_epoch(statement, keys, domain)
    published = published_statement(files)
    if published is not None and canonical_json(published) != canonical_json(statement):
        raise RewardsError(
            f"epoch {statement['predicate']['epoch']} was published with other numbers (root "
            f"{published['predicate']['payouts']['root']}); a published epoch is never re-signed: the config, the "
            "code or the stored inputs changed since. Restore them, or close a new epoch",
            code="E_EPOCH_PUBLISHED",
        )
    predicate = statement["predicate"]
    leaves = paid(predicate["payouts"])
    tree = PayoutTree.build(leaves).dump() if leaves else None
    report = verify_epoch(signed.envelope_bytes, signed.eip712, trusted=keys.public_info(domain), tree_dump=tree)
    if not report.ok:
        return signed.statement_digest, report
    # The envelope is written last but for the receipt: an epoch counts as attested once it
    # exists, so everything it vouches for is on disk before it.
    text = epoch_markdown(predicate) + "\n#### Most harmful rows (KNN-Shapley)\n\n" + harmful_markdown(harmful)
    atomic_write_bytes(directory / "report.md", text.encode("utf-8"))
    atomic_write_bytes(directory / PLOT_FILE, values_plot_png(predicate))
    tree_file = directory / TREE_FILE
    if tree is not None:
        atomic_write_bytes(tree_file, (json.dumps(tree, indent=2) + "\n").encode())
    elif tree_file.exists():
        tree_file.unlink()  # nobody is paid: a tree left from an unpublished earlier run would mislead
    atomic_write_bytes(files.statement, canonical_json(statement))
    atomic_write_bytes(files.attester, canonical_json(keys.public_info(domain)))
    atomic_write_bytes(files.eip712, canonical_json(signed.eip712))
    atomic_write_bytes(files.envelope, signed.envelope_bytes)
    stamped = {
        "statement_digest": signed.statement_digest,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **receipt,
    }
    atomic_write_bytes(files.receipt, (json.dumps(stamped, indent=2, sort_keys=True) + "\n").encode())
    return signed.statement_digest, report


EPOCH_REMEDY = "restore it from the epoch's publisher (copy the epoch's whole folder)"
ATTESTER_REMEDY = "copy the epoch's whole folder, or pass --attester with a copy of the keys you trust"


def _read_json(path: Path, what: str, remedy: str = EPOCH_REMEDY) -> Any:
    return read_json_file(path, what, remedy, error=RewardsError, code="E_EPOCH_FILES")


def epoch_files(path: Path) -> AttestationFiles:
    """The epoch at ``path``: its directory, or any file in it."""
    files = AttestationFiles(path if path.is_dir() else path.parent)
    if not files.envelope.is_file():
        raise RewardsError(
            f"{path}: no statement.dsse.json there; give an epoch directory ($HOKUSAI_HOME/epochs/<epoch>)",
            code="E_EPOCH_NOT_FOUND",
        )
    return files


def verify_epoch_files(
    files: AttestationFiles, attester: Path | None = None, trusted: dict | None = None
) -> VerificationReport:
    """Verify the epoch's files against ``trusted`` keys, or those in ``attester`` (a copy you
    trust), or by default the attester.json published beside them."""
    if trusted is None:
        source = attester or files.attester
        trusted = _read_json(source, "the attester key file", ATTESTER_REMEDY)
        problems = trusted_info_problems(trusted)
        if problems:
            raise RewardsError(
                f"{source}: not the attester's public keys ({'; '.join(problems)}); pass --attester with the keys "
                "the attester published (`hokusai keys`)",
                code="E_EPOCH_FILES",
            )
    # A missing EIP-712 file or payout tree is a failed check naming it (the epoch is not all
    # there); a damaged one is an error naming the file. Present but not a file (a directory)
    # counts as damaged rather than absent, so it is never skipped.
    if files.eip712.exists():
        eip712 = _read_json(files.eip712, "the EIP-712 file")
    else:
        eip712 = UnreadableFile(f"{files.eip712}: the EIP-712 file does not exist; {EPOCH_REMEDY}")
    tree_path = files.directory / TREE_FILE
    if tree_path.exists():
        tree = _read_json(tree_path, "the payout tree file")
    else:  # fails payout_root only if somebody is paid: an epoch that pays nobody has no tree
        tree = UnreadableFile(f"{tree_path}: the payout tree file does not exist; {EPOCH_REMEDY}")
    try:
        envelope = files.envelope.read_bytes()
    except OSError as exc:
        raise RewardsError(
            f"{files.envelope}: the signed envelope cannot be read ({exc.strerror or type(exc).__name__}); "
            f"{EPOCH_REMEDY}",
            code="E_EPOCH_FILES",
        ) from None
    return verify_epoch(envelope, eip712, trusted=trusted, tree_dump=tree)


def prove_payout(settings: Settings, epoch: str, wallet: str, attester: Path | None = None) -> dict:
    """A wallet's amount in an epoch and its proof against the payout root, from the signed
    envelope, verified first (against ``attester``, a copy of the keys you trust, or the
    attester.json published with the epoch), never from an unsigned copy."""
    from hokusai_assets.lib.wallet import normalise_wallet

    directory = settings.layout.epoch_dir(check_epoch_id(epoch))
    files = AttestationFiles(directory)
    if not files.envelope.is_file():
        raise RewardsError(
            f"epoch {epoch} has no signed statement under {directory}; close it with `hokusai epoch close`",
            code="E_EPOCH_NOT_FOUND",
        )
    report = verify_epoch_files(files, attester)
    if not report.ok:
        failure = report.first_failure
        raise RewardsError(
            f"epoch {epoch} does not verify ({failure.name}: {failure.detail}); no proof is given. "
            f"`hokusai verify-epoch {directory}` shows every check",
            code="E_EPOCH_INVALID",
        )
    predicate = report.statement["predicate"]
    wallet = normalise_wallet(wallet, allow_lowercase=True)
    leaves = paid(predicate["payouts"])
    amounts = dict(leaves)
    if wallet not in amounts:
        raise RewardsError(
            f"{wallet} is paid nothing in epoch {epoch}; there is no proof to give", code="E_PAYOUT_NOT_PAID"
        )
    tree = PayoutTree.build(leaves)
    return {
        "epoch": epoch,
        "wallet": wallet,
        "amount": str(amounts[wallet]),
        "root": tree.root,
        "proof": tree.proof(wallet),
    }
