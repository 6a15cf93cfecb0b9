"""The rewards' one error type: every code starts E_REWARDS, E_EPOCH or E_PAYOUT."""

from __future__ import annotations

from hokusai_assets.lib.errors import HokusaiError


class RewardsError(HokusaiError):
    """A reward epoch that cannot be closed, valued, paid or verified as asked."""

    code = "E_REWARDS"
