"""The bytes each kind of target takes for one alert.

- ``plain_payload``: a stable JSON object (``schema`` names its version; fields are only ever
  added), documented in the README's "Alerts" section.
- ``slack_payload``: what a Slack incoming webhook takes (``text`` as the notification's
  fallback, ``blocks`` for the message), text escaped as Slack asks (&, <, >).
- ``email_message``: a plain-text e-mail.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from hokusai_assets.lib.alerts.alert import ERROR, Alert, iso_time

PLAIN_SCHEMA = "hokusai.alert/v1"
SOURCE = "hokusai_assets"
_SLACK_HEADER_MAX = 150  # Slack's limit on a header block's text
_SLACK_SECTION_MAX = 3000  # and on a section's


def _fields(alert: Alert) -> list[tuple[str, str]]:
    """The identifiers an alert has, in the order people read them."""
    pairs = [
        ("kind", alert.kind),
        ("severity", alert.severity),
        ("asset", alert.asset),
        ("check", alert.check),
        ("partition", alert.partition),
        ("job", alert.job),
        ("run id", alert.run_id),
        ("code", alert.code),
        ("time", iso_time(alert.at)),
    ]
    if alert.suppressed:
        pairs.append(("repeats suppressed", f"{alert.suppressed} since {iso_time(alert.window_start or alert.at)}"))
    return [(name, str(value)) for name, value in pairs if value is not None]


def plain_payload(alert: Alert) -> dict[str, Any]:
    return {
        "schema": PLAIN_SCHEMA,
        "source": SOURCE,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "text": alert.text,
        "subject": alert.key,
        "time": iso_time(alert.at),
        "asset": alert.asset,
        "check": alert.check,
        "partition": alert.partition,
        "job": alert.job,
        "run_id": alert.run_id,
        "code": alert.code,
        "suppressed_repeats": alert.suppressed,
        "window_start": iso_time(alert.window_start) if alert.window_start is not None else None,
    }


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alert: Alert) -> dict[str, Any]:
    marker = ":red_circle:" if alert.severity == ERROR else ":warning:"
    title = _cut(alert.title, _SLACK_HEADER_MAX)
    facts = "  ".join(f"*{name}:* `{slack_escape(value)}`" for name, value in _fields(alert))
    return {
        "text": slack_escape(f"{marker} {alert.title}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(slack_escape(alert.text), _SLACK_SECTION_MAX)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(facts, _SLACK_SECTION_MAX)}]},
        ],
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a header with a line break would be refused, or forge another header


def email_message(alert: Alert, sender: str, recipients: list[str] | tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _one_line(f"[hokusai {alert.severity}] {alert.title}")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(alert.at, usegmt=True)
    body = [alert.text, ""] + [f"{name}: {value}" for name, value in _fields(alert)]
    message.set_content("\n".join(body) + "\n")
    return message
