"""What managers and administrators see: units, their tallies, kiosks and downloads."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from . import interchange, org, reports, stats
from .auth import can, get_unit_for_user, role_required, visible_units
from .labels import CHANNEL_LABELS, REASON_LABELS, face_label, reason_label
from .models import LANGS, Device, db

bp = Blueprint("manage", __name__, url_prefix="/manage")

LANG_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
SCALE_CHOICES = [
    SelectChoice("smiley5", _l("Five faces, from very poor to very good (NHS FFT)")),
    SelectChoice("smiley4", _l("Four faces, without a neutral one")),
    SelectChoice("nps", _l("0 to 10, likelihood to recommend (NPS)")),
]
LANG_CHOICES = [SelectChoice(lang, name) for lang, name in LANG_NAMES.items()]
BUCKETS = ("day", "week", "month")


def _reason_lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _reason_keys_valid(form, field):
    try:
        org.check_reason_keys(_reason_lines(field.data))
    except org.OrgError:
        raise ValidationError(
            _("List at most six reasons, one key a line, in lower-case letters, digits and underscores.")
        ) from None


class UnitForm(FlaskForm):
    """A unit's settings. Build it with UnitForm.for_unit(unit) to edit an existing one."""

    name_fi = StringField(_l("Name in Finnish"), validators=[Optional(), Length(max=200)])
    name_sv = StringField(_l("Name in Swedish"), validators=[Optional(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    question_fi = StringField(_l("Question in Finnish"), validators=[Optional(), Length(max=300)])
    question_sv = StringField(_l("Question in Swedish"), validators=[Optional(), Length(max=300)])
    question_en = StringField(_l("Question in English"), validators=[Optional(), Length(max=300)])
    area = StringField(
        _l("Area"), validators=[Optional(), Length(max=200)],
        description=_l("An existing area's name, or a new name to create an area."),
    )
    scale = SelectField(_l("Scale"), choices=SCALE_CHOICES, default="smiley5")
    default_lang = SelectField(_l("Default language"), choices=LANG_CHOICES, default="fi")
    reasons_positive = TextAreaField(
        _l("Reasons offered after a positive answer"), validators=[_reason_keys_valid],
        description=_l("Reason keys, one a line, at most six. \"Other\" is always offered."),
    )
    reasons_negative = TextAreaField(
        _l("Reasons offered after a negative answer"), validators=[_reason_keys_valid],
        description=_l("Reason keys, one a line, at most six. \"Other\" is always offered."),
    )
    repeat_window_s = IntegerField(
        _l("Repeat-press window in seconds"), default=5, validators=[InputRequired(), NumberRange(0, 600)],
        description=_l("A second tap on the same tablet within this time is flagged and left out of the figures."),
    )

    @classmethod
    def for_unit(cls, unit):
        """Return a form filled with the unit's settings (a submitted form overrides them)."""
        data = {f"name_{lang}": unit.names.get(lang, "") for lang in LANGS}
        data |= {f"question_{lang}": unit.questions.get(lang, "") for lang in LANGS}
        data |= {
            "area": unit.area.name if unit.area else "",
            "scale": unit.scale,
            "default_lang": unit.default_lang,
            "reasons_positive": "\n".join(unit.reasons_positive),
            "reasons_negative": "\n".join(unit.reasons_negative),
            "repeat_window_s": unit.repeat_window_s,
        }
        return cls(data=data)

    def validate(self, extra_validators=None):
        """Also require a name in the unit's default language."""
        valid = super().validate(extra_validators)
        name = getattr(self, f"name_{self.default_lang.data}", None)
        if name is not None and not (name.data or "").strip():
            name.errors = [*name.errors, _("Give the unit a name in its default language.")]
            valid = False
        return valid

    def settings(self):
        """Return the form's values as keyword arguments for org.update_unit."""
        settings = {
            "names": {lang: getattr(self, f"name_{lang}").data or "" for lang in LANGS},
            "questions": {lang: getattr(self, f"question_{lang}").data or "" for lang in LANGS},
            "scale": self.scale.data,
            "default_lang": self.default_lang.data,
            "reasons_positive": _reason_lines(self.reasons_positive.data),
            "reasons_negative": _reason_lines(self.reasons_negative.data),
            "repeat_window_s": self.repeat_window_s.data,
        }
        if "area" in self:
            settings["area"] = (self.area.data or "").strip() or None
        return settings


class DeviceForm(FlaskForm):
    name = StringField(_l("Name of the tablet"), validators=[Optional(), Length(max=200)])


def _unit_form_page(form, unit):
    return render_template(
        "manage/unit_form.html", form=form, unit=unit, area_names=org.area_names(),
        reason_keys=list(REASON_LABELS),
    )


@bp.get("/")
@role_required("log")
def home():
    units = visible_units(current_user)
    if not can(current_user, "view"):
        return render_template("manage/home.html", units=units, cards=None)
    start, end = stats.dashboard_windows(current_app.config["HYMY_TIMEZONE"])["week"]
    return render_template("manage/home.html", units=units, cards=reports.tallies_by_unit(units, start, end))


@bp.get("/units/<code>")
@role_required("view")
def unit(code):
    unit = get_unit_for_user(code, "view")
    show_flagged = request.args.get("flagged") == "1"
    windows = stats.dashboard_windows(current_app.config["HYMY_TIMEZONE"])
    titles = {"today": _("Today"), "yesterday": _("Yesterday"), "week": _("This week")}
    tallies = [
        (key, titles[key], reports.tally([unit], start, end, include_flagged=show_flagged))
        for key, (start, end) in windows.items()
    ]
    return render_template(
        "manage/unit.html", unit=unit, tallies=tallies, show_flagged=show_flagged,
        faces=[(s, face_label(unit.scale, s)) for s in stats.SCALES[unit.scale].scores],
        latest=reports.latest_comments(unit), face_label=face_label, reason_label=reason_label,
        channel_labels=CHANNEL_LABELS, can_edit=can(current_user, "edit", unit), device_form=DeviceForm(),
    )


@bp.get("/units/<code>/tally.json")
@role_required("view")
def unit_tally_json(code):
    """Today's figures, for the unit page to refresh without a reload."""
    unit = get_unit_for_user(code, "view")
    start, end = stats.dashboard_windows(current_app.config["HYMY_TIMEZONE"])["today"]
    today = reports.tally([unit], start, end, include_flagged=request.args.get("flagged") == "1")
    return {"today": today.row(), "per_score": today.per_score(unit.scale)}


@bp.route("/units/new", methods=["GET", "POST"])
@role_required("admin")
def unit_new():
    form = UnitForm()
    if form.validate_on_submit():
        settings = form.settings()
        unit = org.create_unit(settings["names"][settings["default_lang"]], scale=settings["scale"],
                               lang=settings["default_lang"])
        org.update_unit(unit, **settings)
        flash(_("Unit created."), "info")
        return redirect(url_for("manage.unit", code=unit.code))
    return _unit_form_page(form, None)


@bp.route("/units/<code>/edit", methods=["GET", "POST"])
@role_required("edit")
def unit_edit(code):
    unit = get_unit_for_user(code, "edit")
    form = UnitForm.for_unit(unit)
    if not can(current_user, "admin"):
        # Only administrators move units between areas.
        del form.area
    if form.validate_on_submit():
        org.update_unit(unit, **form.settings())
        flash(_("Changes saved."), "info")
        return redirect(url_for("manage.unit", code=unit.code))
    return _unit_form_page(form, unit)


@bp.post("/units/<code>/devices")
@role_required("edit")
def device_add(code):
    """Create a one-time enrolment link and show it once (it is never stored in clear)."""
    unit = get_unit_for_user(code, "edit")
    form = DeviceForm()
    if not form.validate_on_submit():
        abort(400)
    device, link = org.add_device(unit, form.name.data or "")
    return render_template("manage/enrolment.html", unit=unit, device=device, link=link)


@bp.post("/units/<code>/devices/<int:device_id>/revoke")
@role_required("edit")
def device_revoke(code, device_id):
    unit = get_unit_for_user(code, "edit")
    if not FlaskForm().validate_on_submit():
        abort(400)
    device = db.get_or_404(Device, device_id)
    if device.unit_id != unit.id:
        abort(404)
    org.revoke_device(device)
    flash(_("The tablet was revoked. Create a new enrolment link to replace it."), "info")
    return redirect(url_for("manage.unit", code=unit.code, _anchor="devices"))


@bp.get("/units/<code>/export.<fmt>")
@role_required("download")
def unit_export(code, fmt):
    """The unit's tally (or, with ?kind=responses, its answers) as CSV or XLSX."""
    unit = get_unit_for_user(code, "download")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    bucket = request.args.get("bucket") or "day"
    kind = request.args.get("kind") or "tally"
    try:
        first, last = reports.parse_days(request.args.get("from"), request.args.get("to"))
    except reports.SelectionError:
        abort(400, _("Give dates such as 2026-01-31, and a first day that is not after the last."))
    if bucket not in BUCKETS or kind not in ("tally", "responses"):
        abort(400, _("Choose a period of a day, a week or a month, and a tally or every answer."))
    tz = current_app.config["HYMY_TIMEZONE"]
    if kind == "responses":
        query = reports.answers_query([unit], first, last, tz, include_flagged=True)
        return interchange.download(
            interchange.RESPONSE_HEADER, interchange.response_rows(query), f"hymy-{unit.code}-responses", fmt
        )
    rows = interchange.tally_rows(reports.tally_table([unit], bucket, first, last, tz))
    return interchange.download(stats.TALLY_COLUMNS, rows, f"hymy-{unit.code}-tally-{bucket}", fmt)
