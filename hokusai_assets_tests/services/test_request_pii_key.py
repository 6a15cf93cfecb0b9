"""The PII key request rows are pseudonymised with (services/serving/pseudonyms.py): intake's own
key, read the way intake reads it, never created by a server."""

from hokusai_assets.lib.samples.mixed_task import write_mixed_task
from hokusai_assets.services.keys import PII_KEY_ENV, pii_key
from hokusai_assets.services.serving.pseudonyms import RequestPiiKey
from hokusai_assets.settings.load import load_settings


def test_the_server_uses_intakes_key_once_there_is_one_and_never_creates_it(tmp_path):
    task = write_mixed_task(tmp_path / "task")
    settings = load_settings(config_path=task.config_path, home=tmp_path / "home", environ={})
    key = RequestPiiKey(settings, {})
    assert key.get() is None and not settings.layout.pii_key_file.exists()
    created = pii_key(settings.layout, {})  # the first contribution's intake, after the server started
    assert key.get() == created
    from_env = RequestPiiKey(settings, {PII_KEY_ENV: "ab" * 32}).get()
    assert from_env is not None and from_env.secret == bytes.fromhex("ab" * 32)


def test_a_task_without_category_or_text_needs_no_key(mock_settings):
    pii_key(mock_settings.layout, {})
    assert RequestPiiKey(mock_settings, {}).get() is None
