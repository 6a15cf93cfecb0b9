"""Contributor wallets: EIP-55 checksummed Ethereum addresses, and the curve their keys are on."""

from __future__ import annotations

import re

from hokusai_assets.lib.errors import WalletError

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# The order of secp256k1, the curve of Ethereum keys: private keys lie in [1, n), canonical
# signatures have s <= n/2.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def normalise_wallet(address: str, *, allow_lowercase: bool = False) -> str:
    """Return the EIP-55 form of ``address`` or raise WalletError saying what is wrong.

    A mixed-case address must carry a valid checksum (a typo in it is caught). An
    all-lowercase address carries no checksum, so it is accepted only when the config
    allows it, and then normalised.
    """
    from eth_utils import is_checksum_address, to_checksum_address

    candidate = address.strip()
    if not _HEX_ADDRESS.match(candidate):
        raise WalletError(
            f"wallet {candidate!r} is not an Ethereum address; expected 0x followed by 40 hex digits",
            code="E_WALLET_FORMAT",
        )
    if is_checksum_address(candidate):
        return candidate
    body = candidate[2:]
    if body == body.lower() or body == body.upper():
        if allow_lowercase:
            return to_checksum_address(candidate)
        raise WalletError(
            f"wallet {candidate} has no EIP-55 checksum; pass the checksummed form "
            f"{to_checksum_address(candidate)} after checking it is yours, or set intake.allow_lowercase_wallet: true",
            code="E_WALLET_NO_CHECKSUM",
        )
    raise WalletError(
        f"wallet {candidate} fails its EIP-55 checksum, so it probably has a typo; copy it again from your wallet",
        code="E_WALLET_CHECKSUM",
    )
