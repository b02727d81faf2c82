"""SQLAlchemy 2.0 typed models: areas, units, devices, responses, users."""

import hashlib
import secrets
from datetime import UTC, date, datetime, timedelta

from flask_babel import get_locale, gettext
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, String, Table, TypeDecorator, literal_column, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship
from werkzeug.security import check_password_hash, generate_password_hash

LANGS = ("fi", "sv", "en")
SCALE_NAMES = ("smiley5", "smiley4", "nps")
ROLES = ("admin", "director", "manager", "staff")
KINDS = ("praise", "suggestion", "complaint")
CHANNELS = (
    "kiosk", "qr", "spoken", "phone", "email", "letter", "complaint", "reminder", "expert", "import",
)
DEFAULT_REASONS_POSITIVE = ["staff_attitude", "being_heard", "information", "waiting_time", "facilities"]
DEFAULT_REASONS_NEGATIVE = ["waiting_time", "staff_attitude", "information", "being_heard", "facilities"]
# Readable, unambiguous: no 0/o, 1/l/i.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def utcnow():
    return datetime.now(UTC)


def hour_start(moment):
    """Return the start of the UTC hour the moment lies in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def new_code(length=10):
    """Return a short, random, unguessable public code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def hash_secret(value):
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def reason_keys(reasons_positive, reasons_negative):
    """Return every reason key a client may send for a unit with these reasons."""
    return list(dict.fromkeys(reasons_positive + reasons_negative + ["other"]))


class UTCDateTime(TypeDecorator):
    """Store naive UTC on every backend; hand back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)

    def bind_processor(self, dialect):
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value):
            # process_bind_param and SQLite's DATETIME text in one call: every answer binds two or
            # more times, and the two-step chain cost more than the insert's other values together.
            # The text is the one SQLAlchemy writes (zero-padded, always microseconds): a test holds them equal.
            if value is None:
                return None
            if value.tzinfo is not UTC:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column")
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


class Base(DeclarativeBase):
    # none_as_null: a Python None is SQL NULL, not the JSON text 'null', so IS NULL finds it.
    registry = registry(type_annotation_map={
        datetime: UTCDateTime, dict: JSON(none_as_null=True), list: JSON(none_as_null=True),
    })


db = SQLAlchemy(model_class=Base)


def pick_lang(texts, lang=None):
    """Return the text for the language, falling back through fi, sv, en."""
    if not texts:
        return ""
    lang = lang or str(get_locale() or "fi")
    for candidate in (lang, "fi", "sv", "en"):
        if texts.get(candidate):
            return texts[candidate]
    return next(iter(texts.values()), "")


class Area(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True, default=new_code)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    units: Mapped[list["Unit"]] = relationship(back_populates="area")

    def as_ref(self):
        return {"code": self.code, "name": self.name}


class Unit(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True, default=new_code)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), index=True)
    names: Mapped[dict] = mapped_column(default=dict)
    questions: Mapped[dict] = mapped_column(default=dict)
    scale: Mapped[str] = mapped_column(String(16), default="smiley5")
    default_lang: Mapped[str] = mapped_column(String(2), default="fi")
    reasons_positive: Mapped[list] = mapped_column(default=lambda: list(DEFAULT_REASONS_POSITIVE))
    reasons_negative: Mapped[list] = mapped_column(default=lambda: list(DEFAULT_REASONS_NEGATIVE))
    # {key: {lang: label}} for keys that are not among the default reason keys.
    reason_labels: Mapped[dict] = mapped_column(default=dict)
    repeat_window_s: Mapped[int] = mapped_column(default=5)
    # Optional one-tap segment questions: [{"key": "who", "labels": {lang: text},
    #   "options": [{"value": "client", "labels": {lang: text}}, ...]}, ...]
    segment_questions: Mapped[list] = mapped_column(default=list)
    easy_read: Mapped[bool] = mapped_column(default=False, server_default=db.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    area: Mapped[Area | None] = relationship(back_populates="units")
    devices: Mapped[list["Device"]] = relationship(back_populates="unit", order_by="Device.id")

    @property
    def name(self):
        return pick_lang(self.names)

    def question(self, lang=None):
        return pick_lang(self.questions, lang)

    def reason_keys(self):
        """Return every reason key a client may send for this unit."""
        return reason_keys(self.reasons_positive, self.reasons_negative)

    def as_json(self):
        return {
            "code": self.code,
            "name": self.names.get(self.default_lang) or self.name,
            "names": self.names,
            "scale": self.scale,
            "area": self.area.as_ref() if self.area else None,
        }


class Device(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_expires_at: Mapped[datetime | None]
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    app_version: Mapped[str | None] = mapped_column(String(40))
    queued_count: Mapped[int | None]
    oldest_queued_at: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]
    # The last answer the server refused (other than 401/5xx), as the kiosk reported it.
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="devices")

    ENROL_VALID = timedelta(hours=24)

    def new_enrolment_code(self):
        """Set and return a fresh one-time enrolment code, valid for 24 hours."""
        code = secrets.token_urlsafe(16)
        self.enrol_code_hash = hash_secret(code)
        self.enrol_expires_at = utcnow() + self.ENROL_VALID
        return code

    SEEN_GRANULARITY = timedelta(seconds=30)

    def mark_seen(self, now=None):
        """Record contact, as a heartbeat does: last_seen_at and, once an hour, a DeviceContact row."""
        self.last_seen_at = record_contact(self.id, self.last_seen_at, now or utcnow(), throttle=False)

    @property
    def label(self):
        """Name the tablet as the unit page's tablet list does."""
        return self.name or gettext("Tablet %(n)s", n=self.unit.devices.index(self) + 1)

    def warnings(self, silent_after, queue_after, now=None):
        """Say what a manager should look at: a silent kiosk, or answers waiting too long on it."""
        if self.status != "enrolled":
            return []
        now = now or utcnow()
        found = []
        if self.last_seen_at is None or now - self.last_seen_at > silent_after:
            found.append("silent")
        if self.queued_count and self.oldest_queued_at and now - self.oldest_queued_at > queue_after:
            found.append("queue")
        return found

    @property
    def status(self):
        if self.revoked_at:
            return "revoked"
        if self.token_hash:
            return "enrolled"
        if self.enrol_expires_at and self.enrol_expires_at > utcnow():
            return "pending"
        return "expired"


