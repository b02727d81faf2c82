"""Settings read from HYMY_* environment variables, failing loudly on bad values."""

import os
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(RuntimeError):
    """A HYMY_* variable is missing or malformed."""


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name, default=None, environ=os.environ):
    """Return the variable, or the contents of NAME_FILE, or the default."""
    file_var = f"{name}_FILE"
    if environ.get(name) and environ.get(file_var):
        raise ConfigError(f"set {name} or {file_var}, not both")
    if environ.get(file_var):
        path = Path(environ[file_var])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
    value = environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name, default, environ=os.environ):
    """Parse a boolean strictly: 1/0, true/false, yes/no, on/off."""
    value = environ.get(name)
    if value in (None, ""):
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be one of true/false, yes/no, on/off, 1/0; got {value!r}")


def env_int(name, default, minimum=None, maximum=None, environ=os.environ):
    """Parse a whole number strictly, within optional bounds."""
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name} must be at most {maximum}; got {number}")
    return number


def env_timezone(name, default, environ=os.environ):
    """Parse an IANA time zone name such as Europe/Helsinki."""
    value = environ.get(name) or default
    try:
        zone = ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Helsinki; got {value!r}") from None
    # Figures are counted per UTC hour in the database and then placed in local days and hours:
    # exact only where the zone is a whole number of hours from UTC, all year round.
    year = datetime.now().year
    for month in (1, 4, 7, 10):
        if datetime(year, month, 1, tzinfo=zone).utcoffset().total_seconds() % 3600:
            raise ConfigError(f"{name} must be a zone a whole number of hours from UTC; {value!r} is not")
    return value


def from_environment(instance_path, environ=os.environ):
    """Build the configuration mapping from HYMY_* variables."""
    env = env_str("HYMY_ENV", "production", environ)
    if env not in ("production", "development", "testing"):
        raise ConfigError(f"HYMY_ENV must be production, development or testing; got {env!r}")
    default_db = "sqlite:///" + str(Path(instance_path) / "hymy.sqlite3")
    base_url = env_str("HYMY_BASE_URL", "http://127.0.0.1:8080", environ).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"HYMY_BASE_URL must start with http:// or https://; got {base_url!r}")
    return {
        "HYMY_ENV": env,
        "SECRET_KEY": env_str("HYMY_SECRET_KEY", None, environ),
        "SQLALCHEMY_DATABASE_URI": env_str("HYMY_DATABASE_URL", default_db, environ),
        "HYMY_BASE_URL": base_url,
        "HYMY_TIMEZONE": env_timezone("HYMY_TIMEZONE", "Europe/Helsinki", environ),
        "HYMY_DEFAULT_LANG": _lang(env_str("HYMY_DEFAULT_LANG", "fi", environ)),
        "HYMY_SQLITE_BUSY_TIMEOUT_MS": env_int("HYMY_SQLITE_BUSY_TIMEOUT_MS", 10000, 0, 600000, environ),
        "HYMY_ANON_RATE_PER_MINUTE": env_int("HYMY_ANON_RATE_PER_MINUTE", 30, 1, 100000, environ),
        "HYMY_SESSION_HOURS": env_int("HYMY_SESSION_HOURS", 12, 1, 24 * 30, environ),
        "HYMY_LOGIN_MAX_FAILURES": env_int("HYMY_LOGIN_MAX_FAILURES", 5, 1, 1000, environ),
        "HYMY_LOGIN_LOCK_MINUTES": env_int("HYMY_LOGIN_LOCK_MINUTES", 15, 1, 24 * 60, environ),
        "HYMY_KIOSK_RESET_SECONDS": env_int("HYMY_KIOSK_RESET_SECONDS", 4, 1, 120, environ),
        "HYMY_KIOSK_IDLE_SECONDS": env_int("HYMY_KIOSK_IDLE_SECONDS", 30, 5, 600, environ),
        "HYMY_RETENTION_DAYS": env_int("HYMY_RETENTION_DAYS", 0, 0, 100 * 365, environ),
        "HYMY_STAFF_RETENTION_DAYS": env_int("HYMY_STAFF_RETENTION_DAYS", 0, 0, 100 * 365, environ),
        "HYMY_REQUEST_LOG": env_bool("HYMY_REQUEST_LOG", True, environ),
        "HYMY_KIOSK_SILENT_MINUTES": env_int("HYMY_KIOSK_SILENT_MINUTES", 15, 2, 7 * 24 * 60, environ),
        "HYMY_KIOSK_QUEUE_MINUTES": env_int("HYMY_KIOSK_QUEUE_MINUTES", 30, 1, 7 * 24 * 60, environ),
        "HYMY_PHONE_REPEAT_HOURS": env_int("HYMY_PHONE_REPEAT_HOURS", 12, 0, 24 * 30, environ),
        "HYMY_PROXY_HOPS": env_int("HYMY_PROXY_HOPS", 0, 0, 10, environ),
        "SESSION_COOKIE_SECURE": env_bool("HYMY_SECURE_COOKIES", base_url.startswith("https://"), environ),
        "HYMY_ACCESSIBILITY_CONTACT": env_str("HYMY_ACCESSIBILITY_CONTACT", "", environ),
        "HYMY_CONTROLLER_NAME": env_str("HYMY_CONTROLLER_NAME", "", environ),
        "HYMY_PRIVACY_CONTACT": env_str("HYMY_PRIVACY_CONTACT", "", environ),
        "HYMY_ALERT_WEBHOOK_URL": env_str("HYMY_ALERT_WEBHOOK_URL", "", environ),
        **smtp_settings(environ),
    }


SMTP_SECURITY_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def smtp_settings(environ=os.environ):
    """Read the optional SMTP server for e-mail; without HYMY_SMTP_HOST, Hymy sends no e-mail."""
    host = env_str("HYMY_SMTP_HOST", "", environ)
    security = env_str("HYMY_SMTP_SECURITY", "starttls", environ).strip().lower()
    if security not in SMTP_SECURITY_PORTS:
        raise ConfigError(f"HYMY_SMTP_SECURITY must be starttls, tls or none; got {security!r}")
    user = env_str("HYMY_SMTP_USER", "", environ)
    password = env_str("HYMY_SMTP_PASSWORD", "", environ)
    if bool(user) != bool(password):
        raise ConfigError("set both HYMY_SMTP_USER and HYMY_SMTP_PASSWORD, or neither")
    sender = env_str("HYMY_MAIL_FROM", "", environ)
    if sender and "@" not in parseaddr(sender)[1]:
        raise ConfigError(f"HYMY_MAIL_FROM must be an e-mail address such as Hymy <hymy@example.fi>; got {sender!r}")
    if host and not sender:
        raise ConfigError("HYMY_SMTP_HOST is set: set HYMY_MAIL_FROM too, the address e-mail is sent from")
    return {
        "HYMY_SMTP_HOST": host,
        "HYMY_SMTP_PORT": env_int("HYMY_SMTP_PORT", SMTP_SECURITY_PORTS[security], 1, 65535, environ),
        "HYMY_SMTP_SECURITY": security,
        "HYMY_SMTP_USER": user,
        "HYMY_SMTP_PASSWORD": password,
        "HYMY_MAIL_FROM": sender,
    }


def _lang(value):
    if value not in ("fi", "sv", "en"):
        raise ConfigError(f"HYMY_DEFAULT_LANG must be fi, sv or en; got {value!r}")
    return value
