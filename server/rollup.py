"""Answers counted per unit and local week, kept exact by the database itself.

Area views and the change detector count weeks of answers for hundreds of units; the rollup
`response_week` holds those counts already grouped, a few dozen rows per unit and week where
the answers are hundreds. Triggers on `response` add and subtract every row that is inserted,
deleted or updated, whoever writes it (the API, the staff log, `hymy import`, `hymy purge`, a
person at the database prompt), in the same transaction as the write.

A week is a local ISO week in HYMY_TIMEZONE. The triggers cannot run zoneinfo, so
`rollup_zone` lists the zone's UTC offsets from 1970 to 2100, each from the moment it starts,
and a trigger looks up the offset in force when the answer was given. When the configured zone
is not the one counted in, the rollup is recounted from the answers (rebuild()).

`hymy import` is the one writer that sets the insert trigger aside: it counts its rows itself,
in Python (Tally), and adds them to the rollup in the same transaction. On SQLite a large import
drops the trigger in its transaction; on PostgreSQL, where dropping a trigger would lock out
every other writer, every import's transaction alone tells the trigger to skip its rows
(count_by_writer).

The migration that made the rollup calls create_triggers() and rebuild(): change them with
care, and never in a way that an older database could not take.
"""

import logging
from bisect import bisect_right
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String, type_coerce

from .models import ResponseWeek, RollupZone, db

log = logging.getLogger(__name__)

KEY = ("unit_id", "monday", "channel", "counted", "scale", "score", "reason")
_KEY = ", ".join(KEY)

# The local Monday of an answer's week, from its naive UTC time and the zone's offset then.
_SQLITE_OFFSET = ("(SELECT offset_minutes FROM rollup_zone WHERE starts_at <= {row}.answered_at"
                  " ORDER BY starts_at DESC LIMIT 1)")
_SQLITE_MONDAY = "date({row}.answered_at, coalesce(" + _SQLITE_OFFSET + ", 0) || ' minutes', 'weekday 0', '-6 days')"
_SQLITE_FIELDS = ("{row}.unit_id, " + _SQLITE_MONDAY + ", {row}.channel, {row}.flags = '', {row}.scale, {row}.score,"
                  " coalesce({row}.reason, '')")
_SQLITE_MATCH = " AND ".join(f"{k} = ({{{i}}})" for i, k in enumerate(KEY))

_PG_FIELDS = (
    "r.unit_id, date_trunc('week', r.answered_at + make_interval(mins => coalesce(z.offset_minutes, 0)))::date,"
    " r.channel, r.flags = '', r.scale, r.score, coalesce(r.reason, '')"
)
_PG_GROUPED = (
    "SELECT " + _PG_FIELDS + ", count(*) AS n FROM {rows} r LEFT JOIN LATERAL (SELECT offset_minutes FROM rollup_zone"
    " WHERE starts_at <= r.answered_at ORDER BY starts_at DESC LIMIT 1) z ON true"
    " WHERE r.score IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7"
)
# A statement's change to the counts, one row per week and key: its new rows counted up, its old
# rows down. Applied in the keys' order, in one statement: every writer then locks the rows it
# changes in the same order, so that no two wait for each other (staff corrections crossing
# between two scores, four at a time, deadlocked in 42 of 160 tries when the old rows were counted
# down first and the new ones up after).
_PG_APPLY = (
    "INSERT INTO response_week AS w (" + _KEY + ", n) SELECT " + _KEY + ", sum(n) FROM ({changes}) AS c ("
    + _KEY + ", n) GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7"
    " ON CONFLICT (" + _KEY + ") DO UPDATE SET n = w.n + EXCLUDED.n;"
)
_PG_EMPTIED = (  # the weeks and keys whose count a statement took down to nothing, locked by it already
    " DELETE FROM response_week WHERE n = 0 AND (" + _KEY + ") IN (SELECT " + _KEY + " FROM ("
    + _PG_GROUPED + ") AS g (" + _KEY + ", n));"
)


