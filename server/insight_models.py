"""Models of the insight features: praise wall links, alert rules and the alerts they raise."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Area, Unit, User, db, new_code, utcnow


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
    """A unit's alert rule: at least threshold_pct % negative within window_minutes, over min_answers."""

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="negative_share")
    window_minutes: Mapped[int] = mapped_column(default=15)
    min_answers: Mapped[int] = mapped_column(default=4)
    threshold_pct: Mapped[int] = mapped_column(default=50)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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

    rule: Mapped[AlertRule] = relationship()
    unit: Mapped[Unit] = relationship()
    acknowledged_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_alert_unit_fired", "unit_id", "fired_at"),)
