"""``alerts:`` in hokusai.yaml: where alerts go, which kinds, how repeats and failed deliveries
are handled (README, "Alerts"). Absent: no alert is sent.

Secrets never sit in the file: a webhook's URL may be named by an environment variable
(``url_env``; a Slack webhook URL is itself a credential) and an SMTP password always is
(``password_env``). Both are read when an alert is delivered, not when the config is loaded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hokusai_assets.lib.alerts.alert import ALERT_KINDS

# The kinds of lib/alerts/alert.py (ALERT_KINDS), spelled for pydantic; a test keeps them equal.
AlertKind = Literal["check_failed", "quarantined", "drift", "run_failed", "guardrail_breach", "rollback"]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A webhook's URL, written as ``url`` (checked when the config is read) or held in the variable
# ``url_env`` names (checked against the same rule when an alert is delivered).
URL_PATTERN = r"^https?://\S+$"
# One delivery (all its attempts, timeouts and waits) must fit well inside a sensor tick,
# which Dagster stops after 60 s.
MAX_DELIVERY_SECONDS = 40.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DeliveryPolicy(_Strict):
    """What a target may override of ``alerts:``' own values (None: as ``alerts:`` says)."""

    kinds: list[AlertKind] | None = Field(default=None, min_length=1)
    suppress_seconds: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    retries: int | None = Field(default=None, ge=0, le=5)
    backoff_seconds: float | None = Field(default=None, ge=0, le=10)
    timeout_seconds: float | None = Field(default=None, gt=0, le=30)


class _Target(DeliveryPolicy):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class _WebhookTarget(_Target):
    url: str | None = Field(default=None, pattern=URL_PATTERN)
    url_env: str | None = Field(default=None, pattern=ENV_NAME)

    @model_validator(mode="after")
    def _one_url(self) -> _WebhookTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(
                f"target {self.name!r}: give exactly one of url and url_env (the name of an environment variable "
                "holding the URL; use it for a Slack webhook, whose URL is a secret)"
            )
        return self


class SlackTarget(_WebhookTarget):
    """A Slack incoming webhook (or anything that takes Slack's ``{"text", "blocks"}``)."""

    type: Literal["slack"]


class WebhookTarget(_WebhookTarget):
    """Any HTTP endpoint taking the plain JSON object (README, "Alerts")."""

    type: Literal["webhook"]


class EmailTarget(_Target):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=ENV_NAME)

    @model_validator(mode="after")
    def _login_needs_both_and_tls(self) -> EmailTarget:
        if (self.username is None) != (self.password_env is None):
            raise ValueError(
                f"target {self.name!r}: username and password_env go together (the password is read from the "
                "environment variable password_env names, never written in hokusai.yaml)"
            )
        if self.username is not None and not self.starttls:
            # smtplib's login sends the password as it is (PLAIN, LOGIN): only inside TLS.
            raise ValueError(
                f"target {self.name!r}: a login (username) needs starttls: true, or the password would cross "
                "the network in clear text; set starttls: true (the server must offer STARTTLS, usually on port 587)"
            )
        return self


AlertTarget = Annotated[SlackTarget | WebhookTarget | EmailTarget, Field(discriminator="type")]


class ResolvedPolicy(_Strict):
    """One target's effective values: its own where it sets them, else ``alerts:``'."""

    kinds: tuple[AlertKind, ...]
    suppress_seconds: float
    retries: int
    backoff_seconds: float
    timeout_seconds: float

    @property
    def worst_case_seconds(self) -> float:
        """Every attempt timing out, with every backoff wait between them (doubling)."""
        waits = sum(self.backoff_seconds * 2**attempt for attempt in range(self.retries))
        return (self.retries + 1) * self.timeout_seconds + waits


class AlertsConfig(_Strict):
    targets: list[AlertTarget] = Field(min_length=1)
    kinds: list[AlertKind] = Field(default_factory=lambda: list(ALERT_KINDS), min_length=1)
    # Repeats of the same alert (kind and subject) within this long are counted, then summarised.
    suppress_seconds: float = Field(default=900.0, ge=0, le=7 * 24 * 3600)
    # A failed delivery (refused, timed out, HTTP 5xx, SMTP error) is tried again this many times,
    # waiting backoff_seconds, then twice that, and so on; then recorded as undelivered.
    retries: int = Field(default=3, ge=0, le=5)
    backoff_seconds: float = Field(default=1.0, ge=0, le=10)
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # How often the alert sensor reads new check results and observations.
    sensor_interval_seconds: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        names = [target.name for target in self.targets]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"alerts.targets: the name(s) {', '.join(doubled)} are used twice; give each its own")
        for target in self.targets:
            worst = self.policy(target).worst_case_seconds
            if worst > MAX_DELIVERY_SECONDS:
                raise ValueError(
                    f"target {target.name!r}: a failing delivery could take {worst:.0f} s (every attempt timing out, "
                    f"with the backoff between them), over the {MAX_DELIVERY_SECONDS:.0f} s a sensor tick allows; "
                    "lower retries, timeout_seconds or backoff_seconds"
                )
        return self

    def policy(self, target: DeliveryPolicy) -> ResolvedPolicy:
        def pick(name: str):
            own = getattr(target, name)
            return own if own is not None else getattr(self, name)

        return ResolvedPolicy(
            kinds=tuple(pick("kinds")),
            suppress_seconds=pick("suppress_seconds"),
            retries=pick("retries"),
            backoff_seconds=pick("backoff_seconds"),
            timeout_seconds=pick("timeout_seconds"),
        )
