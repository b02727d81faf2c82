"""Models of the insight features: praise wall links, alert rules and the alerts they raise, digests sent."""

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Area, Device, Unit, User, db, new_code, utcnow


class WallLink(db.Model):
    """A revocable, read-only link to a unit's or an area's praise wall: /wall/<code>."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: new_code(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    unit: Mapped[Unit | None] = relationship()
    area: Mapped[Area | None] = relationship()

    @property
    def active(self):
        return self.revoked_at is None


class AlertRule(db.Model):
    """A unit's alert rule: a burst of negative answers, or a kiosk silent for some opening hours."""

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="negative_share")
    window_minutes: Mapped[int] = mapped_column(default=15)
    min_answers: Mapped[int] = mapped_column(default=4)
    threshold_pct: Mapped[int] = mapped_column(default=50)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # kiosk_silent: opening hours without an answer, and when the unit is open in HYMY_TIMEZONE:
    # {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "16:00"} (Monday is 0).
    hours: Mapped[int | None]
    opening: Mapped[dict | None]

    unit: Mapped[Unit] = relationship()


class Alert(db.Model):
    """A rule that fired: what it saw, and who acknowledged it with what comment."""

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    answers: Mapped[int]
    negative: Mapped[int]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(Text)
    # The silent kiosk, for kiosk_silent alerts.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))

    rule: Mapped[AlertRule] = relationship()
    unit: Mapped[Unit] = relationship()
    device: Mapped[Device | None] = relationship()
    acknowledged_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_alert_unit_fired", "unit_id", "fired_at"),)

    @property
    def device_label(self):
        """Name the silent tablet as the unit page's tablet list does."""
        return _("A tablet") if self.device is None else self.device.label


class DigestSent(db.Model):
    """A week's digest of a unit or an area e-mailed to a person: sending that week's digests again skips it."""

    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYY-Www
    about: Mapped[str] = mapped_column(String(48), primary_key=True)  # "unit CODE" or "area CODE"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
