"""Deliver one alert to one target, with retries: nothing here raises.

A delivery that fails for a moment (connection refused or reset, a timeout, HTTP 5xx, 408
or 429, an SMTP error) is tried again after ``backoff_seconds``, then twice that, and so
on, ``retries`` times; one that cannot succeed (HTTP 4xx, a login refused, a missing
environment variable) is not retried. Either way the outcome says what went wrong, naming
the target and its host but never its URL (a Slack webhook URL is a credential) or password.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hokusai_assets.lib.alerts.alert import Alert
from hokusai_assets.lib.alerts.messages import email_message, plain_payload, slack_payload
from hokusai_assets.settings.alerts import URL_PATTERN, EmailTarget, ResolvedPolicy, SlackTarget, WebhookTarget

USER_AGENT = "hokusai-alerts/1"
_RETRIED_HTTP = {408, 429}


class _Failure(Exception):
    def __init__(self, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.detail, self.retry = detail, retry


@dataclass(frozen=True)
class DeliveryOutcome:
    target: str
    delivered: bool
    attempts: int
    error: str | None = None


def _env(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise _Failure(f"the environment variable {name} ({what}) is not set where the sensor runs", retry=False)
    return value


def _url_from_env(environ: Mapping[str, str], name: str, what: str) -> str:
    """The URL in ``name``, held to the rule a literal ``url`` meets when the config is read.
    Checked here because the variable is read only now; the failure names the variable, never
    its value (a webhook URL is a credential, and urllib's own errors quote it whole)."""
    value = _env(environ, name, what)
    if not re.fullmatch(URL_PATTERN, value):
        raise _Failure(
            f"the environment variable {name} ({what}) does not hold an http:// or https:// URL "
            "(no quotes around it, no spaces in it)",
            retry=False,
        )
    return value


def _post_json(url: str, body: dict, timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
        method="POST",
    )
    host = urlsplit(url).hostname or "?"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)  # Slack answers "ok"; read a little so the connection closes cleanly
    except urllib.error.HTTPError as error:
        retry = error.code >= 500 or error.code in _RETRIED_HTTP
        raise _Failure(f"{host} answered HTTP {error.code}", retry=retry) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise _Failure(f"{host}: {type(reason).__name__}: {str(reason)[:200]}", retry=True) from None


def _send_email(target: EmailTarget, alert: Alert, timeout: float, environ: Mapping[str, str]) -> None:
    password = _env(environ, target.password_env, f"the SMTP password of {target.name}") if target.username else None
    message = email_message(alert, target.sender, target.to)
    try:
        with smtplib.SMTP(target.host, target.port, timeout=timeout) as smtp:
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if target.username:
                smtp.login(target.username, password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        raise _Failure(f"{target.host} refused the login ({error.smtp_code})", retry=False) from None
    except smtplib.SMTPRecipientsRefused:
        raise _Failure(f"{target.host} refused every recipient", retry=False) from None
    except smtplib.SMTPResponseException as error:
        raise _Failure(f"{target.host} answered SMTP {error.smtp_code}", retry=error.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        raise _Failure(f"{target.host}:{target.port}: {type(error).__name__}: {str(error)[:200]}", retry=True) from None


def send_once(
    target: SlackTarget | WebhookTarget | EmailTarget, alert: Alert, timeout: float, environ: Mapping[str, str]
) -> None:
    if isinstance(target, EmailTarget):
        _send_email(target, alert, timeout, environ)
        return
    url = target.url or _url_from_env(environ, target.url_env, f"the URL of {target.name}")
    body = slack_payload(alert) if isinstance(target, SlackTarget) else plain_payload(alert)
    _post_json(url, body, timeout)


def deliver(
    target: SlackTarget | WebhookTarget | EmailTarget,
    alert: Alert,
    policy: ResolvedPolicy,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryOutcome:
    environ = os.environ if environ is None else environ
    attempts = 0
    while True:
        attempts += 1
        try:
            send_once(target, alert, policy.timeout_seconds, environ)
            return DeliveryOutcome(target.name, True, attempts)
        except _Failure as failure:
            if not failure.retry or attempts > policy.retries:
                return DeliveryOutcome(target.name, False, attempts, failure.detail)
        except Exception as error:  # noqa: BLE001 - a delivery never raises into the sensor
            # An unforeseen error's text may quote a webhook's URL (urllib's do, whole): for those
            # targets only its type is kept, since this goes to the sensor's log and undelivered.jsonl.
            said = type(error).__name__
            if isinstance(target, EmailTarget):
                said += f": {str(error)[:200]}"
            return DeliveryOutcome(target.name, False, attempts, said)
        sleep(policy.backoff_seconds * 2 ** (attempts - 1))
