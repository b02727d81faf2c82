"""Kiosk offline hours: the opening hours in which an enrolled tablet was not heard from at all."""

from datetime import timedelta

from sqlalchemy import func

from . import alerts
from .models import Device, DeviceContact, db, hour_start, utcnow

HOUR = timedelta(hours=1)


def offline_hours(units, start, end, tz_name, now=None):
    """Return {unit id: [{"device", "offline_hours", "opening_hours"}]} for the units' kiosks in [start, end).

    An hour counts when it is an opening hour of the unit's silent-kiosk rule, lies wholly
    within the time the tablet was enrolled and not revoked, has ended, and falls after the
    contact history began (Hymy before this history, or purged history, is never counted as
    offline). It is offline when the tablet made no contact in it: no heartbeat, no answer.
    """
    now = now or utcnow()
    end = min(end, hour_start(now))
    first = db.session.execute(db.select(func.min(DeviceContact.hour))).scalar_one()
    if first is None or end <= start:
        return {}
    # The first recorded hour may have begun before recording did: count from the next one.
    known_from = alerts.aware_utc(first) + HOUR
    devices = list(db.session.execute(
        db.select(Device).where(Device.unit_id.in_([unit.id for unit in units]), Device.enrolled_at.is_not(None),
                                Device.enrolled_at < end,
                                db.or_(Device.revoked_at.is_(None), Device.revoked_at > start))
        .order_by(Device.id)
    ).scalars())
    if not devices:
        return {}
    contacts = {tuple(row) for row in db.session.execute(
        db.select(DeviceContact.device_id, DeviceContact.hour)
        .where(DeviceContact.device_id.in_([device.id for device in devices]),
               DeviceContact.hour >= start, DeviceContact.hour < end)
    )}
    rules = alerts.rules_by_unit([unit for unit in units if unit.id in {d.unit_id for d in devices}], "kiosk_silent")
    intervals = {unit_id: alerts.opening_intervals(start, end, rule.opening or alerts.DEFAULT_OPENING, tz_name)
                 for unit_id, rule in rules.items()}
    found = {}
    for device in devices:
        counted_from = max(start, known_from, _hour_ceiling(device.enrolled_at))
        counted_to = min(end, hour_start(device.revoked_at)) if device.revoked_at else end
        expected = offline = timedelta()
        for open_at, close_at in intervals[device.unit_id]:
            open_at, close_at = max(open_at, counted_from), min(close_at, counted_to)
            hour = hour_start(open_at)
            while hour < close_at:
                overlap = min(hour + HOUR, close_at) - max(hour, open_at)
                expected += overlap
                if (device.id, hour) not in contacts:
                    offline += overlap
                hour += HOUR
        if expected:
            found.setdefault(device.unit_id, []).append({
                "device": device.label, "offline_hours": _hours(offline), "opening_hours": _hours(expected),
            })
    return found


def _hour_ceiling(moment):
    floor = hour_start(moment)
    return floor if floor == moment else floor + HOUR


def _hours(span):
    """Return a span in whole hours, half an hour rounding up."""
    return int(span / HOUR + 0.5)
