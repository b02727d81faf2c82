"""Validate, redact, deduplicate and store answers: one path for the API, import and staff."""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from . import alerts, models, prepared, sqlite, stats
from .errors import ApiError
from .models import CHANNELS, LANGS, SCALE_NAMES, Response, Unit, db, utcnow
from .redact import redact

logger = logging.getLogger(__name__)
# The answer path's statements are built once, with bound parameters: building a statement costs
# more than running one of these on SQLite.
_RESPONSES = Response.__table__.c


def _response_inserts(insert, returning):
    """Build the plain and the kiosk answer insert; a stored id makes either insert nothing, without an error.

    On PostgreSQL they return the id of what they stored (the row count tells as well: 1 or 0).
    On SQLite they return nothing and the row count tells: a statement that returns rows holds
    SQLite's write lock until its last row is fetched, and fetching takes the GIL, which another
    waitress thread may hold for milliseconds while every other writer waits.
    """
    plain = insert(Response.__table__).on_conflict_do_nothing(index_elements=[_RESPONSES.id])
    if returning:
        plain = plain.returning(_RESPONSES.id)
    # A kiosk's answer is a repeat when the same kiosk answered within the unit's repeat window just
    # before: the insert itself decides, so the check costs no statement of its own and sees every
    # answer committed before this one.
    kiosk = plain.values(flags=db.case(
        (db.exists().where(_RESPONSES.device_id == db.bindparam("repeat_device_id"),
                           _RESPONSES.answered_at > db.bindparam("repeat_after"),
                           _RESPONSES.answered_at <= db.bindparam("repeat_until")), db.bindparam("repeat_flags")),
        else_=db.bindparam("plain_flags"),
    ))
    return plain, kiosk


RESPONSE_INSERTS = {"sqlite": _response_inserts(sqlite_dialect.insert, returning=False),
                    "postgresql": _response_inserts(postgresql.insert, returning=True)}
# The same inserts prepared to run outside the session when it has begun nothing (server/prepared.py).
PREPARED_INSERTS = {statement: prepared.Prepared(statement) for inserts in RESPONSE_INSERTS.values()
                    for statement in inserts}
# What a replay is compared with: a plain row, cheaper to read than an ORM object.
STORED_CONTENT = db.select(
    _RESPONSES.unit_id, _RESPONSES.score, _RESPONSES.reason, _RESPONSES.comment, _RESPONSES.segment,
    _RESPONSES.lang, _RESPONSES.answered_at,
).where(_RESPONSES.id == db.bindparam("id"))
PREPARED_STORED_CONTENT = prepared.Prepared(STORED_CONTENT)

MAX_COMMENT = 2000
MAX_FUTURE = timedelta(minutes=10)
MAX_PAST = timedelta(days=60)
MAX_SEGMENT_ITEMS = 10
MAX_SEGMENT_TEXT = 100
CLIENT_FIELDS = ("id", "unit", "score", "reason", "comment", "segment", "lang", "answered_at")


@dataclass(frozen=True)
class UnitSnapshot:
    """The columns of a unit that validating and storing an answer read: the answer path's unit."""

    id: int
    code: str
    scale: str
    reasons_positive: list
    reasons_negative: list
    segment_questions: list
    repeat_window_s: int

    def reason_keys(self):
        return models.reason_keys(self.reasons_positive, self.reasons_negative)


SNAPSHOT_COLUMNS = tuple(Unit.__table__.c[field] for field in UnitSnapshot.__dataclass_fields__)
UNIT_SNAPSHOT = db.select(*SNAPSHOT_COLUMNS).where(Unit.__table__.c.code == db.bindparam("code"))


def unit_snapshot(code):
    """Read the unit with the code as a snapshot, None if there is none: one Core query, no ORM state."""
    row = db.session.connection().execute(UNIT_SNAPSHOT, {"code": code}).first()
    return None if row is None else UnitSnapshot(*row)


@dataclass
class Answer:
    """A validated answer, ready to store or to compare with a stored one."""

    id: str
    unit: Unit | UnitSnapshot
    score: int | None
    reason: str | None
    comment: str | None
    segment: dict | None
    lang: str | None
    answered_at: datetime
    sent: frozenset  # the fields the client sent, for replay comparison


