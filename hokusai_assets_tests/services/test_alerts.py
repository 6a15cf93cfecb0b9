"""Alert delivery against real local receivers: webhooks over HTTP, e-mail over SMTP, retries,
undeliverable targets, and the suppression state kept under HOKUSAI_HOME."""

import functools
import json
import logging
import ssl
from pathlib import Path

import pytest

from hokusai_assets.lib.alerts.alert import QUARANTINED, RUN_FAILED, Alert
from hokusai_assets.services.alerts.delivery import deliver
from hokusai_assets.services.alerts.dispatch import dispatch
from hokusai_assets.settings.alerts import AlertsConfig
from hokusai_assets.settings.layout import HomeLayout
from hokusai_assets_tests.services.alert_receivers import closed_port, http_receiver, smtp_receiver

AT = 1_767_225_600.0
QUARANTINE = Alert(
    kind=QUARANTINED, severity="error", title="File quarantined (E_X)", text="t.", subject="E_X", at=AT, code="E_X"
)
RUN = Alert(kind=RUN_FAILED, severity="error", title="Run failed", text="r.", subject="job:E_Y", at=AT, run_id="r1")


def _config(*targets, **values) -> AlertsConfig:
    return AlertsConfig.model_validate({"targets": list(targets), "backoff_seconds": 0.05, **values})


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(("info", msg))

    def warning(self, msg):
        self.lines.append(("warning", msg))


def test_plain_webhook_gets_the_json_object():
    with http_receiver() as receiver:
        config = _config({"name": "hook", "type": "webhook", "url": receiver.url})
        outcome = deliver(config.targets[0], QUARANTINE, config.policy(config.targets[0]), environ={})
    assert outcome.delivered and outcome.attempts == 1
    [body] = receiver.received
    assert body["kind"] == "quarantined" and body["code"] == "E_X" and body["time"] == "2026-01-01T00:00:00Z"
    assert receiver.content_types == ["application/json; charset=utf-8"]


def test_slack_webhook_from_an_environment_variable_gets_text_and_blocks():
    with http_receiver() as receiver:
        config = _config({"name": "slack", "type": "slack", "url_env": "TEST_SLACK_URL"})
        outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={"TEST_SLACK_URL": receiver.url})
    assert outcome.delivered
    assert set(receiver.received[0]) == {"text", "blocks"}


def test_server_errors_are_retried_with_backoff():
    waits = []
    with http_receiver(statuses=[500, 503]) as receiver:
        config = _config({"name": "hook", "type": "webhook", "url": receiver.url})
        outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={}, sleep=waits.append)
    assert outcome.delivered and outcome.attempts == 3
    assert len(receiver.received) == 3
    assert waits == [0.05, 0.1]  # doubling


def test_a_client_error_is_not_retried():
    with http_receiver(statuses=[404]) as receiver:
        config = _config({"name": "hook", "type": "webhook", "url": receiver.url})
        outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={}, sleep=lambda s: None)
    assert not outcome.delivered and outcome.attempts == 1
    assert outcome.error == "127.0.0.1 answered HTTP 404"


def test_unreachable_target_is_retried_then_recorded_never_raised(tmp_path: Path):
    layout = HomeLayout(tmp_path)
    url = f"http://127.0.0.1:{closed_port()}/secret-token-in-path"
    config = _config({"name": "down", "type": "webhook", "url": url, "retries": 2})
    log = _Log()
    report = dispatch(config, layout, [QUARANTINE, RUN], log, now=AT, environ={})
    assert report.delivered == [] and len(report.undelivered) == 2
    records = [json.loads(line) for line in layout.undelivered_alerts_log.read_text().splitlines()]
    assert [r["attempts"] for r in records] == [3, 0]  # the second is not tried once the target failed this tick
    assert "ConnectionRefusedError" in records[0]["error"]
    assert records[1]["error"].startswith("not tried")
    assert records[0]["alert"]["kind"] == "quarantined" and records[0]["target"] == "down"
    warnings = [msg for level, msg in log.lines if level == "warning"]
    assert len(warnings) == 2 and "not delivered to down after 3 attempt(s)" in warnings[0]
    assert "secret-token" not in layout.undelivered_alerts_log.read_text() + "".join(warnings)


