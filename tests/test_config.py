"""Configuration from HYMY_* variables fails loudly and is documented."""

import re
from pathlib import Path

import pytest

from server import config, create_app

ROOT = Path(__file__).resolve().parent.parent


def settings(**env):
    return config.from_environment("/tmp/hymy-instance", environ=env)


def test_defaults_are_sqlite_in_the_instance_folder_and_helsinki_time():
    s = settings()
    assert s["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/hymy-instance/hymy.sqlite3"
    assert s["HYMY_TIMEZONE"] == "Europe/Helsinki"
    assert s["HYMY_BASE_URL"] == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"HYMY_SECURE_COOKIES": "maybe"}, "HYMY_SECURE_COOKIES"),
        ({"HYMY_SESSION_HOURS": "twelve"}, "HYMY_SESSION_HOURS"),
        ({"HYMY_SESSION_HOURS": "0"}, "HYMY_SESSION_HOURS"),
        ({"HYMY_TIMEZONE": "Mars/Olympus"}, "HYMY_TIMEZONE"),
        ({"HYMY_TIMEZONE": "Asia/Kolkata"}, "HYMY_TIMEZONE"),
        ({"HYMY_BASE_URL": "hymy.example.fi"}, "HYMY_BASE_URL"),
        ({"HYMY_DEFAULT_LANG": "de"}, "HYMY_DEFAULT_LANG"),
        ({"HYMY_ENV": "prod"}, "HYMY_ENV"),
        ({"HYMY_SECRET_KEY": "a", "HYMY_SECRET_KEY_FILE": "/x"}, "HYMY_SECRET_KEY"),
        ({"HYMY_SECRET_KEY_FILE": "/nonexistent/secret"}, "HYMY_SECRET_KEY_FILE"),
    ],
)
def test_a_bad_value_names_the_variable(env, variable):
    with pytest.raises(config.ConfigError, match=variable):
        settings(**env)


def test_a_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-file\n")
    assert settings(HYMY_SECRET_KEY_FILE=str(secret))["SECRET_KEY"] == "s3cret-from-file"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("HYMY_SECRET_KEY", raising=False)
    monkeypatch.setenv("HYMY_ENV", "production")
    monkeypatch.setenv("HYMY_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    with pytest.raises(config.ConfigError, match="HYMY_SECRET_KEY"):
        create_app()


def test_cookies_are_secure_behind_https():
    assert settings(HYMY_BASE_URL="https://hymy.example.fi")["SESSION_COOKIE_SECURE"] is True
    assert settings()["SESSION_COOKIE_SECURE"] is False


def test_the_readme_lists_every_variable():
    variables = set(re.findall(r'"(HYMY_[A-Z_]+)"', (ROOT / "server" / "config.py").read_text()))
    variables -= {"HYMY_API_MAX_BODY"}
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in variables if f"`{v}`" not in readme and f"`{v} " not in readme)
    assert not missing, f"README lacks {missing}"
    assert "make run" in readme and "make test" in readme
