"""Alerts: a burst of negative answers, or a kiosk silent for opening hours, raises an alert to acknowledge."""

import json
import logging
import threading
import urllib.request
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
from flask import current_app, render_template
from flask.cli import AppGroup
from flask_babel import force_locale, format_datetime, ngettext
from flask_babel import gettext as _
from sqlalchemy import func

from . import mail, memo, prepared, stats
from .insight_models import Alert, AlertRule
from .models import Device, Response, Unit, db, utcnow

logger = logging.getLogger(__name__)

# HappyOrNot's default: at least 50 % negative answers within 15 minutes, over at least 4 answers.
DEFAULT_RULE = {"kind": "negative_share", "window_minutes": 15, "min_answers": 4, "threshold_pct": 50}
# Opening hours in HYMY_TIMEZONE; days are weekdays, Monday 0.
DEFAULT_OPENING = {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "16:00"}
DEFAULT_SILENT_RULE = {"kind": "kiosk_silent", "hours": 2, "opening": DEFAULT_OPENING}
DEFAULT_RULES = (DEFAULT_RULE, DEFAULT_SILENT_RULE)
WEBHOOK_TIMEOUT_S = 5


def rule_fires(answers, negative, min_answers, threshold_pct):
    """Tell whether negative of answers reaches the threshold; never on fewer than min_answers."""
    return answers >= min_answers and negative * 100 >= threshold_pct * answers


def rules_by_unit(units, kind):
    """Return {unit id: the units' rule of the kind}, active or not, making missing default rules."""
    ids = [unit.id for unit in units]
    rules = {rule.unit_id: rule for rule in db.session.execute(
        db.select(AlertRule).where(AlertRule.unit_id.in_(ids), AlertRule.kind == kind).order_by(AlertRule.id.desc())
    ).scalars()}
    default = next(rule for rule in DEFAULT_RULES if rule["kind"] == kind)
    missing = [AlertRule(unit_id=unit_id, **default) for unit_id in ids if unit_id not in rules]
    if missing:
        db.session.add_all(missing)
        db.session.flush()
        rules.update((rule.unit_id, rule) for rule in missing)
    return rules


def check_unit(unit_id, now=None):
    """Evaluate the unit's negative-share rule over the answers just before now; store and return new alerts.

    This runs after every negative answer, so it reads as little as it can: the rule, then one count.
    """
    now = now or utcnow()
    rule = _negative_share_rule(unit_id)
    if not rule.active:
        return []
    start = now - timedelta(minutes=rule.window_minutes)
    answers, negative, latest = _window_counts(unit_id, start, now)
    if not rule_fires(answers, negative, rule.min_answers, rule.threshold_pct):
        return []
    # While the rule keeps firing, its alert is there already: most checks end here, having written nothing.
    if _alert_covering(rule, start, latest) is not None:
        return []
    # Two negative answers at once both see the rule fire and no alert: a no-op write to the rule
    # takes its lock (a row lock on PostgreSQL, the write lock on SQLite) until the commit, so the
    # second sees the first one's alert below instead of raising its own.
    db.session.connection().execute(LOCK_RULE, {"rule_id": rule.id})
    if _alert_covering(rule, start, latest) is not None:
        db.session.rollback()
        return []  # one burst, one alert: answers that keep coming extend nothing new
    alert = Alert(rule_id=rule.id, unit_id=unit_id, window_start=start, window_end=now,
                  answers=answers, negative=negative)
    db.session.add(alert)
    db.session.commit()
    deliver([alert])
    return [alert]


def _negative_share_rule(unit_id):
    """Return the figures of the unit's negative-share rule (its first, as in rules_by_unit).

    They are remembered for a few seconds (server/memo.py). A unit without a rule gets the default stored.
    """
    rule = memo.of_app().alert_rules.get(unit_id, _load_negative_share_rule)
    if rule is None:
        rule = AlertRule(unit_id=unit_id, **DEFAULT_RULE)
        db.session.add(rule)
        db.session.commit()
    return rule


