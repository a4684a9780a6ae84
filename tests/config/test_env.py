from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list


def test_it_reads_booleans_and_refuses_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    # given / when / then
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)


def test_it_reads_integers_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N", "12")
    assert env_int("N", 1) == 12
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 5, minimum=1)


def test_it_splits_lists_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert env_list("HOSTS", ["x"]) == ["x"]


SETTINGS = "import config.settings as s; print(s.DEBUG, s.CELERY_BROKER_URL)"


def _settings_in_subprocess(
    code: str = SETTINGS, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, *(("-c", code) if code else ()), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_it_refuses_to_start_without_a_secret_key_outside_debug() -> None:
    # when the web entry point starts with no key
    result = _settings_in_subprocess("import config.wsgi", DEBUG="false")
    # then
    assert result.returncode != 0
    assert "SECRET_KEY is required unless DEBUG=true" in result.stderr


def test_models_and_migrations_agree_without_any_environment() -> None:
    # when: no SECRET_KEY, no DEBUG (as a bare checkout or a CI step sees it)
    result = _settings_in_subprocess("", "manage.py", "makemigrations", "--check", "--dry-run")
    # then
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_it_defaults_to_a_serverless_broker_in_debug() -> None:
    result = _settings_in_subprocess(DEBUG="true")
    assert result.returncode == 0, result.stderr
    var = os.environ["VAR_DIR"]
    default = f"sqla+sqlite:///{var}/broker.sqlite3"
    assert result.stdout.split() == ["True", os.environ.get("CELERY_BROKER_URL", default)]


def test_check_deploy_is_clean_with_the_https_settings_from_the_environment() -> None:
    # given: what the README's Production section sets
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "production-looking-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "prefloop.example.org",
        "HTTPS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    # when
    result = _settings_in_subprocess(
        "", "manage.py", "check", "--deploy", "--fail-level", "WARNING", **env
    )
    # then
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_https_check_deploy_names_what_is_missing() -> None:
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "prefloop.example.org"}
    result = _settings_in_subprocess("", "manage.py", "check", "--deploy", **env)
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr


@pytest.mark.parametrize("raw", ["soon", "nan", "-1"])
def test_a_backoff_that_is_not_a_non_negative_number_is_refused(monkeypatch: Any, raw: str) -> None:
    monkeypatch.setenv("WEBHOOK_BACKOFF_SECONDS", raw)
    with pytest.raises(ImproperlyConfigured, match="WEBHOOK_BACKOFF_SECONDS"):
        env_float("WEBHOOK_BACKOFF_SECONDS", 10.0, minimum=0.0)


@pytest.mark.parametrize("prepared", ["true", "false"])
def test_a_postgres_urls_own_options_survive_prepared_statements(prepared: str) -> None:
    # given a PostgreSQL URL that asks for TLS
    code = "import django; django.setup(); from django.conf import settings;" + (
        " print(sorted(settings.DATABASES['default']['OPTIONS'].items()))"
    )
    url = "postgres://u:p@db.example/x?sslmode=require"
    # when the settings are read, with prepared statements on or off
    result = _settings_in_subprocess(
        code,
        DEBUG="true",
        DATABASE_URL=url,
        DATABASE_PREPARED=prepared,
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    # then TLS is still asked for, and binding follows the setting
    assert result.returncode == 0, result.stderr
    options = result.stdout.strip()
    assert "('sslmode', 'require')" in options
    assert ("server_side_binding" in options) == (prepared == "true")
