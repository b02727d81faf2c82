"""The JSON API: answers from kiosks and phones, device enrolment, the OpenAPI description."""

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from threading import Lock

from flask import Blueprint, current_app, jsonify, request

from . import answers, memo
from .errors import ApiError
from .models import Device, Unit, db, hash_secret, record_contact, utcnow
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body():
    """Return the request's JSON object, or raise a 4xx that names what is wrong."""
    if request.mimetype != "application/json":
        raise ApiError(415, "the body must be application/json", "body")
    length = request.content_length
    if length is not None and length > current_app.config["HYMY_API_MAX_BODY"]:
        raise ApiError(413, "the body is too large", "body")
    data = request.get_data(cache=True)
    if len(data) > current_app.config["HYMY_API_MAX_BODY"]:
        raise ApiError(413, "the body is too large", "body")
    try:
        # The bytes read above, parsed as request.get_json() would (UTF-8, -16 or -32), without its checks again.
        payload = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        raise ApiError(400, "the body is not valid JSON", "body") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    if data.isascii() and b"\\" not in data:
        # ASCII without escapes holds neither: JSON forbids a raw NUL, and a lone surrogate takes
        # an escape or non-ASCII bytes (the JSON decoder lets UTF-8 and UTF-16 ones through raw).
        # Most kiosk bodies are such ASCII.
        return payload
    try:
        # JSON may escape lone surrogates (\ud800) that no UTF-8 text, and so no database, can hold.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "the body holds text that is not valid Unicode", "body") from None
    for field, value in payload.items():
        # PostgreSQL text cannot hold NUL; no field of ours has a use for it.
        if _holds_nul(field) or _holds_nul(value):
            raise ApiError(422, f"{field!r} contains a NUL character", field.replace("\x00", ""))
    return payload


def _holds_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def bearer_token_hash():
    """Return the hash of the Authorization header's device token, None without the header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization must be 'Bearer <device token>'", "Authorization")
    return hash_secret(token.strip())


@dataclass(frozen=True)
class Kiosk:
    """An enrolled device as the API sees it, with its unit."""

    id: int
    last_seen_at: datetime | None
    unit: answers.UnitSnapshot
    token_hash: str

    def lookup_unit(self, code):
        """Return the unit with the code: the kiosk's own without another query."""
        return self.unit if code == self.unit.code else answers.unit_snapshot(code)


DEVICES = Device.__table__.c
KIOSK_BY_TOKEN = (
    db.select(DEVICES.id, DEVICES.last_seen_at, *answers.SNAPSHOT_COLUMNS)
    .join_from(Device.__table__, Unit.__table__)
    .where(DEVICES.token_hash == db.bindparam("token_hash"), DEVICES.revoked_at.is_(None))
)
MARK_SEEN = db.update(Device.__table__).where(DEVICES.id == db.bindparam("device_id"))
# Kiosks are remembered (bearer_kiosk): what KIOSK_BY_TOKEN filters and joins on, and the unit it reads.
memo.watch("device", ("token_hash", "revoked_at", "unit_id"))
memo.watch("unit", (column.name for column in answers.SNAPSHOT_COLUMNS))


def bearer_kiosk():
    """Return the header's enrolled device as a Kiosk, None without the header.

    Answers and heartbeats both authenticate here; a revoked or unknown token is a 401. A known
    token is remembered for a few seconds (server/memo.py): most answers read nothing here.
    """
    token_hash = bearer_token_hash()
    if token_hash is None:
        return None
    kiosk = memo.of_app().kiosks.get(token_hash, _load_kiosk)
    if kiosk is None:
        raise ApiError(401, "this device token is unknown or revoked: enrol the kiosk again", "Authorization")
    return kiosk


def _load_kiosk(token_hash):
    """Read the enrolled device with the token hash and its unit: one Core read, no ORM state."""
    row = db.session.connection().execute(KIOSK_BY_TOKEN, {"token_hash": token_hash}).first()
    return None if row is None else Kiosk(row[0], row[1], answers.UnitSnapshot(*row[2:]), token_hash)


class RateLimiter:
    """A sliding-window limit per key, in memory; keys are never stored anywhere else."""

    def __init__(self):
        self.hits = {}
        self.lock = Lock()

    def allow(self, key, limit, window=60.0):
        now = time.monotonic()
        with self.lock:
            if len(self.hits) > 10000:
                self.hits = {k: q for k, q in self.hits.items() if q and q[-1] > now - window}
            queue = self.hits.setdefault(key, deque())
            while queue and queue[0] <= now - window:
                queue.popleft()
            if len(queue) >= limit:
                return False
            queue.append(now)
            return True


def anonymous_limiter():
    """The app's limiter for answers without a device token (one per process, in memory)."""
    return current_app.extensions.setdefault("hymy_anonymous_limiter", RateLimiter())