def _load_negative_share_rule(unit_id):
    return db.session.connection().execute(NEGATIVE_SHARE_RULE, {"unit_id": unit_id}).first()


_RESPONSES = Response.__table__.c
WINDOW_COUNTS = (
    db.select(_RESPONSES.scale, _RESPONSES.score, func.count(), func.max(_RESPONSES.answered_at))
    .where(_RESPONSES.unit_id == db.bindparam("unit_id"), _RESPONSES.score.is_not(None), _RESPONSES.flags == "",
           _RESPONSES.answered_at >= db.bindparam("start"), _RESPONSES.answered_at <= db.bindparam("end"))
    .group_by(_RESPONSES.scale, _RESPONSES.score)
)
PREPARED_WINDOW_COUNTS = prepared.Prepared(WINDOW_COUNTS)
_RULES = AlertRule.__table__.c
# The rule's figures as a plain row: an ORM object costs more to load than the count it drives.
NEGATIVE_SHARE_RULE = (
    db.select(_RULES.id, _RULES.active, _RULES.window_minutes, _RULES.min_answers, _RULES.threshold_pct)
    .where(_RULES.unit_id == db.bindparam("unit_id"), _RULES.kind == "negative_share")
    .order_by(_RULES.id).limit(1)
)
memo.watch("alert_rule")  # rules are remembered (_negative_share_rule)
LOCK_RULE = db.update(AlertRule.__table__).where(_RULES.id == db.bindparam("rule_id")).values(id=_RULES.id)


def _window_counts(unit_id, start, end):
    """Return (answers, negative answers, the latest answer's time) of the unit in the window."""
    values = {"unit_id": unit_id, "start": start, "end": end}
    engine = db.engine
    if prepared.session_idle(db.session):
        # After an answer's own commit, as most checks run: no session to begin (server/prepared.py).
        rows = PREPARED_WINDOW_COUNTS.rows(engine, values)
    else:
        rows = db.session.connection().execute(WINDOW_COUNTS, values).all()
    answers = sum(row[2] for row in rows)
    negative = sum(row[2] for row in rows if stats.SCALES[row[0]].polarity(row[1]) == "negative")
    latest = max((aware_utc(row[3]) for row in rows), default=None)
    return answers, negative, latest


def aware_utc(moment):
    """Return a database aggregate's datetime as aware UTC (max() bypasses the column type on SQLite)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _alert_covering(rule, start, latest):
    """Return an alert that covers these answers already: open over the window, or raised after the last of them."""
    return db.session.execute(
        db.select(Alert).where(
            Alert.rule_id == rule.id,
            db.or_(db.and_(Alert.acknowledged_at.is_(None), Alert.window_end >= start), Alert.window_end >= latest),
        )
    ).scalars().first()


def parse_clock(text):
    """Read a wall-clock time written as HH:MM."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def opening_intervals(start, end, opening, tz_name):
    """Return the UTC [open, close) intervals of the opening hours between two UTC moments.

    Opening times are wall-clock times in tz_name: on the days clocks change, an opening day is an
    hour longer or shorter in UTC.
    """
    zone = ZoneInfo(tz_name)
    opens, closes = parse_clock(opening["start"]), parse_clock(opening["end"])
    intervals = []
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        if day.weekday() in opening["days"]:
            open_at = max(datetime.combine(day, opens, zone).astimezone(UTC), start)
            close_at = min(datetime.combine(day, closes, zone).astimezone(UTC), end)
            if open_at < close_at:
                intervals.append((open_at, close_at))
        day += timedelta(days=1)
    return intervals


def opening_hours_between(start, end, opening, tz_name):
    """Count the opening hours between two UTC moments."""
    intervals = opening_intervals(start, end, opening, tz_name)
    return sum((close - open_).total_seconds() for open_, close in intervals) / 3600


