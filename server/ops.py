"""Operations: retention (`hymy purge`), online backups (`hymy backup`) and request logs without personal data."""

import json
import logging
import sqlite3
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app, g, request
from flask.cli import with_appcontext
from sqlalchemy import delete

from .insight_models import DigestSent
from .models import DeviceContact, Response, db, utcnow

request_log = logging.getLogger("hymy.requests")


class Occasionally(logging.Filter):
    """Let a logger's records through at most once in so many seconds.

    For waitress's "Task queue depth is N": it is logged at every request that has to wait, so
    a busy minute would write thousands of lines, and the server spent more time making them
    than on some of its answers. One a minute still tells an operator the server is saturated.
    Between two, the logger is disabled, so that a call to it returns before making a record.
    """

    def __init__(self, logger, seconds=60.0):
        super().__init__()
        self.logger, self.seconds = logger, seconds

    def filter(self, record):
        self.logger.disabled = True
        wake = threading.Timer(self.seconds, setattr, (self.logger, "disabled", False))
        wake.daemon = True
        wake.start()
        return True


def quiet_queue_warnings(seconds=60.0):
    """Log waitress's queue depth at most once in `seconds` (see Occasionally)."""
    queue_log = logging.getLogger("waitress.queue")
    if not any(isinstance(f, Occasionally) for f in queue_log.filters):
        queue_log.addFilter(Occasionally(queue_log, seconds))


class OpsError(RuntimeError):
    """A backup or purge cannot be carried out; the message says why."""


def purge(older_than_days, staff_older_than_days=None, now=None):
    """Delete answers older than the given days (staff-logged ones by their own limit), and kiosk contact hours
    and the record of digests sent by the answers' limit; return counts."""
    if older_than_days < 1:
        raise OpsError("--older-than must be at least 1 day")
    now = now or utcnow()
    cutoff = now - timedelta(days=older_than_days)
    staff_cutoff = now - timedelta(days=staff_older_than_days) if staff_older_than_days else cutoff
    clients = db.session.execute(
        delete(Response).where(Response.user_id.is_(None), Response.answered_at < cutoff)
    ).rowcount
    staff = db.session.execute(
        delete(Response).where(Response.user_id.is_not(None), Response.answered_at < staff_cutoff)
    ).rowcount
    contacts = db.session.execute(delete(DeviceContact).where(DeviceContact.hour < cutoff)).rowcount
    digests = db.session.execute(delete(DigestSent).where(DigestSent.sent_at < cutoff)).rowcount
    db.session.commit()
    return {"client_answers": clients, "staff_logged": staff, "kiosk_contact_hours": contacts, "digests_sent": digests}


def backup(target):
    """Copy a SQLite database with the online backup API, check the copy's integrity; return its path."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        raise OpsError(
            "hymy backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. "
            "pg_dump --format=custom --file=hymy.dump \"$DATABASE\" (see the README)"
        )
    target = Path(target)
    if target.exists():
        raise OpsError(f"{target} exists already; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(engine.url.database)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy, pages=1024)
        result = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if result != "ok":
        target.unlink(missing_ok=True)
        raise OpsError(f"the copy failed its integrity check: {result}")
    return target


@click.command("purge")
@click.option("--older-than", "days", type=int, required=False, help="Delete answers older than DAYS.")
@click.option("--staff-older-than", "staff_days", type=int, help="Own limit for staff-logged entries, which name staff.")
@with_appcontext
def purge_command(days, staff_days):
    """Delete old answers (retention); defaults come from HYMY_RETENTION_DAYS and HYMY_STAFF_RETENTION_DAYS."""
    days = days or current_app.config["HYMY_RETENTION_DAYS"]
    staff_days = staff_days or current_app.config["HYMY_STAFF_RETENTION_DAYS"]
    if not days:
        raise click.ClickException("give --older-than DAYS or set HYMY_RETENTION_DAYS")
    try:
        counts = purge(days, staff_days)
    except OpsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted {counts['client_answers']} client answers and {counts['staff_logged']} staff-logged entries"
               f" (and {counts['kiosk_contact_hours']} kiosk contact hours, {counts['digests_sent']} records of digests"
               " sent)")
    click.echo(counts["client_answers"] + counts["staff_logged"])


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(path):
    """Back up the SQLite database online to PATH and check the copy."""
    try:
        target = backup(path)
    except OpsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written and integrity-checked: {target}")
    click.echo(str(target))


def init_app(app):
    app.cli.add_command(purge_command)
    app.cli.add_command(backup_command)
    if not app.config["HYMY_REQUEST_LOG"]:
        return  # and no request hooks: every request would pay for them
    if not app.testing and not request_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        # Method, route, status and time only: no address, no user agent, no query string.
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(json.dumps({
                "method": request.method,
                "route": request.url_rule.rule if request.url_rule else None,
                "status": response.status_code,
                "ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
            }))
        return response
