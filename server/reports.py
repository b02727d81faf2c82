"""Queries behind the figures: tallies per unit and period, the answers of a selection."""

from datetime import date

from sqlalchemy import func

from . import stats
from .models import Area, Response, Unit, db


class SelectionError(ValueError):
    """A filter (unit, area, dates, bucket) names nothing or is malformed."""


def select_units(unit_code=None, area=None, allowed=None):
    """Return the units chosen by code or area (name or code), within the allowed ones."""
    query = db.select(Unit).order_by(Unit.id)
    if unit_code:
        query = query.where(Unit.code == unit_code)
    if area:
        found = db.session.execute(
            db.select(Area).where((Area.code == area) | (Area.name == area))
        ).scalar_one_or_none()
        if found is None:
            raise SelectionError(f"no area named {area!r}")
        query = query.where(Unit.area_id == found.id)
    units = list(db.session.execute(query).scalars())
    if allowed is not None:
        allowed_ids = {u.id for u in allowed}
        units = [u for u in units if u.id in allowed_ids]
    if unit_code and not units:
        raise SelectionError(f"no unit with code {unit_code!r}")
    return units


def parse_day(value, name):
    """Parse an optional YYYY-MM-DD filter; raise SelectionError naming the filter."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SelectionError(f"{name} must be a date such as 2026-01-31; got {value!r}") from None


def parse_days(first, last, first_name="from", last_name="to"):
    """Parse an optional inclusive range of local days; refuse one that ends before it starts."""
    first_day, last_day = parse_day(first, first_name), parse_day(last, last_name)
    if first_day and last_day and first_day > last_day:
        raise SelectionError(f"{first_name} ({first_day}) comes after {last_name} ({last_day})")
    return first_day, last_day


def answers_query(units, first=None, last=None, tz_name="Europe/Helsinki", include_flagged=False):
    """A select of Response rows for the units, answered on local days first..last inclusive."""
    query = db.select(Response).where(Response.unit_id.in_([u.id for u in units]))
    query = _time_filter(query, first, last, tz_name)
    if not include_flagged:
        query = query.where(Response.flags == "")
    return query


def _time_filter(query, first, last, tz_name):
    """Keep answers given on local days first..last inclusive (either may be None)."""
    if first:
        start, _ = stats.day_range(first, first, tz_name)
        query = query.where(Response.answered_at >= start)
    if last:
        _, end = stats.day_range(last, last, tz_name)
        query = query.where(Response.answered_at < end)
    return query


def _counts_query(units, start, end, include_flagged, channels, *columns):
    query = (
        db.select(*columns, Response.scale, Response.score, func.count())
        .where(Response.unit_id.in_([u.id for u in units]), Response.score.is_not(None))
        .group_by(*columns, Response.scale, Response.score)
    )
    if start is not None:
        query = query.where(Response.answered_at >= start)
    if end is not None:
        query = query.where(Response.answered_at < end)
    if not include_flagged:
        query = query.where(Response.flags == "")
    if channels:
        query = query.where(Response.channel.in_(channels))
    return query


def tally(units, start=None, end=None, include_flagged=False, channels=None):
    """One Tally over the units between UTC moments start (inclusive) and end (exclusive)."""
    result = stats.Tally()
    for scale, score, n in db.session.execute(_counts_query(units, start, end, include_flagged, channels)):
        result.add(scale, score, n)
    return result


def tallies_by_unit(units, start=None, end=None, include_flagged=False, channels=None):
    """One Tally per unit (in the order given) over the same window, in a single query."""
    result = {u.id: stats.Tally() for u in units}
    query = _counts_query(units, start, end, include_flagged, channels, Response.unit_id)
    for unit_id, scale, score, n in db.session.execute(query):
        result[unit_id].add(scale, score, n)
    return [(u, result[u.id]) for u in units]


def latest_comments(unit, limit=10):
    """Return the unit's most recent answers that carry a comment, newest first."""
    return db.session.execute(
        db.select(Response)
        .where(Response.unit_id == unit.id, Response.comment.is_not(None))
        .order_by(Response.answered_at.desc())
        .limit(limit)
    ).scalars().all()


def tally_table(units, bucket="day", first=None, last=None, tz_name="Europe/Helsinki", include_flagged=False):
    """Yield tally rows (dicts with TALLY_COLUMNS) per unit and period, oldest first."""
    codes = {u.id: u.code for u in units}
    query = (
        db.select(Response.unit_id, Response.scale, Response.score, Response.answered_at)
        .where(Response.unit_id.in_(list(codes)), Response.score.is_not(None))
        .order_by(Response.unit_id, Response.answered_at)
    )
    query = _time_filter(query, first, last, tz_name)
    if not include_flagged:
        query = query.where(Response.flags == "")
    rows = ((codes[uid], scale, score, at) for uid, scale, score, at in db.session.execute(query).yield_per(5000))
    for (unit_code, period), t in stats.tally_rows(rows, bucket, tz_name).items():
        yield {"unit": unit_code, "period": period, **t.row()}
