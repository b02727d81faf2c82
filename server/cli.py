"""The `hymy` command: thin commands over tested functions."""

import gc
import json
import os
import sys

import click
import waitress
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import create_app, interchange, ops, org, reports
from .demo import seed_demo
from .models import ROLES, SCALE_NAMES, Unit, db


def with_progress(items, length, label, weight=None):
    """Pass items through, drawing a progress bar on stderr when a person watches a terminal."""
    if not sys.stderr.isatty() or not length:
        return items  # as they are: a generator around them would cost every item its step
    return _drawing_progress(items, length, label, weight)


def _drawing_progress(items, length, label, weight):
    global _drawn
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        _drawn = bar
        try:
            for item in items:
                bar.update(weight(item) if weight else 1)
                yield item
        finally:
            _drawn = None


_drawn = None  # the bar being drawn


def _leave_bar_to_child():
    """After a fork, the child goes on with the bar (an import's read-ahead): the parent draws none of it, not its end."""
    if _drawn is not None:
        _drawn.hidden = True


os.register_at_fork(after_in_parent=_leave_bar_to_child)


def fail(message):
    """Stop with the message on stderr and exit status 1."""
    raise click.ClickException(message)


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False, load_dotenv=False)
def main():
    """Hymy: quick feedback for public social and health care units."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@with_appcontext
def serve(host, port, threads):
    """Serve Hymy with waitress."""
    base = current_app.config["HYMY_BASE_URL"]
    click.echo(f"Hymy serving on http://{host}:{port} (links and QR codes use {base})")
    # What start-up made lives as long as the server: the cyclic collector need not walk it again
    # at each full collection (about 100,000 objects, 60 ms a walk on a slow machine).
    gc.collect()
    gc.freeze()
    ops.quiet_queue_warnings()
    waitress.serve(current_app._get_current_object(), host=host, port=port, threads=threads, ident="hymy")


@main.command("demo")
@with_appcontext
def demo():
    """Seed a demo organisation (idempotent)."""
    created = seed_demo()
    click.echo("Demo organisation created." if created else "Demo organisation exists already.")


@main.group()
def units():
    """Create and list units."""


@units.command("add")
@click.argument("name")
@click.option("--area", help="The area's name or code; created when it does not exist.")
@click.option("--scale", type=click.Choice(SCALE_NAMES), default="smiley5", show_default=True)
@click.option("--lang", type=click.Choice(["fi", "sv", "en"]), default="fi", show_default=True)
@with_appcontext
def units_add(name, area, scale, lang):
    """Add a unit; print its code."""
    try:
        unit = org.create_unit(name, area=area, scale=scale, lang=lang)
    except org.OrgError as exc:
        fail(str(exc))
    click.echo(unit.code)


@units.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def units_list(as_json):
    """List every unit."""
    rows = db.session.execute(db.select(Unit).order_by(Unit.id)).scalars().all()
    if as_json:
        click.echo(json.dumps([u.as_json() for u in rows], ensure_ascii=False, indent=2))
        return
    for u in rows:
        click.echo(f"{u.code}\t{u.scale}\t{u.area.name if u.area else '-'}\t{u.names.get(u.default_lang) or u.name}")


@main.group()
def devices():
    """Enrol kiosk tablets."""


@devices.command("add")
@click.argument("unit_code")
@click.option("--name", default="", help="A name for the tablet, such as 'Reception'.")
@with_appcontext
def devices_add(unit_code, name):
    """Create a one-time enrolment link (valid 24 h); print it."""
    try:
        unit = org.find_unit(unit_code)
    except org.OrgError as exc:
        fail(str(exc))
    _device, link = org.add_device(unit, name)
    click.echo(link)


@main.group()
def users():
    """Manage people who sign in."""


def read_password():
    """Read the password: prompted without echo on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return sys.stdin.readline().rstrip("\r\n")


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--scope", multiple=True, help="A unit code, or an area's code or name. Repeatable.")
@click.option("--name", default="")
@with_appcontext
def users_add(email, role, scope, name):
    """Add a user; the password is read from standard input."""
    try:
        user = org.add_user(email, role, read_password(), name=name, scope=scope)
    except org.OrgError as exc:
        fail(str(exc))
    click.echo(user.email)


@main.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(path):
    """Import an interchange CSV; print how many rows were skipped as stored already, then how many were stored."""
    # newline="" keeps line breaks inside quoted comments exactly as written (RFC 4180).
    size = os.path.getsize(path)
    with open(path, encoding="utf-8-sig", newline="") as file:
        try:
            imported = interchange.import_csv(with_progress(file, size, "Importing", len),
                                                read_ahead=size >= interchange.READ_AHEAD_BYTES)
        except interchange.ImportError_ as exc:
            fail(f"{path}: {exc}; nothing was stored")
        except UnicodeDecodeError:
            fail(f"{path}: the file is not UTF-8 text; nothing was stored")
    if imported.duplicates:
        click.echo(f"{imported.duplicates} rows were stored already and were skipped")
    click.echo(imported.stored)


@main.command("export")
@click.argument("kind", type=click.Choice(["responses", "tally"]))
@click.option("--unit", "unit_code", help="A unit code.")
@click.option("--area", help="An area's name or code.")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First local day, inclusive.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last local day, inclusive.")
@click.option("--bucket", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export(kind, unit_code, area, first, last, bucket, fmt, output):
    """Export answers (interchange CSV) or tallies."""
    tz = current_app.config["HYMY_TIMEZONE"]
    try:
        selected = reports.select_units(unit_code, area)
        first_day, last_day = reports.parse_days(first, last, "--from", "--to")
    except reports.SelectionError as exc:
        fail(str(exc))
    if fmt == "xlsx" and not output:
        fail("--format xlsx needs -o FILE")
    header, rows = interchange.export_table(kind, selected, bucket, first_day, last_day, tz)
    if kind == "responses" and output and sys.stderr.isatty():  # the count costs a pass over the answers
        rows = with_progress(rows, reports.count_answers(selected, first_day, last_day, tz), "Exporting")
    interchange.write_file(header, rows, output or sys.stdout, fmt)


COMMANDS = (serve, demo, units, devices, users, import_command, export)


def init_app(app):
    """Register the commands on app.cli too, so `flask` and app.test_cli_runner() see them."""
    for command in COMMANDS:
        app.cli.add_command(command)

