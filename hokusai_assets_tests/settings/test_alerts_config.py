"""``alerts:`` in hokusai.yaml: validated with errors that name the key; absent means no alerts."""

import pytest
import yaml

from hokusai_assets.lib.errors import ConfigError
from hokusai_assets.settings.load import load_settings

SLACK = {"name": "ops-slack", "type": "slack", "url_env": "HOKUSAI_SLACK_WEBHOOK"}
WEBHOOK = {"name": "pager", "type": "webhook", "url": "http://127.0.0.1:9000/alerts", "kinds": ["run_failed"]}
EMAIL = {
    "name": "oncall-mail",
    "type": "email",
    "host": "smtp.example.org",
    "port": 587,
    "from": "alerts@example.org",
    "to": ["ops@example.org"],
    "starttls": True,
    "username": "alerts",
    "password_env": "HOKUSAI_SMTP_PASSWORD",
    "retries": 1,
}


def _load(mock_task, tmp_path, alerts):
    raw = yaml.safe_load(mock_task.config_path.read_text())
    raw["alerts"] = alerts
    path = mock_task.config_path.parent / "with-alerts.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_settings(config_path=path, home=tmp_path / "home", environ={})


def test_absent_means_no_alerts(mock_settings):
    assert mock_settings.config.alerts is None


def test_three_kinds_of_target_with_global_and_own_values(mock_task, tmp_path, mock_settings):
    settings = _load(mock_task, tmp_path, {"targets": [SLACK, WEBHOOK, EMAIL], "suppress_seconds": 60})
    alerts = settings.config.alerts
    slack, webhook, email = alerts.targets
    assert (slack.type, webhook.type, email.type) == ("slack", "webhook", "email")
    assert email.sender == "alerts@example.org"
    assert alerts.policy(webhook).kinds == ("run_failed",)
    assert len(alerts.policy(slack).kinds) == 6
    assert alerts.policy(email).retries == 1 and alerts.policy(slack).retries == 3
    assert alerts.policy(slack).suppress_seconds == 60
    # Where alerts go changes no number: the config digest is the one without them.
    assert settings.config_digest == mock_settings.config_digest


def test_mail_without_a_login_may_go_without_starttls(mock_task, tmp_path):
    plain = {**EMAIL, "starttls": False, "username": None, "password_env": None}
    [email] = _load(mock_task, tmp_path, {"targets": [plain]}).config.alerts.targets
    assert email.starttls is False and email.username is None


@pytest.mark.parametrize(
    ("alerts", "says"),
    [
        ({"targets": []}, "alerts.targets"),
        ({"targets": [{**SLACK, "url": "https://hooks.example.org/x"}]}, "exactly one of url and url_env"),
        ({"targets": [{"name": "w", "type": "webhook", "url": "ftp://x"}]}, "alerts.targets.0.webhook.url"),
        ({"targets": [{**EMAIL, "password_env": None}]}, "username and password_env go together"),
        # A login without STARTTLS would send the password in clear text: refused, saying what to set.
        ({"targets": [{**EMAIL, "starttls": False}]}, "target 'oncall-mail': a login (username) needs starttls: true"),
        ({"targets": [{k: v for k, v in EMAIL.items() if k != "starttls"}]}, "needs starttls: true"),
        ({"targets": [{**EMAIL, "password": "hunter2"}]}, "unknown key 'alerts.targets.0.email.password'"),
        ({"targets": [{**EMAIL, "to": ["not an address"]}]}, "alerts.targets.0.email.to.0"),
        ({"targets": [SLACK], "kinds": ["everything"]}, "alerts.kinds.0"),
        ({"targets": [SLACK, SLACK]}, "ops-slack are used twice"),
        ({"targets": [{**SLACK, "type": "pigeon"}]}, "alerts.targets.0"),
        ({"targets": [{**SLACK, "retries": 5, "timeout_seconds": 10}]}, "over the 40 s a sensor tick allows"),
    ],
)
def test_mistakes_are_named(mock_task, tmp_path, alerts, says):
    with pytest.raises(ConfigError) as raised:
        _load(mock_task, tmp_path, alerts)
    assert raised.value.code == "E_CONFIG_INVALID"
    assert says in raised.value.message