@bp.post("/responses")
def post_response():
    """Store one answer, exactly once."""
    kiosk = bearer_kiosk()
    payload = json_body()
    if kiosk is None:
        # Anonymous web/QR answers are throttled per address, held only in memory.
        limit = current_app.config["HYMY_ANON_RATE_PER_MINUTE"]
        if not anonymous_limiter().allow(request.remote_addr or "?", limit):
            raise ApiError(429, "too many answers from this address; try again in a minute")
    answer = answers.validate(payload, answers.unit_snapshot if kiosk is None else kiosk.lookup_unit)
    if kiosk is not None:
        if answer.unit.id != kiosk.unit.id:
            raise ApiError(403, "this device is enrolled for another unit", "unit")
        _mark_seen(kiosk)
        return _stored_response(answer, answers.store(answer, "kiosk", device=kiosk))
    # One answer per browser per unit per period counts; later ones are kept, flagged "repeat".
    hours = current_app.config["HYMY_PHONE_REPEAT_HOURS"]
    marker = f"hymy_answered_{answer.unit.code}"
    repeat = bool(hours and request.cookies.get(marker))
    status = answers.store(answer, "qr", flags="repeat" if repeat else "")
    response = _stored_response(answer, status)
    if hours and status == "stored" and not repeat:
        response.set_cookie(marker, "1", max_age=hours * 3600, path=request.path, httponly=True,
                            samesite="Strict", secure=request.is_secure)
    return response


def _stored_response(answer, status):
    """The reply to a stored or repeated answer: 201 or 200, its id and status as JSON.

    Made directly, not by jsonify: its provider's options cost more than this small body.
    """
    body = json.dumps({"id": answer.id, "status": status})
    return current_app.response_class(body, 201 if status == "stored" else 200, mimetype="application/json")


def _mark_seen(kiosk):
    """Record the kiosk's contact; most answers write nothing here (see models.record_contact)."""
    seen = record_contact(kiosk.id, kiosk.last_seen_at, utcnow())
    if seen is not None:
        db.session.connection().execute(MARK_SEEN, {"device_id": kiosk.id, "last_seen_at": seen})
        memo.of_app().kiosks.replace(kiosk.token_hash, replace(kiosk, last_seen_at=seen))


@bp.post("/devices/enrol")
def enrol_device():
    """Exchange a one-time enrolment code for a device token."""
    payload = json_body()
    code = payload.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(422, "code must be the enrolment code from the link", "code")
    now = utcnow()
    token = secrets.token_urlsafe(32)
    # One conditional UPDATE consumes the code: of two simultaneous calls, exactly one wins.
    claimed = db.session.execute(
        db.update(Device)
        .where(Device.enrol_code_hash == hash_secret(code), Device.enrol_expires_at > now)
        .values(token_hash=hash_secret(token), enrol_code_hash=None, enrol_expires_at=None, enrolled_at=now,
                revoked_at=None, last_seen_at=now)
        .returning(Device.unit_id)
    ).scalar_one_or_none()
    if claimed is None:
        db.session.rollback()
        raise ApiError(401, "this enrolment code is used, expired or unknown", "code")
    db.session.commit()
    memo.of_app().forget()  # the device's earlier token, remembered, is void now
    unit = db.session.get(Unit, claimed)
    return jsonify({"token": token, "unit": unit.code}), 201


@bp.post("/devices/heartbeat")
def device_heartbeat():
    """Record a kiosk's health: app version, queue length, oldest queued answer, last send."""
    kiosk = bearer_kiosk()
    if kiosk is None:
        raise ApiError(401, "a heartbeat needs the device token", "Authorization")
    payload = json_body()
    version = payload.get("app_version")
    if version is not None and (not isinstance(version, str) or len(version) > 40):
        raise ApiError(422, "app_version must be a short string", "app_version")
    queued = payload.get("queued", 0)
    if isinstance(queued, bool) or not isinstance(queued, int) or not 0 <= queued <= 10_000_000:
        raise ApiError(422, "queued must be a whole number of answers", "queued")
    times = {}
    for field in ("oldest_queued_at", "last_sent_at"):
        value = payload.get(field)
        times[field] = None if value is None else answers.parse_time(value, field=field, check_range=False)
    error = payload.get("last_error")
    if error is not None and not isinstance(error, str):
        raise ApiError(422, "last_error must be a string", "last_error")
    device = db.session.get(Device, kiosk.id)
    device.app_version = version
    device.queued_count = queued
    device.oldest_queued_at = times["oldest_queued_at"]
    device.last_sent_at = times["last_sent_at"] or device.last_sent_at
    if error:
        device.last_error = error[:300]
    device.mark_seen()
    db.session.commit()
    return jsonify({"status": "ok", "unit": kiosk.unit.code})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["HYMY_BASE_URL"]))