def parse_uuid(value, field="id"):
    if not isinstance(value, str):
        raise ApiError(422, f"{field} must be a UUID string", field)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ApiError(422, f"{field} is not a valid UUID", field) from None
    return str(parsed)


def parse_time(value, now=None, field="answered_at", check_range=True):
    """Parse an ISO 8601 time with a zone, within the window offline queues need."""
    if not isinstance(value, str):
        raise ApiError(422, f"{field} must be an ISO 8601 string", field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"{field} is not an ISO 8601 date and time", field) from None
    if parsed.tzinfo is None:
        raise ApiError(422, f"{field} must include a time zone, such as Z or +02:00", field)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(422, f"{field} is out of range", field) from None
    if check_range:
        now = now or utcnow()
        if parsed > now + MAX_FUTURE:
            raise ApiError(422, f"{field} lies more than 10 minutes in the future", field)
        if parsed < now - MAX_PAST:
            raise ApiError(422, f"{field} lies more than 60 days in the past", field)
    return parsed


def validate(payload, unit_lookup, now=None, check_time_range=True):
    """Turn a client payload into an Answer or raise ApiError naming the field."""
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    unknown = sorted(set(payload) - set(CLIENT_FIELDS))
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r}", unknown[0])
    if "id" not in payload:
        raise ApiError(422, "id is required: a client-generated UUID", "id")
    answer_id = parse_uuid(payload["id"])
    unit_code = payload.get("unit")
    if not isinstance(unit_code, str) or not unit_code:
        raise ApiError(422, "unit must be a unit code", "unit")
    unit = unit_lookup(unit_code)
    if unit is None:
        raise ApiError(404, f"no unit with code {unit_code!r}", "unit")

    score = payload.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int):
            raise ApiError(422, "score must be a whole number or null", "score")
        low, high = stats.SCALES[unit.scale].low, stats.SCALES[unit.scale].high
        if not low <= score <= high:
            raise ApiError(422, f"score must be from {low} to {high} on this unit's scale", "score")

    reason = payload.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise ApiError(422, "reason must be a reason key", "reason")
        if reason not in unit.reason_keys():
            raise ApiError(422, f"reason {reason!r} is not configured for this unit", "reason")

    comment = payload.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise ApiError(422, "comment must be a string", "comment")
        if len(comment) > MAX_COMMENT:
            raise ApiError(422, f"comment is longer than {MAX_COMMENT} characters", "comment")
        if "\x00" in comment:
            raise ApiError(422, "comment contains a NUL character", "comment")
        comment = redact(comment.strip()) or None

    segment = validate_segment(payload.get("segment"), unit)

    lang = payload.get("lang")
    if lang is not None and lang not in LANGS:
        raise ApiError(422, "lang must be fi, sv or en", "lang")

    if payload.get("answered_at") is None:
        answered_at = now or utcnow()
    else:
        answered_at = parse_time(payload["answered_at"], now, check_range=check_time_range)

    if score is None and comment is None:
        raise ApiError(422, "an answer needs a score, a comment or both", "score")
    return Answer(
        id=answer_id, unit=unit, score=score, reason=reason, comment=comment, segment=segment,
        lang=lang, answered_at=answered_at,
        sent=frozenset(k for k in CLIENT_FIELDS if payload.get(k) is not None),
    )


def validate_segment(segment, unit=None):
    """Check a segment's shape and, when a unit is given, that it answers the unit's segment questions.

    Imports pass no unit: historical rows keep segments the unit may no longer ask about.
    """
    if segment is None:
        return None
    if not isinstance(segment, dict):
        raise ApiError(422, "segment must be an object of key: value strings", "segment")
    if len(segment) > MAX_SEGMENT_ITEMS:
        raise ApiError(422, f"segment has more than {MAX_SEGMENT_ITEMS} entries", "segment")
    for key, value in segment.items():
        if not key or len(key) > MAX_SEGMENT_TEXT or any(c in key for c in "=;"):
            raise ApiError(422, "segment keys must be short and contain no = or ;", "segment")
        if not isinstance(value, str) or len(value) > MAX_SEGMENT_TEXT or any(c in value for c in "=;"):
            raise ApiError(422, "segment values must be short strings with no = or ;", "segment")
    if unit is not None and segment:
        questions = {q.get("key"): q for q in unit.segment_questions or []}
        if not questions:
            raise ApiError(422, "this unit asks no segment question", "segment")
        for key, value in segment.items():
            if key not in questions:
                raise ApiError(422, f"segment question {key!r} is not configured for this unit", "segment")
            values = [option.get("value") for option in questions[key].get("options") or []]
            if value not in values:
                raise ApiError(422, f"segment answer {value!r} is not an option of question {key!r}", "segment")
    return dict(segment) or None


