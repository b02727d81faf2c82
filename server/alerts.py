"""Alerts: a burst of negative answers raises an alert that a manager acknowledges with a comment."""

from datetime import timedelta

from sqlalchemy import func

from . import stats
from .insight_models import Alert, AlertRule
from .models import Response, db, utcnow

# HappyOrNot's default: at least 50 % negative answers within 15 minutes, over at least 4 answers.
DEFAULT_RULE = {"kind": "negative_share", "window_minutes": 15, "min_answers": 4, "threshold_pct": 50}


def rule_fires(answers, negative, min_answers, threshold_pct):
    """Tell whether negative of answers reaches the threshold; never on fewer than min_answers."""
    return answers >= min_answers and negative * 100 >= threshold_pct * answers


def unit_rules(unit):
    """Return the unit's active rules, making the default rule the first time it is needed."""
    rules = list(db.session.execute(db.select(AlertRule).where(AlertRule.unit_id == unit.id)).scalars())
    if not rules:
        rules = [AlertRule(unit_id=unit.id, **DEFAULT_RULE)]
        db.session.add(rules[0])
        db.session.flush()
    return [rule for rule in rules if rule.active]


def check_unit(unit, now=None):
    """Evaluate the unit's rules over the answers just before now; store and return new alerts."""
    now = now or utcnow()
    raised = []
    for rule in unit_rules(unit):
        start = now - timedelta(minutes=rule.window_minutes)
        answers, negative = _window_counts(unit, start, now)
        if not rule_fires(answers, negative, rule.min_answers, rule.threshold_pct):
            continue
        if _open_alert_overlapping(rule, start) is not None:
            continue  # one burst, one alert: answers that keep coming extend nothing new
        alert = Alert(rule_id=rule.id, unit_id=unit.id, window_start=start, window_end=now,
                      answers=answers, negative=negative)
        db.session.add(alert)
        raised.append(alert)
    db.session.commit()
    return raised


def _window_counts(unit, start, end):
    """Return (answers, negative answers) of the unit in the window, counted in the database."""
    rows = db.session.execute(
        db.select(Response.scale, Response.score, func.count())
        .where(Response.unit_id == unit.id, Response.score.is_not(None), Response.flags == "",
               Response.answered_at >= start, Response.answered_at <= end)
        .group_by(Response.scale, Response.score)
    ).all()
    answers = sum(n for _scale, _score, n in rows)
    negative = sum(n for scale, score, n in rows if stats.SCALES[scale].polarity(score) == "negative")
    return answers, negative


def _open_alert_overlapping(rule, start):
    return db.session.execute(
        db.select(Alert).where(Alert.rule_id == rule.id, Alert.acknowledged_at.is_(None), Alert.window_end >= start)
    ).scalars().first()


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
    """Return {unit id: number of open alerts} for the units, counted in the database."""
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
