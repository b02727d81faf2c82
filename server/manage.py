"""What managers and administrators see: units, their tallies, kiosks and downloads."""

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from . import interchange, org, reports, stats
from .auth import can, get_unit_for_user, role_required, visible_units
from .labels import CHANNEL_LABELS, face_label, reason_label
from .models import SCALE_NAMES, Device, Response, db, utcnow

bp = Blueprint("manage", __name__, url_prefix="/manage")


class UnitForm(FlaskForm):
    name_fi = StringField(_l("Name in Finnish"), validators=[DataRequired(), Length(max=200)])
    name_sv = StringField(_l("Name in Swedish"), validators=[Optional(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    question_fi = StringField(_l("Question in Finnish"), validators=[Optional(), Length(max=300)])
    question_sv = StringField(_l("Question in Swedish"), validators=[Optional(), Length(max=300)])
    question_en = StringField(_l("Question in English"), validators=[Optional(), Length(max=300)])
    area = StringField(_l("Area"), validators=[Optional(), Length(max=200)])
    scale = SelectField(_l("Scale"), choices=[(s, s) for s in SCALE_NAMES])
    default_lang = SelectField(_l("Default language"), choices=[("fi", "Suomi"), ("sv", "Svenska"), ("en", "English")])
    reasons_positive = TextAreaField(_l("Reasons offered after a positive answer (keys, one per line, at most six)"))
    reasons_negative = TextAreaField(_l("Reasons offered after a negative answer (keys, one per line, at most six)"))
    repeat_window_s = IntegerField(_l("Repeat-press window in seconds"), default=5, validators=[NumberRange(0, 600)])

    def validate_reasons_positive(self, field):
        _check_reason_keys(field)

    def validate_reasons_negative(self, field):
        _check_reason_keys(field)


def _reason_keys(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _check_reason_keys(field):
    from wtforms.validators import ValidationError

    keys = _reason_keys(field.data)
    if len(keys) > 6:
        raise ValidationError(_("At most six reasons."))
    for key in keys:
        if not key.replace("_", "").isalnum() or not key.isascii() or len(key) > 64:
            raise ValidationError(_("Reason keys are short words of letters, digits and underscores."))


class DeviceForm(FlaskForm):
    name = StringField(_l("Name of the tablet"), validators=[Optional(), Length(max=200)])


@bp.get("/")
@role_required("log")
def home():
    if current_user.role == "staff":
        units = visible_units(current_user)
        return render_template("manage/home.html", units=units, cards=None)
    tz = current_app.config["HYMY_TIMEZONE"]
    first, end = week_window(tz)
    units = visible_units(current_user)
    cards = [(u, reports.tally([u], first, end)) for u in units]
    return render_template("manage/home.html", units=units, cards=cards)


def week_window(tz_name):
    today = stats.today(tz_name)
    start, _ = stats.day_range(stats.week_start(today), today, tz_name)
    _, end = stats.day_range(today, today, tz_name)
    return start, end


@bp.get("/units/<code>")
@role_required("view")
def unit(code):
    unit = get_unit_for_user(code, "view")
    tz = current_app.config["HYMY_TIMEZONE"]
    today = stats.today(tz)
    windows = [
        ("today", _("Today"), *stats.day_range(today, today, tz)),
        ("yesterday", _("Yesterday"), *stats.day_range(today - timedelta(days=1), today - timedelta(days=1), tz)),
        ("week", _("This week"), *stats.day_range(stats.week_start(today), today, tz)),
    ]
    show_flagged = request.args.get("flagged") == "1"
    tallies = [(key, label, reports.tally([unit], start, end, include_flagged=show_flagged)) for key, label, start, end in windows]
    faces = [(s, face_label(unit.scale, s)) for s in stats.SCALES[unit.scale].scores]
    latest = db.session.execute(
        db.select(Response).where(Response.unit_id == unit.id, Response.comment.is_not(None))
        .order_by(Response.answered_at.desc()).limit(10)
    ).scalars().all()
    return render_template(
        "manage/unit.html", unit=unit, tallies=tallies, faces=faces, latest=latest,
        show_flagged=show_flagged, reason_label=reason_label, channel_labels=CHANNEL_LABELS,
        can_edit=can(current_user, "edit", unit), device_form=DeviceForm(), now=utcnow(),
    )


@bp.get("/units/<code>/tally.json")
@role_required("view")
def unit_tally_json(code):
    """Today's figures, for the unit page to refresh without a reload."""
    unit = get_unit_for_user(code, "view")
    tz = current_app.config["HYMY_TIMEZONE"]
    today = stats.today(tz)
    start, end = stats.day_range(today, today, tz)
    t = reports.tally([unit], start, end)
    return {"today": t.row(), "per_score": t.per_score(unit.scale)}


@bp.route("/units/new", methods=["GET", "POST"])
@role_required("admin")
def unit_new():
    form = UnitForm()
    if form.validate_on_submit():
        unit = org.create_unit(form.name_fi.data, area=form.area.data or None, scale=form.scale.data)
        _apply_form(unit, form)
        db.session.commit()
        flash(_("Unit created."), "info")
        return redirect(url_for("manage.unit", code=unit.code))
    return render_template("manage/unit_form.html", form=form, unit=None)


@bp.route("/units/<code>/edit", methods=["GET", "POST"])
@role_required("edit")
def unit_edit(code):
    unit = get_unit_for_user(code, "edit")
    form = UnitForm(obj=None)
    if request.method == "GET":
        for lang in ("fi", "sv", "en"):
            getattr(form, f"name_{lang}").data = unit.names.get(lang, "")
            getattr(form, f"question_{lang}").data = unit.questions.get(lang, "")
        form.area.data = unit.area.name if unit.area else ""
        form.scale.data = unit.scale
        form.default_lang.data = unit.default_lang
        form.reasons_positive.data = "\n".join(unit.reasons_positive)
        form.reasons_negative.data = "\n".join(unit.reasons_negative)
        form.repeat_window_s.data = unit.repeat_window_s
    if form.validate_on_submit():
        if form.area.data and current_user.role != "admin":
            # Only administrators move units between areas.
            if not unit.area or form.area.data != unit.area.name:
                abort(403)
        _apply_form(unit, form)
        db.session.commit()
        flash(_("Changes saved."), "info")
        return redirect(url_for("manage.unit", code=unit.code))
    return render_template("manage/unit_form.html", form=form, unit=unit)


def _apply_form(unit, form):
    unit.names = {lang: getattr(form, f"name_{lang}").data.strip() for lang in ("fi", "sv", "en") if getattr(form, f"name_{lang}").data}
    unit.questions = {lang: getattr(form, f"question_{lang}").data.strip() for lang in ("fi", "sv", "en") if getattr(form, f"question_{lang}").data}
    unit.area = org.get_or_create_area(form.area.data) if form.area.data else None
    unit.scale = form.scale.data
    unit.default_lang = form.default_lang.data
    unit.reasons_positive = _reason_keys(form.reasons_positive.data)
    unit.reasons_negative = _reason_keys(form.reasons_negative.data)
    unit.repeat_window_s = form.repeat_window_s.data or 0


@bp.post("/units/<code>/devices")
@role_required("edit")
def device_add(code):
    unit = get_unit_for_user(code, "edit")
    form = DeviceForm()
    if not form.validate_on_submit():
        abort(400)
    device, link = org.add_device(unit, form.name.data or "")
    flash(_("Open this link on the tablet within 24 hours to enrol it: %(link)s", link=link), "info")
    return redirect(url_for("manage.unit", code=unit.code) + "#devices")


@bp.post("/units/<code>/devices/<int:device_id>/revoke")
@role_required("edit")
def device_revoke(code, device_id):
    unit = get_unit_for_user(code, "edit")
    form = DeviceForm()
    if not form.validate_on_submit():
        abort(400)
    device = db.get_or_404(Device, device_id)
    if device.unit_id != unit.id:
        abort(404)
    device.revoked_at = utcnow()
    device.enrol_code_hash = None
    db.session.commit()
    flash(_("The tablet was revoked. Create a new enrolment link to replace it."), "info")
    return redirect(url_for("manage.unit", code=unit.code) + "#devices")


@bp.get("/units/<code>/export.<fmt>")
@role_required("download")
def unit_export(code, fmt):
    """The unit's tally (or, with ?kind=responses, its answers) as CSV or XLSX."""
    unit = get_unit_for_user(code, "download")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    try:
        first = reports.parse_day(request.args.get("from"), "from")
        last = reports.parse_day(request.args.get("to"), "to")
    except reports.SelectionError as exc:
        abort(400, str(exc))
    bucket = request.args.get("bucket", "day")
    if bucket not in ("day", "week", "month"):
        abort(400, "bucket must be day, week or month")
    tz = current_app.config["HYMY_TIMEZONE"]
    if request.args.get("kind") == "responses":
        query = reports.answers_query([unit], first, last, tz, include_flagged=True)
        header = interchange.COLUMNS + interchange.EXTRA_COLUMNS
        return interchange.download(header, interchange.response_rows(query), f"hymy-{unit.code}-responses", fmt)
    rows = ([r[c] for c in stats.TALLY_COLUMNS] for r in reports.tally_table([unit], bucket, first, last, tz))
    return interchange.download(stats.TALLY_COLUMNS, rows, f"hymy-{unit.code}-tally-{bucket}", fmt)
