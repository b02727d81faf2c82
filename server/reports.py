"""Queries behind the figures: tallies per unit and period, the answers of a selection.

Counting happens in the database (GROUP BY), or for whole weeks in the weekly rollup
(rollup.py); Python only buckets the grouped counts into local days, weeks, months and hours,
which keeps the SQL the same on SQLite and PostgreSQL but for one function, utc_hour.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, case, cast, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import rollup, stats
from .models import HAS_COMMENT, Area, Response, Unit, db


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


def count_answers(units, first=None, last=None, tz_name="Europe/Helsinki"):
    """How many answers (flagged ones included) an export of the units and days holds."""
    query = answers_query(units, first, last, tz_name, include_flagged=True)
    return db.session.execute(query.with_only_columns(func.count())).scalar_one()


def answers_query(units, first=None, last=None, tz_name="Europe/Helsinki", include_flagged=False):
    """A select of Response rows for the units (None: every unit), answered on local days first..last inclusive."""
    query = db.select(Response)
    if units is not None:
        query = query.where(Response.unit_id.in_([u.id for u in units]))
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
    return _filtered(
        db.select(*columns, Response.scale, Response.score, func.count())
        .where(Response.score.is_not(None))
        .group_by(*columns, Response.scale, Response.score),
        units, start, end, include_flagged, channels,
    )


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


def latest_comments(unit, limit=10, start=None, end=None, include_flagged=True, channels=None, logged=None):
    """Return the unit's most recent entries that carry a comment, newest first.

    logged=True keeps only remarks staff logged, logged=False only clients' own answers.
    """
    query = _filtered(
        db.select(Response).where(*HAS_COMMENT),
        [unit], start, end, include_flagged, channels,
    )
    if logged is not None:
        query = query.where(Response.kind.is_not(None) if logged else Response.kind.is_(None))
    return db.session.execute(query.order_by(Response.answered_at.desc()).limit(limit)).scalars().all()


def tally_table(units, bucket="day", first=None, last=None, tz_name="Europe/Helsinki", include_flagged=False):
    """Yield tally rows (dicts with TALLY_COLUMNS) per unit and period, oldest first."""
    for unit, period, t in bucket_tallies(units, bucket, first, last, tz_name, include_flagged):
        yield {"unit": unit.code, "period": period, **t.row()}


def bucket_tallies(units, bucket="day", first=None, last=None, tz_name="Europe/Helsinki", include_flagged=False):
    """Return [(unit, period, Tally)] per unit (in the order given) and local day, week or month, oldest first."""
    start = stats.day_range(first, first, tz_name)[0] if first else None
    end = stats.day_range(last, last, tz_name)[1] if last else None
    tz = ZoneInfo(tz_name)
    buckets = {u.id: {} for u in units}
    for unit_id, moment, scale, score, n in hourly_counts(units, start, end, include_flagged):
        period = stats.period_key(moment, bucket, tz)
        buckets[unit_id].setdefault(period, stats.Tally()).add(scale, score, n)
    return [(u, period, t) for u in units for period, t in sorted(buckets[u.id].items())]


# --- Counts grouped by hour: the dashboard's weeks and heatmap, monthly summaries ----------


def _filtered(query, units, start, end, include_flagged, channels):
    query = query.where(Response.unit_id.in_([u.id for u in units]))
    if start is not None:
        query = query.where(Response.answered_at >= start)
    if end is not None:
        query = query.where(Response.answered_at < end)
    if not include_flagged:
        query = query.where(Response.flags == "")
    if channels:
        query = query.where(Response.channel.in_(channels))
    return query


class utc_hour(FunctionElement):
    """The UTC hour of a stored time as text, 'YYYY-MM-DD HH': one cheap call per row to group by."""

    type = String()
    inherit_cache = True


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element, compiler, **kw):
    # Times are stored as ISO text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 13)"


@compiles(utc_hour, "postgresql")
def _utc_hour_postgresql(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD HH24')"


def hourly_counts(units, start=None, end=None, include_flagged=False, channels=None):
    """Yield (unit_id, UTC hour, scale, score, n): answers with a score, counted per UTC hour in the database."""
    hour = utc_hour(Response.answered_at)
    query = _filtered(
        db.select(Response.unit_id, hour, Response.scale, Response.score, func.count())
        .where(Response.score.is_not(None))
        .group_by(Response.unit_id, hour, Response.scale, Response.score),
        units, start, end, include_flagged, channels,
    )
    moments = {}
    for unit_id, hour_text, scale, score, n in db.session.execute(query):
        moment = moments.get(hour_text)
        if moment is None:
            moment = moments[hour_text] = datetime.fromisoformat(hour_text + ":00").replace(tzinfo=UTC)
        yield unit_id, moment, scale, score, n


@dataclass
class PeriodFigures:
    """A selection's figures over local days first..last: the tally, its weeks and its hours."""

    first: date
    last: date
    tally: stats.Tally
    weeks: list  # [(monday, Tally)]
    heatmap: list  # [weekday][hour] -> answers

    @property
    def days(self):
        return (self.last - self.first).days + 1

    @property
    def per_week(self):
        """Answers a week, on average over the period."""
        return self.tally.answers * 7 / self.days