def record_contact(device_id, last_seen_at, now, throttle=True):
    """Record a device's contact at now; return the last_seen_at to store, None when it may stay as it is.

    last_seen_at in another hour means this hour has no contact row yet: one insert per device
    and hour, made idempotent for the servers or threads that race to it.
    """
    hour = hour_start(now)
    new_hour = last_seen_at is None or hour_start(last_seen_at) != hour
    if new_hour:
        DeviceContact.record(device_id, hour)
    if not throttle or new_hour or now - last_seen_at >= Device.SEEN_GRANULARITY:
        return now
    return None


class DeviceContact(db.Model):
    """An hour (UTC) in which an enrolled kiosk was heard from: its offline opening hours are the others."""

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)

    # Retention deletes by hour, and the history's first hour is looked up.
    __table_args__ = (Index("ix_device_contact_hour", "hour"),)

    INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

    @classmethod
    def record(cls, device_id, hour):
        """Insert the device's contact hour unless it is there already."""
        insert = cls.INSERTS[db.session.get_bind().dialect.name]
        db.session.execute(insert(cls).values(device_id=device_id, hour=hour).on_conflict_do_nothing())


class Response(db.Model):
    # The client-generated UUID is the primary key: the idempotency key.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    channel: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    score: Mapped[int | None]
    scale: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(String(2000))
    segment: Mapped[dict | None]
    lang: Mapped[str | None] = mapped_column(String(2))
    answered_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What a staff-logged remark is: praise, suggestion or complaint; None for client answers.
    kind: Mapped[str | None] = mapped_column(String(16))
    # Space-separated flags such as "repeat"; empty when the answer counts.
    flags: Mapped[str] = mapped_column(String(64), default="")

    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        # Covers the figures' grouped counts (unit, time, flags, scale, score, reason): the
        # dashboard, area view and detector read the index alone, never the table.
        Index("ix_response_unit_answered_cover", "unit_id", "answered_at", "flags", "scale", "score", "reason"),
        # The few answers that carry a segment, found without reading the others.
        Index("ix_response_segmented", "unit_id", "answered_at", sqlite_where=text("segment IS NOT NULL"),
              postgresql_where=text("segment IS NOT NULL")),
        # A kiosk's answers: the repeat check and the silent-kiosk alert. Only kiosks' answers have a
        # device; phone, staff and imported answers would fill the index with empty entries.
        Index("ix_response_device_answered", "device_id", "answered_at", sqlite_where=text("device_id IS NOT NULL"),
              postgresql_where=text("device_id IS NOT NULL")),
        # The latest comments and the staff's remarks, found without reading every answer of the unit.
        Index("ix_response_commented", "unit_id", "answered_at",
              sqlite_where=text("comment IS NOT NULL AND comment != ''"),
              postgresql_where=text("comment IS NOT NULL AND comment != ''")),
        Index("ix_response_logged", "unit_id", "answered_at", sqlite_where=text("kind IS NOT NULL"),
              postgresql_where=text("kind IS NOT NULL")),
    )


# An answer with a comment, written as ix_response_commented's own condition (a literal, not a
# parameter) so that the planner picks that index.
HAS_COMMENT = (Response.comment.is_not(None), Response.comment != literal_column("''"))


class ResponseWeek(db.Model):
    """Answers with a score, counted per unit, local week (HYMY_TIMEZONE) and what the figures group by.

    Database triggers on `response` keep it exact on every write (API, staff log, import,
    purge): see server/rollup.py. A SQLite migration that copies `response` over (batch
    "move and copy") drops those triggers and must create them again.
    """

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    monday: Mapped[date] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    # flags == "": the answer counts in the figures.
    counted: Mapped[bool] = mapped_column(primary_key=True)
    scale: Mapped[str] = mapped_column(String(16), primary_key=True)
    score: Mapped[int] = mapped_column(primary_key=True)
    # "" for no reason: a primary key has no NULLs.
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int]

    # On SQLite the rows live in the primary key's own tree: one write a trigger, not two.
    __table_args__ = {"sqlite_with_rowid": False}


class RollupZone(db.Model):
    """The UTC offsets of the zone the weekly rollup is counted in, each from the moment it starts."""

    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    offset_minutes: Mapped[int]
    zone: Mapped[str] = mapped_column(String(64))


user_units = Table(
    "user_unit",
    db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True),
)
user_areas = Table(
    "user_area",
    db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("area.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    # The language of the person's pages after sign-in and of their e-mail; None: HYMY_DEFAULT_LANG.
    lang: Mapped[str | None] = mapped_column(String(2))
    # Part of the session's user id: a new password bumps it and signs out every other session.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    units: Mapped[list[Unit]] = relationship(secondary=user_units)
    areas: Mapped[list[Area]] = relationship(secondary=user_areas)

    @property
    def is_active(self):
        return self.active

    def set_password(self, password):
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.session_version = (self.session_version or 0) + 1

    def get_id(self):
        return f"{self.id}.{self.session_version}"

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)
