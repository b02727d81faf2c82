"""Staff: logging spoken (and phoned, mailed, written) feedback in a few seconds."""

import uuid
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from . import answers, stats
from .auth import can, get_unit_for_user, role_required, visible_units
from .errors import ApiError
from .labels import CHANNEL_LABELS, face_label, reason_label
from .models import KINDS, Response, db, utcnow

bp = Blueprint("staff", __name__, url_prefix="/staff")

# The channels a person can hear or receive feedback through (kiosk, QR and import are machines).
LOG_CHANNELS = ("spoken", "phone", "email", "letter", "complaint", "reminder", "expert")
KIND_LABELS = {"praise": _l("Praise"), "suggestion": _l("Suggestion"), "complaint": _l("Complaint")}
EDIT_WINDOW = timedelta(minutes=15)
RECENT_ENTRIES = 10
# Where answers.validate names a field, which form field shows the message.
FORM_FIELDS = {"score": "score", "reason": "reason", "comment": "comment", "unit": "unit"}


class EntryForm(FlaskForm):
    """What a client said: kind, channel, an optional score and reason, and a short text."""

    kind = RadioField(_l("What kind of feedback"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS], default="praise")
    channel = RadioField(
        _l("How it came"), choices=[SelectChoice(c, CHANNEL_LABELS[c]) for c in LOG_CHANNELS], default="spoken"
    )
    score = RadioField(_l("Score the client gave"), choices=[], default="")
    reason = RadioField(_l("Reason"), choices=[], default="")
    comment = TextAreaField(
        _l("What was said"), validators=[Optional(), Length(max=answers.MAX_COMMENT)],
        description=_l("Leave out names and contact details."),
    )

    def for_unit(self, unit):
        """Offer the unit's scale and reason keys; return the form."""
        scores = stats.SCALES[unit.scale].scores
        self.score.choices = [SelectChoice("", _("No score"))] + [
            SelectChoice(str(s), face_label(unit.scale, s)) for s in scores
        ]
        self.reason.choices = [SelectChoice("", _("No reason"))] + [
            SelectChoice(k, reason_label(unit, k)) for k in unit.reason_keys()
        ]
        return self

    def validate(self, extra_validators=None):
        """Also require a text or a score, as the API does."""
        valid = super().validate(extra_validators)
        if valid and not (self.comment.data or "").strip() and not self.score.data:
            self.comment.errors.append(_("Write what was said, or choose the score the client gave."))
            valid = False
        return valid

    def payload(self, entry_id, unit):
        """Return the form's values as an API payload for answers.validate."""
        return {
            "id": entry_id,
            "unit": unit.code,
            "score": int(self.score.data) if self.score.data else None,
            "reason": self.reason.data or None,
            "comment": self.comment.data or None,
        }

    def apply_error(self, exc):
        """Show an ApiError from answers.validate next to the field it names."""
        field = FORM_FIELDS.get(exc.field)
        if field is not None and field in self:
            self[field].errors = [*self[field].errors, exc.message]
        else:
            self.form_errors.append(exc.message)


class LogForm(EntryForm):
    id = HiddenField()
    unit = SelectField(_l("Unit"), choices=[])


def loggable_units(user):
    """Return the units the user may log feedback for."""
    return [unit for unit in visible_units(user) if can(user, "log", unit)]


def editable(entry):
    """Tell whether an entry is still young enough to be corrected or deleted."""
    return entry.received_at > utcnow() - EDIT_WINDOW


def get_own_entry(entry_id):
    """Return the current user's own entry for a unit they may still log for; else 404."""
    entry = db.session.get(Response, entry_id)
    if entry is None or entry.user_id != current_user.id or not can(current_user, "log", entry.unit):
        abort(404)
    return entry


def recent_entries(user):
    return list(db.session.execute(
        db.select(Response)
        .where(Response.user_id == user.id)
        .order_by(Response.received_at.desc(), Response.answered_at.desc())
        .limit(RECENT_ENTRIES)
    ).scalars())