def _pg_apply(new_rows=None, old_rows=None):
    """The body of a trigger function that counts its statement's new rows up and its old rows down."""
    changes = [_PG_GROUPED.format(rows=new_rows)] if new_rows else []
    if old_rows:
        changes.append(f"SELECT {_KEY}, -n FROM ({_PG_GROUPED.format(rows=old_rows)}) AS o ({_KEY}, n)")
    return _PG_APPLY.format(changes=" UNION ALL ".join(changes)) + (_PG_EMPTIED.format(rows=old_rows) if old_rows else "")


def _sqlite_triggers():
    def fields(row):
        return _SQLITE_FIELDS.format(row=row)

    def add(row):
        return (f"INSERT INTO response_week ({_KEY}, n) SELECT {fields(row)}, 1 WHERE {row}.score IS NOT NULL"
                f" ON CONFLICT ({_KEY}) DO UPDATE SET n = n + 1;")

    def subtract(row):
        values = [f"{row}.unit_id", _SQLITE_MONDAY.format(row=row), f"{row}.channel", f"{row}.flags = ''",
                  f"{row}.scale", f"{row}.score", f"coalesce({row}.reason, '')"]
        match = _SQLITE_MATCH.format(*values)
        return (f"UPDATE response_week SET n = n - 1 WHERE {match};"
                f" DELETE FROM response_week WHERE n = 0 AND {match};")

    return [
        f"CREATE TRIGGER response_week_insert AFTER INSERT ON response BEGIN {add('NEW')} END",
        f"CREATE TRIGGER response_week_delete AFTER DELETE ON response BEGIN {subtract('OLD')} END",
        f"CREATE TRIGGER response_week_update AFTER UPDATE ON response BEGIN {subtract('OLD')} {add('NEW')} END",
    ]


# Set (SET LOCAL) in a PostgreSQL transaction that counts the rows it inserts itself (a Tally):
# the insert trigger then skips that transaction's statements, and only those.
COUNTED_BY_WRITER = "hymy.rollup_counted_by_writer"


def _postgresql_triggers():
    def function(name, body):
        return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")

    skip = f"IF current_setting('{COUNTED_BY_WRITER}', true) = 'on' THEN RETURN NULL; END IF;"
    return [
        function("response_week_insert", skip + " " + _pg_apply(new_rows="new_rows")),
        function("response_week_delete", _pg_apply(old_rows="old_rows")),
        function("response_week_update", _pg_apply(new_rows="new_rows", old_rows="old_rows")),
        "CREATE TRIGGER response_week_insert AFTER INSERT ON response REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION response_week_insert()",
        "CREATE TRIGGER response_week_delete AFTER DELETE ON response REFERENCING OLD TABLE AS old_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION response_week_delete()",
        "CREATE TRIGGER response_week_update AFTER UPDATE ON response REFERENCING OLD TABLE AS old_rows"
        " NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION response_week_update()",
    ]


TRIGGERS = ("response_week_insert", "response_week_delete", "response_week_update")


def create_triggers(connection):
    """Create the triggers that keep response_week exact."""
    statements = _postgresql_triggers() if connection.dialect.name == "postgresql" else _sqlite_triggers()
    for statement in statements:
        connection.exec_driver_sql(statement)


def replace_functions(connection):
    """On PostgreSQL, write the triggers' functions anew (the triggers call them by name); elsewhere nothing."""
    if connection.dialect.name == "postgresql":
        for statement in _postgresql_triggers():
            if statement.startswith("CREATE OR REPLACE FUNCTION"):
                connection.exec_driver_sql(statement)


def drop_triggers(connection):
    """Drop the triggers (and on PostgreSQL their functions)."""
    for name in TRIGGERS:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON response")
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


# The minutes whose Mondays a tally remembers: 60 days of answers; imports usually come in time order.
MONDAYS_REMEMBERED = 86_400