def test_a_missing_url_variable_is_recorded_with_what_to_set(tmp_path: Path):
    config = _config({"name": "slack", "type": "slack", "url_env": "TEST_UNSET_URL"})
    report = dispatch(config, HomeLayout(tmp_path), [RUN], _Log(), now=AT, environ={})
    [(_, _, why)] = report.undelivered
    assert "TEST_UNSET_URL" in why and "not set" in why


def test_suppression_survives_a_restart_then_summarises(tmp_path: Path):
    layout = HomeLayout(tmp_path)
    with http_receiver() as receiver:
        config = _config({"name": "hook", "type": "webhook", "url": receiver.url}, suppress_seconds=600)
        dispatch(config, layout, [QUARANTINE], _Log(), now=AT)
        # A new process (a restarted daemon) reads the same state file: repeats are held back.
        report = dispatch(config, layout, [QUARANTINE, QUARANTINE], _Log(), now=AT + 60)
        assert report.suppressed == 2 and len(receiver.received) == 1
        dispatch(config, layout, [], _Log(), now=AT + 600)  # a tick after the window
        dispatch(config, layout, [], _Log(), now=AT + 1200)  # said once only
    assert [body["suppressed_repeats"] for body in receiver.received] == [0, 2]
    assert receiver.received[1]["window_start"] == "2026-01-01T00:00:00Z"
    assert json.loads(layout.alert_state_file.read_text()) == {"hook": {}}


def test_kinds_route_alerts_to_their_targets(tmp_path: Path):
    with http_receiver() as runs, http_receiver() as everything:
        config = _config(
            {"name": "runs", "type": "webhook", "url": runs.url, "kinds": ["run_failed"]},
            {"name": "all", "type": "webhook", "url": everything.url},
        )
        dispatch(config, HomeLayout(tmp_path), [QUARANTINE, RUN], _Log(), now=AT)
    assert [b["kind"] for b in runs.received] == ["run_failed"]
    assert sorted(b["kind"] for b in everything.received) == ["quarantined", "run_failed"]


def test_email_is_delivered_over_smtp():
    with smtp_receiver() as server:
        config = _config(
            {"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "from": "alerts@example.org",
             "to": ["ops@example.org", "oncall@example.org"]}
        )
        outcome = deliver(config.targets[0], QUARANTINE, config.policy(config.targets[0]), environ={})
    assert outcome.delivered
    [message] = server.messages
    assert message["from"] == "alerts@example.org" and message["to"] == ["ops@example.org", "oncall@example.org"]
    assert "Subject: [hokusai error] File quarantined (E_X)" in message["data"]


@pytest.mark.parametrize(("given", "delivered"), [("right-password", True), ("wrong", False)])
def test_smtp_login_reads_the_password_from_the_environment(given, delivered, tmp_path, monkeypatch):
    # A login goes only over STARTTLS (the config refuses one without); the server's certificate
    # is a test one, which the client is made to trust, verifying it as it would any other.
    with smtp_receiver(password="right-password", tls_folder=tmp_path) as server:
        trusting = functools.partial(ssl.create_default_context, cafile=str(server.cafile))
        monkeypatch.setattr("hokusai_assets.services.alerts.delivery.ssl.create_default_context", trusting)
        config = _config(
            {"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "from": "a@example.org",
             "to": ["b@example.org"], "starttls": True, "username": "alerts", "password_env": "TEST_SMTP_PASSWORD"}
        )
        outcome = deliver(
            config.targets[0], RUN, config.policy(config.targets[0]), environ={"TEST_SMTP_PASSWORD": given},
            sleep=lambda s: None,
        )
    assert outcome.delivered is delivered
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN) within one attempt; no retry follows.
    assert set(server.logins) == {("alerts", given)} and outcome.attempts == 1
    assert len(server.messages) == (1 if delivered else 0)
    if not delivered:
        assert "refused the login (535)" in outcome.error