def _chosen_unit(units):
    """Pick the unit to log for: the one asked for, else the last one used, else the first."""
    by_code = {unit.code: unit for unit in units}
    for code in (request.args.get("unit"), session.get("staff_unit")):
        if code in by_code:
            return by_code[code]
    return units[0]


@bp.route("/log", methods=["GET", "POST"])
@role_required("log")
def log():
    units = loggable_units(current_user)
    if not units:
        return render_template(
            "staff/log.html", form=None, units=[], entries=recent_entries(current_user), **_entry_labels()
        )
    if request.method == "POST":
        # A unit outside the person's scope is refused before anything else is looked at.
        unit = get_unit_for_user(request.form.get("unit") or _chosen_unit(units).code, "log")
    else:
        unit = _chosen_unit(units)
    form = LogForm(unit=unit.code).for_unit(unit)
    form.unit.choices = [SelectChoice(u.code, u.name) for u in units]
    if request.method == "GET":
        # The idempotency key: a double submit of this form stores one entry.
        form.id.data = str(uuid.uuid4())
    elif form.validate_on_submit():
        try:
            answer = answers.validate(form.payload(form.id.data, unit), lambda code: unit)
            answers.store(answer, form.channel.data, user=current_user, kind=form.kind.data)
        except ApiError as exc:
            if exc.field == "id":
                # Sent before with other words (409), or a missing or broken key: offer a fresh one.
                form.id.data = str(uuid.uuid4())
                form.form_errors.append(_(
                    "This form had already been sent, or it had expired. Check your recent entries "
                    "below; send again to save this as a new entry."
                ))
            else:
                form.apply_error(exc)
        else:
            session["staff_unit"] = unit.code
            flash(_("Saved."), "info")
            return redirect(url_for("staff.log", unit=unit.code))
    return render_template(
        "staff/log.html", form=form, units=units, unit=unit, entries=recent_entries(current_user),
        **_entry_labels(),
    )


@bp.route("/entries/<entry_id>/edit", methods=["GET", "POST"])
@role_required("log")
def edit(entry_id):
    entry = get_own_entry(entry_id)
    if not editable(entry):
        return _too_late()
    form = EntryForm(data={
        "kind": entry.kind or "praise",
        "channel": entry.channel,
        "score": "" if entry.score is None else str(entry.score),
        "reason": entry.reason or "",
        "comment": entry.comment or "",
    }).for_unit(entry.unit)
    if form.validate_on_submit():
        try:
            answer = answers.validate(form.payload(entry.id, entry.unit), lambda code: entry.unit)
        except ApiError as exc:
            form.apply_error(exc)
        else:
            entry.kind = form.kind.data
            entry.channel = form.channel.data
            entry.score = answer.score
            entry.reason = answer.reason
            entry.comment = answer.comment
            db.session.commit()
            flash(_("Entry corrected."), "info")
            return redirect(url_for("staff.log", unit=entry.unit.code))
    return render_template("staff/edit.html", form=form, entry=entry)


@bp.post("/entries/<entry_id>/delete")
@role_required("log")
def delete(entry_id):
    entry = get_own_entry(entry_id)
    if not editable(entry):
        return _too_late()
    unit_code = entry.unit.code
    db.session.delete(entry)
    db.session.commit()
    flash(_("Entry deleted."), "info")
    return redirect(url_for("staff.log", unit=unit_code))


def _too_late():
    flash(_("Entries can be corrected or deleted for 15 minutes only."), "error")
    return redirect(url_for("staff.log"))


def _entry_labels():
    return {
        "kind_labels": KIND_LABELS, "channel_labels": CHANNEL_LABELS, "reason_label": reason_label,
        "face_label": face_label,
        "editable": lambda entry: editable(entry) and can(current_user, "log", entry.unit),
    }