class Tally:
    """The rollup's counts of answers a bulk insert stores with the insert trigger set aside (an import).

    It counts as the trigger does: a scored answer, in the local ISO week of its time under the
    offsets rollup_zone holds (the zone the rollup is counted in), by unit, channel, whether it
    counts (no flags), scale, score and reason. Offsets change, and local days begin, on whole
    minutes, so a week is worked out once per minute of answers. A test holds a bulk import's
    weeks equal to the answers' own in zoneinfo across offset changes, in zones with half- and
    quarter-hour offsets too. Counting a row here costs about 1 µs where the trigger cost 8, and
    can run in another process.
    """

    def __init__(self, zone):
        self.starts = [start for start, _minutes in zone]
        self.minutes = [minutes for _start, minutes in zone]
        self.mondays = {}  # the first 16 characters of a stored time (its minute): its week's Monday
        self.counts = Counter()

    @classmethod
    def of(cls, connection):
        """Return an empty tally in the zone the rollup is counted in."""
        zone = connection.execute(db.select(RollupZone.starts_at, RollupZone.offset_minutes)
                                  .order_by(RollupZone.starts_at)).all()
        return cls([(start.replace(tzinfo=None), minutes) for start, minutes in zone])

    def counts_as(self, connection):
        """Tell whether the rollup is still counted in this tally's zone."""
        current = Tally.of(connection)
        return (current.starts, current.minutes) == (self.starts, self.minutes)

    def empty(self):
        """Return an empty tally in the same zone."""
        empty = Tally([])
        empty.starts, empty.minutes, empty.mondays = self.starts, self.minutes, self.mondays
        return empty

    def count(self, answers):
        """Count answers: each (unit_id, answered_at as SQLite stores it, channel, flags, scale, score, reason).

        An answer without a score has None or '' for it, and one without a reason None or ''.
        """
        mondays, monday = self.mondays, self._monday
        self.counts.update(
            (unit_id, mondays.get(answered_at[:16]) or monday(answered_at[:16]), channel, flags == "", scale, score,
             reason or "")
            for unit_id, answered_at, channel, flags, scale, score, reason in answers
            if score is not None and score != ""
        )

    def _monday(self, minute):
        """Return the Monday of a minute's local week, and remember it."""
        if len(self.mondays) >= MONDAYS_REMEMBERED:
            self.mondays.clear()
        moment = datetime.fromisoformat(minute)
        at = bisect_right(self.starts, moment) - 1
        day = (moment + timedelta(minutes=self.minutes[at]) if at >= 0 else moment).date()
        self.mondays[minute] = monday = (day - timedelta(days=day.weekday())).isoformat()
        return monday

    def subtract(self, other):
        """Take another tally's counts off this one's."""
        self.counts.subtract(other.counts)

    def store(self, connection):
        """Add the counts to the rollup (without committing)."""
        rows = [(*key, n) for key, n in self.counts.items() if n]
        if connection.dialect.name == "sqlite":
            marks = ", ".join(["?"] * (len(KEY) + 1))
            connection.exec_driver_sql(
                f"INSERT INTO response_week ({_KEY}, n) VALUES ({marks})"
                f" ON CONFLICT ({_KEY}) DO UPDATE SET n = n + excluded.n", rows)
            return
        # On PostgreSQL by COPY, then in one statement in the keys' order, as the triggers lock
        # the rollup's rows (_PG_APPLY). The temporary table goes with the transaction.
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE hymy_tally ON COMMIT DROP AS SELECT {_KEY}, n FROM response_week WITH NO DATA")
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY hymy_tally ({_KEY}, n) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(_PG_APPLY.format(changes=f"SELECT {_KEY}, n FROM hymy_tally"))


def set_trigger_aside(connection):
    """On SQLite, drop the insert trigger in the caller's transaction; return the statement that creates it again.

    For a bulk insert that counts its rows in a Tally instead. The caller's transaction already
    holds the write lock, so no other writer can insert uncounted meanwhile, and SQLite's DDL is
    transactional, as with the import's indexes: a rollback or a dead process leaves the trigger
    in place, and other connections see it throughout. Returns None if there is no trigger.
    """
    trigger = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'response_week_insert'").scalar()
    if trigger is not None:
        connection.exec_driver_sql("DROP TRIGGER response_week_insert")
    return trigger


def count_by_writer(connection):
    """On PostgreSQL, tell the insert trigger to skip the rest of the caller's transaction; return whether it will.

    The caller then counts what it inserts itself (Tally.store). The setting lasts until the
    transaction's commit or rollback and is seen by no other session. A trigger older than the
    setting (a database not yet upgraded) would not skip: it is told nothing then, goes on
    counting, and this returns False.
    """
    source = connection.exec_driver_sql("SELECT prosrc FROM pg_proc WHERE proname = 'response_week_insert'").scalar()
    if source is None or COUNTED_BY_WRITER not in source:
        return False
    connection.exec_driver_sql(f"SET LOCAL {COUNTED_BY_WRITER} = 'on'")
    return True