def period_figures_by_unit(units, first, last, tz_name, include_flagged=False, channels=None, heatmap=True):
    """Return {unit: PeriodFigures} for local days first..last, from one grouped query.

    Without the heatmap (the area view) answers are counted per week in the database, which is
    much less to read than counts per hour.
    """
    if not heatmap:
        weekly = weekly_counts(units, first, last, tz_name, include_flagged, channels)
        result = {}
        for unit in units:
            weeks = list(weekly[unit.id].items())
            total = stats.Tally()
            for _monday, week in weeks:
                total.merge(week)
            result[unit] = PeriodFigures(first, last, total, weeks, None)
        return result
    start, end = stats.day_range(first, last, tz_name)
    hourly = {u.id: [] for u in units}
    for unit_id, moment, scale, score, n in hourly_counts(units, start, end, include_flagged, channels):
        hourly[unit_id].append((moment, scale, score, n))
    result = {}
    for unit in units:
        weeks = stats.weekly_tallies(hourly[unit.id], first, last, tz_name)
        total = stats.Tally()
        for _monday, week in weeks:
            total.merge(week)
        result[unit] = PeriodFigures(first, last, total, weeks, stats.heatmap(hourly[unit.id], tz_name))
    return result


def weekly_counts(units, first, last, tz_name, include_flagged=False, channels=None, now=None):
    """Return {unit_id: {monday: Tally}} for every local week of first..last.

    Weeks are read from the weekly rollup. A week cut by first or last is its rollup less the
    answers of its days outside first..last when those have fewer days up to today (the current
    week: its days to come hold no answers yet), else the answers of its days inside, counted.
    """
    mondays = stats.week_mondays(first, last)
    result = {u.id: {monday: stats.Tally() for monday in mondays} for u in units}
    if not rollup.ready(tz_name):
        _count_weeks(result, units, first, last, tz_name, include_flagged, channels)
        return result
    today = stats.today(tz_name, now)

    def past_days(a, b):  # how many of the days a..b are not in the future
        return max(0, (min(b, today) - a).days + 1)

    from_rollup, counted, subtracted = set(mondays), [], []
    for monday in {mondays[0], mondays[-1]}:
        sunday = monday + timedelta(days=6)
        inside = (max(first, monday), min(last, sunday))
        outside = [part for part in ((monday, first - timedelta(days=1)), (last + timedelta(days=1), sunday))
                   if part[0] <= part[1]]
        if sum(past_days(*part) for part in outside) < past_days(*inside):
            subtracted += outside
        else:
            from_rollup.discard(monday)
            counted.append(inside)
    if from_rollup:
        for unit_id, monday, scale, score, n in rollup.week_counts(
                [u.id for u in units], min(from_rollup), max(from_rollup), include_flagged, channels):
            if monday in from_rollup:
                result[unit_id][monday].add(scale, score, n)
    for part in counted:
        _count_weeks(result, units, *part, tz_name, include_flagged, channels)
    for part in subtracted:
        _count_weeks(result, units, *part, tz_name, include_flagged, channels, sign=-1)
    return result


def _count_weeks(result, units, first, last, tz_name, include_flagged, channels, sign=1):
    """Add (sign=-1: take away) the answers of local days first..last to result's weeks, counted per week."""
    mondays = stats.week_mondays(first, last)
    start, end = stats.day_range(first, last, tz_name)
    # Where each week after the first begins, in UTC: a CASE sorts answers into weeks.
    bounds = [stats.day_range(monday, monday, tz_name)[0] for monday in mondays[1:]]
    columns = [Response.unit_id, Response.scale, Response.score]
    if bounds:  # a CASE needs at least one WHEN: a single week needs no week column at all
        columns.append(case(*((Response.answered_at < b, i) for i, b in enumerate(bounds)), else_=len(bounds)))
    query = _filtered(
        db.select(*columns, func.count()).where(Response.score.is_not(None)).group_by(*columns),
        units, start, end, include_flagged, channels,
    )
    for unit_id, scale, score, *week, n in db.session.execute(query):
        result[unit_id][mondays[week[0] if week else 0]].add(scale, score, sign * n)


def monthly_fft(units, first=None, last=None, tz_name="Europe/Helsinki"):
    """Yield FFT summary rows (dicts with FFT_COLUMNS) per five-point unit and local month, oldest first."""
    five_point = [u for u in units if u.scale == "smiley5"]
    for unit, period, t in bucket_tallies(five_point, "month", first, last, tz_name):
        yield stats.fft_row(unit.code, period, t)


# --- Reasons, segments, comments and logged remarks ----------------------------------------


def reason_shares(units, start=None, end=None, include_flagged=False, channels=None):
    """Return stats.reason_shares() of the selection, counted in the database."""
    query = _filtered(
        db.select(Response.scale, Response.score, Response.reason, func.count())
        .where(Response.score.is_not(None))
        .group_by(Response.scale, Response.score, Response.reason),
        units, start, end, include_flagged, channels,
    )
    return stats.reason_shares(db.session.execute(query).all())


def segment_tallies(units, start=None, end=None, include_flagged=False, channels=None):
    """Return {(key, value): Tally} of the answers that carry a segment, counted in the database."""
    # JSON cannot be grouped on PostgreSQL; its text can, on every database.
    text = cast(Response.segment, String)
    query = _filtered(
        db.select(text, Response.scale, Response.score, func.count())
        .where(Response.score.is_not(None), Response.segment.is_not(None))
        .group_by(text, Response.scale, Response.score),
        units, start, end, include_flagged, channels,
    )
    rows = []
    for segment_text, scale, score, n in db.session.execute(query):
        segment = json.loads(segment_text) if segment_text else None
        if isinstance(segment, dict):
            rows.append((segment, scale, score, n))
    return stats.segment_tallies(rows)


def logged_counts(units, start=None, end=None, include_flagged=False, channels=None):
    """Return {kind: n} of the remarks staff logged (praise, suggestion, complaint) in the selection."""
    query = _filtered(
        db.select(Response.kind, func.count()).where(Response.kind.is_not(None)).group_by(Response.kind),
        units, start, end, include_flagged, channels,
    )
    return dict(db.session.execute(query).all())
