"""What each target receives for one alert: Slack blocks, the plain JSON object, an e-mail."""

import json
import typing

from hokusai_assets.lib.alerts.alert import ALERT_KINDS, CHECK_FAILED, QUARANTINED, Alert
from hokusai_assets.lib.alerts.messages import PLAIN_SCHEMA, email_message, plain_payload, slack_payload
from hokusai_assets.lib.alerts.sources import failed_check_alert, quarantine_alert
from hokusai_assets.settings.alerts import AlertKind

AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _check_alert(**overrides) -> Alert:
    values = dict(
        asset="validated_contribution",
        check="schema_valid",
        partition="c-0123456789abcdef",
        run_id="run-1",
        at=AT,
        recorded_code="E_SCHEMA_MISSING_COLUMN",
    )
    return failed_check_alert(CHECK_FAILED, **{**values, **overrides})


def test_the_config_names_the_same_kinds_as_the_library():
    assert set(typing.get_args(AlertKind)) == set(ALERT_KINDS)


def test_plain_payload_is_the_documented_object():
    payload = plain_payload(_check_alert())
    assert payload == {
        "schema": PLAIN_SCHEMA,
        "source": "hokusai_assets",
        "kind": "check_failed",
        "severity": "error",
        "title": "Blocking check schema_valid failed on validated_contribution[c-0123456789abcdef]",
        "text": payload["text"],
        "subject": "check_failed:validated_contribution:schema_valid:E_SCHEMA_MISSING_COLUMN",
        "time": "2026-01-01T00:00:00Z",
        "asset": "validated_contribution",
        "check": "schema_valid",
        "partition": "c-0123456789abcdef",
        "job": None,
        "run_id": "run-1",
        "code": "E_SCHEMA_MISSING_COLUMN",
        "suppressed_repeats": 0,
        "window_start": None,
    }
    assert "E_SCHEMA_MISSING_COLUMN" in payload["text"] and "run-1" in payload["text"]
    json.dumps(payload)  # serialisable as is


def test_a_recorded_code_that_is_not_a_code_is_not_passed_on():
    # Metadata is whatever the asset wrote; only an E_ code is shown, else one named after the check.
    alert = _check_alert(recorded_code="alice@example.org, 4111 1111 1111 1111")
    assert alert.code == "E_CHECK_SCHEMA_VALID"
    assert "alice" not in json.dumps(plain_payload(alert))
    assert quarantine_alert(asset="contributed_dataset", code="<script>", partition=None, at=AT).code == "E_INTAKE"


def test_slack_payload_has_text_and_blocks_escaped():
    alert = Alert(
        kind=QUARANTINED, severity="error", title="a <b> & c", text="x > y", subject="s", at=AT, code="E_X"
    )
    payload = slack_payload(alert)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == ":red_circle: a &lt;b&gt; &amp; c"
    header, section, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "a <b> & c", "emoji": True}}
    assert section["text"] == {"type": "mrkdwn", "text": "x &gt; y"}
    assert "*code:* `E_X`" in context["elements"][0]["text"]


def test_slack_header_is_cut_to_slacks_limit():
    alert = _check_alert(asset="a" * 400)
    assert len(slack_payload(alert)["blocks"][0]["text"]["text"]) == 150


def test_email_has_one_line_subject_and_the_fields():
    alert = Alert(kind=QUARANTINED, severity="error", title="two\nlines", text="body", subject="s", at=AT)
    message = email_message(alert, "alerts@example.org", ["ops@example.org", "oncall@example.org"])
    assert message["Subject"] == "[hokusai error] two lines"
    assert message["To"] == "ops@example.org, oncall@example.org"
    assert message["Date"].startswith("Thu, 01 Jan 2026 00:00:00")
    body = message.get_content()
    assert body.startswith("body\n") and "kind: quarantined" in body and "time: 2026-01-01T00:00:00Z" in body
