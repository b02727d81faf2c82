"""Fixtures: app, client, runner, personas, builders, a live server and a real browser.

Set HYMY_TEST_DATABASE_URL (e.g. postgresql+psycopg://user@/hymy_test) to run every test
against that database instead of a fresh SQLite file per test.
"""

import os
import shutil
import sys
import threading
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import MetaData, text

from server import create_app, org, rollup
from server.models import db

PASSWORD = "correct horse battery"
TEST_DB_URL = os.environ.get("HYMY_TEST_DATABASE_URL")
CHROMIUM = os.environ.get("HYMY_TEST_CHROMIUM", "/usr/bin/chromium")
HYMY = str(Path(sys.executable).parent / "hymy")  # the installed command, for tests that run it as a process


def command_env(app):
    """The environment of a `hymy` process that works on the test app's database."""
    return {**os.environ, "HYMY_ENV": "testing", "HYMY_SECRET_KEY": "test-secret",
            "HYMY_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "HYMY_BASE_URL": "http://hymy.test"}


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an app context of its own, as under a real server.

    The app fixture keeps one app context open, which requests would otherwise share (and with
    it flask.g, where Flask-Login keeps the signed-in user): two clients would see one user.
    """

    def open(self, *args, **kwargs):
        # Buffered: a streamed download is read and closed before its app context ends.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _config(db_url):
    return {
        "TESTING": True,
        "HYMY_ENV": "testing",
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "HYMY_BASE_URL": "http://hymy.test",
        "WTF_CSRF_ENABLED": False,
        # Tests post many phone answers from one client; the repeat filter has tests of its own.
        "HYMY_PHONE_REPEAT_HOURS": 0,
        # No e-mail from a developer's environment: tests/test_mail.py brings its own SMTP server.
        "HYMY_SMTP_HOST": "",
    }


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Run the migrations once: into a template SQLite file, or into the test PostgreSQL."""
    if TEST_DB_URL:
        app = create_app(_config(TEST_DB_URL))
        with app.app_context():
            existing = MetaData()
            existing.reflect(bind=db.engine)
            existing.drop_all(bind=db.engine)
            upgrade()
            db.engine.dispose()
        return None
    path = tmp_path_factory.mktemp("template") / "hymy.sqlite3"
    app = create_app(_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def app(migrated_template, tmp_path):
    """A Hymy app on a freshly migrated, empty database."""
    if TEST_DB_URL:
        url = TEST_DB_URL
    else:
        path = tmp_path / "hymy.sqlite3"
        shutil.copy(migrated_template, path)
        url = f"sqlite:///{path}"
    app = create_app(_config(url))
    app.test_client_class = IsolatedClient
    with app.app_context():
        if TEST_DB_URL:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                # The weekly rollup's zone, as the migration leaves it.
                rollup.rebuild(conn, app.config["HYMY_TIMEZONE"])
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_unit(app):
    """Build a unit: make_unit(name="Reception", area="North", scale="smiley5")."""

    def build(name="Terveysasema", area=None, scale="smiley5", **fields):
        unit = org.create_unit(name, area=area, scale=scale)
        for key, value in fields.items():
            setattr(unit, key, value)
        db.session.commit()
        return unit

    return build


@pytest.fixture
def make_user(app):
    def build(role, scope=(), email=None):
        return org.add_user(email or f"{role}-{uuid.uuid4().hex[:6]}@example.org", role, PASSWORD, scope=scope)

    return build


@pytest.fixture
def login_as(client, make_user):
    """Sign the test client in as a new user of the role, with the given scope."""

    def sign_in(role, scope=()):
        user = make_user(role, scope)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, "sign-in failed"
        return user

    return sign_in


def new_id():
    return str(uuid.uuid4())


@pytest.fixture
def live_server(app):
    """Serve the app with waitress on a free local port; yield its base URL."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="hymy-test")
    port = server.effective_port
    def serve():
        try:
            server.run()
        except OSError:
            pass  # the socket was closed under the loop at teardown: the server is done

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


@pytest.fixture
def tablet(browser, live_server):
    """A tablet-sized browser page in a fresh context."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True, locale="fi-FI")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, locale="fi-FI")
    page = context.new_page()
    yield page
    context.close()