def silent_kiosks(unit, now=None):
    """Return [(device, its last answer or enrolment, whether the rule's opening hours have passed since)]."""
    now = now or utcnow()
    rule = rules_by_unit([unit], "kiosk_silent")[unit.id]
    tz_name = current_app.config["HYMY_TIMEZONE"]
    return [(device, since, _silent_since(rule, since, now, tz_name))
            for device, since, _latest in _last_answers([unit])]


def _silent_since(rule, start, now, tz_name):
    hours = opening_hours_between(start, now, rule.opening or DEFAULT_OPENING, tz_name)
    return hours >= (rule.hours or DEFAULT_SILENT_RULE["hours"])


def _last_answers(units):
    """Return [(device, its last answer or enrolment, its latest silence alert)] for the enrolled kiosks of the units.

    Three queries, however many units and kiosks: the pages that call this stay cheap.
    """
    devices = list(db.session.execute(
        db.select(Device).where(Device.unit_id.in_([unit.id for unit in units]), Device.token_hash.is_not(None),
                                Device.revoked_at.is_(None)).order_by(Device.id)
    ).scalars())
    if not devices:
        return []
    ids = [device.id for device in devices]
    last_answers = dict(db.session.execute(
        db.select(Response.device_id, func.max(Response.answered_at))
        .where(Response.device_id.in_(ids)).group_by(Response.device_id)
    ).all())
    latest_alerts = {alert.device_id: alert for alert in db.session.execute(
        db.select(Alert).where(Alert.id.in_(
            db.select(func.max(Alert.id)).where(Alert.device_id.in_(ids)).group_by(Alert.device_id)))
    ).scalars()}
    return [(device, aware_utc(last_answers.get(device.id)) or device.enrolled_at or device.created_at,
             latest_alerts.get(device.id)) for device in devices]


def check_silent(units, now=None):
    """Raise one alert per enrolled kiosk of the units silent for the rule's opening hours; return new alerts."""
    now = now or utcnow()
    tz_name = current_app.config["HYMY_TIMEZONE"]
    ids = [unit.id for unit in units]
    rules = {unit_id: rule for unit_id, rule in rules_by_unit(units, "kiosk_silent").items() if rule.active}
    raised = []
    for device, since, latest in _last_answers([unit for unit in units if unit.id in rules]):
        counted_from = since
        if latest is not None and since <= latest.window_start:  # the same silence as the latest alert
            if latest.acknowledged_at is None:
                continue
            counted_from = max(since, latest.acknowledged_at)  # acknowledged, the silence counts anew
        if _silent_since(rules[device.unit_id], counted_from, now, tz_name):
            alert = Alert(rule_id=rules[device.unit_id].id, unit_id=device.unit_id, device_id=device.id,
                          window_start=since, window_end=now, answers=0, negative=0, fired_at=now)
            db.session.add(alert)
            raised.append(alert)
    db.session.commit()
    # The commit expired the units: load them again in one query, not one per unit at its next use.
    db.session.execute(db.select(Unit).where(Unit.id.in_(ids))).all()
    deliver(raised)
    return raised


def check_all(now=None):
    """Evaluate every unit's rules; return the alerts raised."""
    now = now or utcnow()
    units = list(db.session.execute(db.select(Unit).order_by(Unit.id)).scalars())
    raised = []
    for unit in units:
        raised += check_unit(unit.id, now)
    return raised + check_silent(units, now)


def alert_text(alert, lang=None):
    """Say in one sentence, in the language (by default the deployment's), what the alert saw."""
    with force_locale(lang or current_app.config["HYMY_DEFAULT_LANG"]):
        if alert.rule.kind == "kiosk_silent":
            return _("%(tablet)s at %(unit)s: no answers since %(time)s.", tablet=alert.device_label,
                     unit=alert.unit.name, time=format_datetime(alert.window_start, "short"))
        return ngettext("%(unit)s: %(num)d of %(answers)d answers was negative within %(minutes)d minutes.",
                        "%(unit)s: %(num)d of %(answers)d answers were negative within %(minutes)d minutes.",
                        alert.negative, unit=alert.unit.name, answers=alert.answers,
                        minutes=alert.rule.window_minutes)


