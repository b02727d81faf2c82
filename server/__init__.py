"""Hymy: quick feedback for public social and health care units."""

import secrets
from datetime import timedelta
from pathlib import Path
from types import FunctionType

import flask_babel
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, get_locale
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config, memo, sqlite  # noqa: F401  (sqlite registers engine events)
from .models import LANGS, db

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()


def _resource_dir(name):
    """Find templates/ or kiosk/: inside the installed package, else beside it in a checkout."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"Hymy cannot find its {name}/ folder; reinstall the package")


def select_locale():
    """Pick the language: ?lang=, the signed-in person's choice, the page's default, the browser's."""
    if not has_request_context():
        return current_app.config["HYMY_DEFAULT_LANG"]
    lang = request.args.get("lang")
    if lang in LANGS:
        return lang
    if session.get("lang") in LANGS:
        return session["lang"]
    if g.get("page_default_lang") in LANGS:
        return g.page_default_lang
    return request.accept_languages.best_match(LANGS) or current_app.config["HYMY_DEFAULT_LANG"]


def prepare_language():
    """Let each page pick its own language, and keep one chosen on a staff page for the session.

    Refreshed even when requests share an app context (tests). The JSON API answers in English
    and picks no language; client pages never remember one.
    """
    blueprint = request.blueprint
    if blueprint == "api":
        return
    flask_babel.refresh()
    lang = request.args.get("lang")
    if lang in LANGS and blueprint in ("manage", "staff", "admin", "auth", "insight", "settings", "public"):
        session["lang"] = lang


class Hymy(Flask):
    """Flask, remembering which of its hooks and views are coroutines.

    Flask asks inspect of every hook and view on every request (nine times an answer), and the
    answer never changes for a function.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synchronous = {}

    def ensure_sync(self, func):
        if type(func) is not FunctionType:
            # A bound method may be one of a view object made for each request: not remembered.
            return super().ensure_sync(func)
        try:
            return self._synchronous[func]
        except KeyError:
            made = self._synchronous[func] = super().ensure_sync(func)
            return made


def create_app(test_config=None):
    """Create and configure the Hymy application."""
    app = Hymy(
        __name__,
        instance_relative_config=True,
        template_folder=str(_resource_dir("templates")),
        static_folder=str(_resource_dir("kiosk")),
        static_url_path="/static",
    )
    app.config.from_mapping(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_TRANSLATION_DIRECTORIES=str(PACKAGE_DIR / "translations"),
        BABEL_DEFAULT_LOCALE="fi",
        JSON_SORT_KEYS=False,
        # Forms and API bodies are small; anything larger is refused before it is read.
        MAX_CONTENT_LENGTH=1024 * 1024,
        HYMY_API_MAX_BODY=16 * 1024,
    )
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config is not None:
        app.config.from_mapping(test_config)
    _check_secret_key(app)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["HYMY_SESSION_HOURS"])
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["HYMY_TIMEZONE"]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///" + app.instance_path):
        # The default database lives in the instance folder; a deployment that names its own
        # database (or runs read-only, as under systemd's ProtectSystem) never needs the folder.
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["HYMY_PROXY_HOPS"]:
        hops = app.config["HYMY_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A database server may restart under a long-lived pool; a SQLite file cannot go away.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}).setdefault("pool_pre_ping", True)
    db.init_app(app)
    memo.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"), render_as_batch=True)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(prepare_language)
    csrf.init_app(app)
    login_manager.init_app(app)

    from . import (
        admin,
        api,
        auth,
        cli,
        errors,
        health,
        insight_init,
        kiosk,
        manage,
        ops,
        public,
        security,
        staff,
        unit_settings,
    )

    auth.init_login(login_manager)
    app.session_interface = auth.SessionInterface()
    app.register_blueprint(health.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(unit_settings.bp)
    app.register_blueprint(public.bp)
    errors.init_app(app)
    security.init_app(app)
    insight_init.init_app(app)
    ops.init_app(app)
    cli.init_app(app)

    @app.context_processor
    def inject_globals():
        return {"current_lang": str(get_locale()), "langs": LANGS, "hymy_version": __version__, "can": auth.can}

    return app


def _check_secret_key(app):
    if app.config.get("SECRET_KEY"):
        return
    if app.config["HYMY_ENV"] in ("development", "testing") or app.testing:
        # A random key kept in the instance folder, so that sign-ins survive a restart.
        key_file = Path(app.instance_path) / "dev-secret-key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            key_file.chmod(0o600)
        app.config["SECRET_KEY"] = key_file.read_text(encoding="utf-8").strip()
        return
    raise config.ConfigError(
        "HYMY_SECRET_KEY (or HYMY_SECRET_KEY_FILE) must be set outside development; "
        "for a local try-out set HYMY_ENV=development"
    )