def test_smtp_login_fails_on_a_certificate_it_does_not_trust(tmp_path):
    # STARTTLS verifies the server: a certificate nobody vouches for gets no password.
    with smtp_receiver(password="right-password", tls_folder=tmp_path) as server:
        config = _config(
            {"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "from": "a@example.org",
             "to": ["b@example.org"], "starttls": True, "username": "alerts", "password_env": "TEST_SMTP_PASSWORD",
             "retries": 0}
        )
        outcome = deliver(
            config.targets[0], RUN, config.policy(config.targets[0]), environ={"TEST_SMTP_PASSWORD": "right-password"}
        )
    assert not outcome.delivered and server.logins == [] and server.messages == []
    assert "SSLCertVerificationError" in outcome.error


def test_smtp_login_without_starttls_is_refused_by_the_config():
    with pytest.raises(ValueError, match="needs starttls: true"):
        _config(
            {"name": "mail", "type": "email", "host": "127.0.0.1", "from": "a@example.org", "to": ["b@example.org"],
             "username": "alerts", "password_env": "TEST_SMTP_PASSWORD"}
        )


def test_smtp_server_down_is_retried_then_given_up():
    config = _config(
        {"name": "mail", "type": "email", "host": "127.0.0.1", "port": closed_port(), "from": "a@example.org",
         "to": ["b@example.org"], "retries": 1}
    )
    outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={}, sleep=lambda s: None)
    assert not outcome.delivered and outcome.attempts == 2
    assert "127.0.0.1" in outcome.error


def test_python_logging_works_as_the_log(tmp_path: Path, caplog):
    # Outside Dagster (a script), a standard logger is enough.
    config = _config({"name": "down", "type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/", "retries": 0})
    with caplog.at_level(logging.WARNING):
        dispatch(config, HomeLayout(tmp_path), [RUN], logging.getLogger("alerts"), now=AT)
    assert "not delivered to down" in caplog.text


def test_no_delivery_starts_that_could_outlast_the_ticks_budget(tmp_path: Path):
    with http_receiver() as receiver:
        config = _config({"name": "hook", "type": "webhook", "url": receiver.url})  # worst case 4 x 5 s + waits
        report = dispatch(config, HomeLayout(tmp_path), [RUN], _Log(), now=AT, budget_seconds=10)
    assert receiver.received == []
    [(_, _, why)] = report.undelivered
    assert why == "not tried: the tick's 10 s were spent"


@pytest.mark.parametrize(
    "value",
    ["'https://hooks.example/secret-token'", "hooks.example/secret-token", "https://hooks.example/secret token"],
)
def test_a_malformed_url_variable_fails_without_showing_the_url(tmp_path: Path, caplog, value):
    # A webhook URL is a credential: a quoted value, one without a scheme or one with a space must
    # fail, not retried, naming the variable, and its value must reach no log and no record.
    layout = HomeLayout(tmp_path)
    config = _config({"name": "slack", "type": "slack", "url_env": "TEST_BAD_URL"})
    log = _Log()
    report = dispatch(config, layout, [RUN], log, now=AT, environ={"TEST_BAD_URL": value})
    [(_, _, why)] = report.undelivered
    assert "TEST_BAD_URL" in why and "http" in why
    outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={"TEST_BAD_URL": value})
    assert not outcome.delivered and outcome.attempts == 1
    again = HomeLayout(tmp_path / "again")  # a fresh home, through a standard logger this time
    with caplog.at_level(logging.DEBUG):
        dispatch(config, again, [RUN], logging.getLogger("alerts"), now=AT, environ={"TEST_BAD_URL": value})
    said = "".join(msg for _, msg in log.lines) + caplog.text
    said += layout.undelivered_alerts_log.read_text() + again.undelivered_alerts_log.read_text() + outcome.error
    assert "secret" not in said and "hooks.example" not in said


def test_an_unexpected_webhook_error_is_recorded_by_its_type_alone(tmp_path: Path, monkeypatch):
    # Whatever urllib raises that delivery did not foresee may quote the URL: only its type is kept.
    def boom(*args, **kwargs):
        raise ValueError("something about https://hooks.example/secret-token")

    monkeypatch.setattr("urllib.request.urlopen", boom)
    config = _config({"name": "hook", "type": "webhook", "url": "https://hooks.example/secret-token"})
    outcome = deliver(config.targets[0], RUN, config.policy(config.targets[0]), environ={})
    assert not outcome.delivered and outcome.attempts == 1
    assert outcome.error == "ValueError"
    assert "secret-token" not in outcome.error