def deliver(alerts):
    """Send each alert to HYMY_ALERT_WEBHOOK_URL and by e-mail to the unit's managers, where set up, in the
    background; return the threads."""
    url = current_app.config.get("HYMY_ALERT_WEBHOOK_URL")
    threads = []
    for alert in alerts if url else ():  # no URL, no webhook
        payload = {"unit": alert.unit.code, "kind": alert.rule.kind,
                   "fired_at": alert.fired_at.astimezone(UTC).isoformat(), "text": alert_text(alert)}
        threads.append(_in_background(post_webhook, url, payload))
    messages = alert_mails(alerts) if alerts and mail.configured() else []
    if messages:
        threads.append(_in_background(mail.send_logged, mail.smtp_settings(), messages))
    return threads


def _in_background(function, *args):
    # A slow or dead webhook or mail server must never hold up an answer or a page.
    thread = threading.Thread(target=function, args=args, name="hymy-alert-delivery")
    thread.start()
    return thread


def alert_mails(alerts):
    """Return an e-mail per alert and manager of its unit, in each manager's language."""
    base = current_app.config["HYMY_BASE_URL"]
    messages = []
    for alert in alerts:
        link = f"{base}/manage/units/{alert.unit.code}"
        for lang, readers in mail.by_language(mail.unit_managers(alert.unit)).items():
            text = alert_text(alert, lang)
            with force_locale(lang):
                subject = _("Hymy alert: %(unit)s", unit=alert.unit.name)
                body = "\n\n".join([text, _("See and acknowledge the alert: %(link)s", link=link)])
                html = render_template("insight/alert_mail.html", text=text, link=link, subject=subject, lang=lang)
            messages += [mail.compose(person.email, subject, body, html, lang) for person in readers]
    return messages


def post_webhook(url, payload):
    """POST the payload as JSON; log a failure, never raise it."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310 - an admin's URL
            response.read()
    except Exception as exc:  # noqa: BLE001 - delivery is best effort
        logger.warning("alert webhook %s failed: %s", url, exc)


def open_alerts(unit):
    """Return the unit's alerts nobody has acknowledged yet, newest first."""
    return list(db.session.execute(
        db.select(Alert).where(Alert.unit_id == unit.id, Alert.acknowledged_at.is_(None))
        .order_by(Alert.fired_at.desc())
    ).scalars())


def acknowledge(alert, user, comment):
    """Mark the alert as seen by the user, with what was done about it."""
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by_id = user.id
    alert.comment = (comment or "").strip() or None
    db.session.commit()


def open_counts(units):
    """Return {unit id: number of open alerts} for the units."""
    return dict(db.session.execute(
        db.select(Alert.unit_id, db.func.count())
        .where(Alert.unit_id.in_([u.id for u in units]), Alert.acknowledged_at.is_(None))
        .group_by(Alert.unit_id)
    ).all())


def unit_alert(unit, alert_id):
    """Return the unit's alert with the id, or None when the unit has no such alert."""
    alert = db.session.get(Alert, alert_id)
    return alert if alert is not None and alert.unit_id == unit.id else None


def recently_acknowledged(unit, limit=5):
    """Return the unit's latest acknowledged alerts with their comments, newest first."""
    return list(db.session.execute(
        db.select(Alert).where(Alert.unit_id == unit.id, Alert.acknowledged_at.is_not(None))
        .order_by(Alert.acknowledged_at.desc()).limit(limit)
    ).scalars())


cli = AppGroup("alerts", help="Evaluate alert rules.")


@cli.command("check")
def check_command():
    """Evaluate every unit's alert rules; print how many alerts were raised."""
    raised = check_all()
    for alert in raised:
        click.echo(f"{alert.unit.code}\t{alert.rule.kind}\t{alert_text(alert)}")
    click.echo(len(raised))


def register_cli(app):
    """Add the `alerts` command group to the app's `hymy` command."""
    app.cli.add_command(cli)