def same_content(stored, answer):
    """Tell whether a replay matches the stored answer in every field the client sent."""
    comparisons = {
        "unit": stored.unit_id == answer.unit.id,
        "score": stored.score == answer.score,
        "reason": stored.reason == answer.reason,
        "comment": stored.comment == answer.comment,
        "segment": (stored.segment or None) == answer.segment,
        "lang": stored.lang == answer.lang,
        "answered_at": stored.answered_at == answer.answered_at,
    }
    return all(comparisons[field] for field in answer.sent if field in comparisons)


def store(answer, channel, device=None, user=None, kind=None, flags=""):
    """Insert the answer once and commit; return "stored" or "duplicate". Raise 409 on a conflicting replay.

    The insert comes first and the unique id decides: concurrent replays race safely, and the
    common case (a new answer) costs no extra look-up.
    """
    assert channel in CHANNELS
    values = {
        "id": answer.id, "unit_id": answer.unit.id, "channel": channel,
        "device_id": device.id if device else None, "user_id": user.id if user else None,
        "score": answer.score, "scale": answer.unit.scale, "reason": answer.reason,
        "comment": answer.comment, "segment": answer.segment, "lang": answer.lang, "kind": kind,
        "answered_at": answer.answered_at, "received_at": utcnow(), "flags": flags,
    }
    engine = db.engine
    statement, kiosk_statement = RESPONSE_INSERTS[engine.dialect.name]
    window = timedelta(seconds=answer.unit.repeat_window_s or 0)
    if device is not None and window:
        statement = kiosk_statement
        values.update(repeat_device_id=device.id, repeat_after=answer.answered_at - window,
                      repeat_until=answer.answered_at, repeat_flags=(flags + " repeat").strip(),
                      plain_flags=values.pop("flags"))
    negative = answer.score is not None and stats.SCALES[answer.unit.scale].polarity(answer.score) == "negative"
    unit_id = answer.unit.id  # read before the commit, which expires ORM objects
    alone = prepared.session_idle(db.session)
    if alone:
        # Nothing read or written in this session yet (a kiosk's answer, mostly): the insert is a
        # transaction by itself on the thread's own connection, its compiled form prepared once.
        inserted = PREPARED_INSERTS[statement].run(engine, values) == 1
    else:
        # On the session's connection: the same transaction as what the request did before, without
        # the ORM's per-statement work. On SQLite the insert commits by itself when nothing was
        # written before it (server/sqlite.py).
        result = db.session.connection().execute(statement, values, execution_options=sqlite.SINGLE_STATEMENT)
        inserted = result.first() is not None if result.returns_rows else result.rowcount == 1
        db.session.commit()
    if inserted:
        if negative:
            _check_alerts(unit_id)
        return "stored"
    if alone:  # a replay from a kiosk's queue, as often as not: read back the same way, no session either
        existing = PREPARED_STORED_CONTENT.first(engine, {"id": answer.id})
    else:
        existing = db.session.connection().execute(STORED_CONTENT, {"id": answer.id}).first()
        db.session.commit()
    if existing is None:  # deleted between the insert and the read: only retention does that
        raise RuntimeError(f"answer {answer.id} was neither stored nor found")
    if not same_content(existing, answer):
        raise ApiError(409, "an answer with this id exists with other content", "id")
    return "duplicate"


def _check_alerts(unit_id):
    """Evaluate the unit's alert rules; the answer is stored already, so a failure here is only logged."""
    try:
        alerts.check_unit(unit_id)
    except Exception:  # noqa: BLE001 - an acknowledged answer must not be reported as failed
        db.session.rollback()
        logger.exception("alert rules of unit %s could not be evaluated", unit_id)


def validate_scale(scale):
    if scale not in SCALE_NAMES:
        raise ApiError(422, f"scale must be one of {', '.join(SCALE_NAMES)}", "scale")
    return scale