@lru_cache(maxsize=8)
def zone_offsets(tz_name, first_year=1970, last_year=2100):
    """Return [(naive UTC start, offset in minutes)]: the zone's offsets between the years, to the minute."""
    zone = ZoneInfo(tz_name)

    def offset(moment):
        return int(moment.replace(tzinfo=UTC).astimezone(zone).utcoffset().total_seconds()) // 60

    moment, end = datetime(first_year, 1, 1), datetime(last_year, 1, 1)
    current = offset(moment)
    # The first offset also stands for every earlier moment.
    result = [(datetime(1, 1, 1), current)]
    while moment < end:
        following = moment + timedelta(days=1)
        if offset(following) != current:
            before, after = moment, following
            while after - before > timedelta(minutes=1):
                middle = before + timedelta(minutes=(after - before) // timedelta(minutes=1) // 2)
                before, after = (middle, after) if offset(middle) == current else (before, middle)
            current = offset(after)
            result.append((after, current))
        moment = following
    return result


def stored_zone():
    """Return the zone the rollup is counted in, or None before it was ever counted."""
    return db.session.execute(db.select(RollupZone.zone).limit(1)).scalar()


def rebuild(connection, tz_name):
    """Count the rollup again from every answer, in the zone; the caller commits."""
    if connection.dialect.name == "postgresql":
        # Writers wait; readers go on and see the old counts until the commit.
        connection.exec_driver_sql("LOCK TABLE response IN SHARE ROW EXCLUSIVE MODE")
    connection.execute(RollupZone.__table__.delete())
    connection.execute(RollupZone.__table__.insert(), [
        {"starts_at": starts_at.replace(tzinfo=UTC), "offset_minutes": minutes, "zone": tz_name}
        for starts_at, minutes in zone_offsets(tz_name)
    ])
    connection.execute(ResponseWeek.__table__.delete())
    if connection.dialect.name == "postgresql":
        grouped = _PG_GROUPED.format(rows="response")
    else:
        grouped = (f"SELECT {_SQLITE_FIELDS.format(row='response')}, count(*) FROM response"
                   " WHERE score IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7")
    connection.exec_driver_sql(f"INSERT INTO response_week ({_KEY}, n) {grouped}")


def ready(tz_name):
    """Return whether the rollup counts weeks in tz_name, recounting it first if that is HYMY_TIMEZONE."""
    zone = stored_zone()
    if zone == tz_name:
        return True
    if tz_name != current_app.config["HYMY_TIMEZONE"]:
        return False
    log.warning("counting the weekly rollup in %s (it was counted in %s)", tz_name, zone)
    rebuild(db.session.connection(), tz_name)
    db.session.commit()
    return True


def week_counts(unit_ids, first_monday, last_monday, include_flagged=False, channels=None, by_reason=False):
    """Yield (unit_id, monday, scale, score, [reason or None,] n) for the local weeks first_monday..last_monday.

    Rows come as stored, not summed over channels and flags: a key may come more than once, and
    the caller adds them up. Summing them in the database would sort them all again, for little:
    most weeks of a unit have one channel.
    """
    week = ResponseWeek
    # The dates as the database hands them over; each distinct one is parsed once below.
    columns = [week.unit_id, type_coerce(week.monday, String), week.scale, week.score, week.n]
    if by_reason:
        columns.insert(4, week.reason)
    query = db.select(*columns).where(
        week.unit_id.in_(unit_ids), week.monday >= first_monday, week.monday <= last_monday
    )
    if not include_flagged:
        query = query.where(week.counted.is_(True))
    if channels:
        query = query.where(week.channel.in_(channels))
    days = {}
    for row in db.session.execute(query):
        day = row[1]
        monday = days.get(day)
        if monday is None:
            monday = days[day] = day if isinstance(day, date) else date.fromisoformat(day)
        if by_reason:
            yield row[0], monday, row[2], row[3], row[4] or None, row[5]
        else:
            yield row[0], monday, row[2], row[3], row[4]
