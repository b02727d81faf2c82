"""What managers and administrators see: units, their tallies, kiosks and downloads."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import get_day_names
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from . import alerts, charts, insight, interchange, org, reports, stats
from .auth import can, get_area_for_user, get_unit_for_user, role_required, visible_areas, visible_units
from .labels import CHANNEL_LABELS, REASON_LABELS, face_label, reason_label
from .models import CHANNELS, LANGS, Device, Unit, db, pick_lang

bp = Blueprint("manage", __name__, url_prefix="/manage")
bp.add_app_template_global(charts.interval_bar, "interval_bar")

LANG_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}
SCALE_CHOICES = [
    SelectChoice("smiley5", _l("Five faces, from very poor to very good (NHS FFT)")),
    SelectChoice("smiley4", _l("Four faces, without a neutral one")),
    SelectChoice("nps", _l("0 to 10, likelihood to recommend (NPS)")),
]
LANG_CHOICES = [SelectChoice(lang, name) for lang, name in LANG_NAMES.items()]
BUCKETS = ("day", "week", "month")
MAX_PERIOD_DAYS = 731  # the dashboard's longest period; downloads cover any span


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


class AcknowledgeForm(FlaskForm):
    comment = TextAreaField(_l("What was done about it"), validators=[DataRequired(), Length(max=1000)])


@dataclass
class Selection:
    """What a dashboard page shows: local days first..last, one channel or all, repeated presses or not."""

    first: date
    last: date
    channel: str | None
    flagged: bool
    start: datetime
    end: datetime

    @property
    def channels(self):
        return [self.channel] if self.channel else None

    @property
    def args(self):
        """The selection as query parameters, for links that keep it."""
        args = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.channel:
            args["channel"] = self.channel
        if self.flagged:
            args["flagged"] = "1"
        return args


def read_selection():
    """Read from, to, channel and flagged from the query; default to the last four weeks; 400 when malformed."""
    tz = current_app.config["HYMY_TIMEZONE"]
    try:
        first, last = reports.parse_days(request.args.get("from"), request.args.get("to"))
    except reports.SelectionError:
        abort(400, _("Give dates such as 2026-01-31, and a first day that is not after the last."))
    default_first, today = stats.default_period(tz)
    if first is None and last is None:
        first, last = default_first, today
    elif first is None:
        first = stats.week_start(last) - timedelta(weeks=3)
    elif last is None:
        last = max(first, today)
    if (last - first).days >= MAX_PERIOD_DAYS:
        abort(400, _("Choose a period of at most two years. Downloads cover any period."))
    channel = request.args.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        abort(400, _("Choose one of the listed channels."))
    start, end = stats.day_range(first, last, tz)
    return Selection(first, last, channel, request.args.get("flagged") == "1", start, end)


def area_units(area):
    return list(db.session.execute(db.select(Unit).where(Unit.area_id == area.id).order_by(Unit.id)).scalars())


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
        return render_template("manage/home.html", units=units, cards=None, areas=[], alert_counts={})
    start, end = stats.dashboard_windows(current_app.config["HYMY_TIMEZONE"])["week"]
    # No scheduler runs between pages: a kiosk's silence is noticed when someone looks.
    alerts.check_silent(units)
    return render_template(
        "manage/home.html", units=units, cards=reports.tallies_by_unit(units, start, end),
        areas=visible_areas(current_user), alert_counts=alerts.open_counts(units),
    )


@bp.get("/units/<code>")
@role_required("view")
def unit(code):
    unit = get_unit_for_user(code, "view")
    alerts.check_silent([unit])
    selection = read_selection()
    tz = current_app.config["HYMY_TIMEZONE"]
    windows = stats.dashboard_windows(tz)
    titles = {"today": _("Today"), "yesterday": _("Yesterday"), "week": _("This week")}
    tallies = [
        (key, titles[key], reports.tally([unit], start, end, selection.flagged, selection.channels))
        for key, (start, end) in windows.items()
    ]
    figures = reports.period_figures_by_unit([unit], selection.first, selection.last, tz, selection.flagged,
                                             selection.channels)[unit]
    monday = insight.last_complete_week(tz)
    _counts, changes = insight.explain([unit], monday, tz)[unit]
    filters = (selection.start, selection.end, selection.flagged, selection.channels)
    weeks = week_rows(figures.weeks)
    can_edit = can(current_user, "edit", unit)
    return render_template(
        "manage/unit.html", unit=unit, tallies=tallies, selection=selection, figures=figures,
        faces=[(s, face_label(unit.scale, s)) for s in stats.SCALES[unit.scale].scores],
        face_shares=stats.face_shares(figures.tally, unit.scale), index_ci=stats.index_ci(figures.tally),
        weeks=weeks, trend=trend_chart(weeks, "trend"),
        heatmap=heatmap_rows(figures.heatmap),
        reasons=reports.reason_shares([unit], *filters),
        segments=segment_groups(unit, reports.segment_tallies([unit], *filters)),
        comments=reports.latest_comments(unit, 10, *filters, logged=False),
        remarks=reports.latest_comments(unit, 10, *filters, logged=True),
        logged=reports.logged_counts([unit], *filters),
        week_name=insight.week_name(monday), notable=[(c.direction, insight.describe(c, unit)) for c in changes],
        open_alerts=alerts.open_alerts(unit), acknowledged=alerts.recently_acknowledged(unit) if can_edit else [],
        ack_form=AcknowledgeForm(), is_praise=stats.is_praise, face_label=face_label, reason_label=reason_label,
        channel_labels=CHANNEL_LABELS, can_edit=can_edit, device_form=DeviceForm(),
        device_warnings={d.id: d.warnings(timedelta(minutes=current_app.config["HYMY_KIOSK_SILENT_MINUTES"]),
                                          timedelta(minutes=current_app.config["HYMY_KIOSK_QUEUE_MINUTES"]))
                         for d in unit.devices},
        refresh_args={k: v for k, v in selection.args.items() if k in ("channel", "flagged")},
    )


def week_rows(weeks):
    """Return the weekly figures as rows for a chart and its table."""
    rows = []
    for monday, tally in weeks:
        rows.append({
            "monday": monday, "sunday": monday + timedelta(days=6), "week": insight.week_name(monday),
            "label": f"W{monday.isocalendar()[1]:02d}", "tally": tally, "answers": tally.answers,
            "positive": (tally.pct_positive, tally.pct_positive_ci),
            "negative": (tally.pct_negative, tally.pct_negative_ci),
        })
    return rows


def trend_chart(weeks, chart_id):
    """Draw week_rows() as the weekly trend chart, in the reader's language."""
    return charts.trend_chart(weeks, chart_id, {
        "title": _("Weekly trend"),
        "desc": _("Share of positive and of negative answers per week, each with its interval (95 %), and answers per week. "
                  "The table below gives the same numbers."),
        "positive": _("% positive"), "negative": _("% negative"), "answers": _("Answers per week"),
    })


def heatmap_rows(grid):
    """Return [(weekday name, [(count, level)])] for the heatmap table, Monday first."""
    names = get_day_names("wide", context="stand-alone", locale=get_locale())
    top = max(max(row) for row in grid)
    return [(names[day], [(count, stats.heat_level(count, top)) for count in grid[day]]) for day in range(7)]


def segment_groups(unit, tallies):
    """Return [(question label, [(answer label, Tally)])] for the segment answers."""
    questions = {q.get("key"): pick_lang(q.get("labels") or {}) or q.get("key") for q in unit.segment_questions or []}
    groups = {}
    for (key, value), tally in tallies.items():
        groups.setdefault(key, []).append((insight.segment_label(unit, (key, value)), tally))
    return [(questions.get(key) or key, rows) for key, rows in groups.items()]


@bp.get("/units/<code>/tally.json")
@role_required("view")
def unit_tally_json(code):
    """Today's figures, for the unit page to refresh without a reload."""
    unit = get_unit_for_user(code, "view")
    channel = request.args.get("channel")
    start, end = stats.dashboard_windows(current_app.config["HYMY_TIMEZONE"])["today"]
    today = reports.tally([unit], start, end, include_flagged=request.args.get("flagged") == "1",
                          channels=[channel] if channel in CHANNELS else None)
    return {"today": today.row(), "per_score": today.per_score(unit.scale)}


@bp.post("/units/<code>/alerts/<int:alert_id>/ack")
@role_required("edit")
def alert_acknowledge(code, alert_id):
    """Acknowledge an open alert with a comment on what was done."""
    unit = get_unit_for_user(code, "edit")
    alert = alerts.unit_alert(unit, alert_id)
    if alert is None:
        abort(404)
    form = AcknowledgeForm()
    if alert.acknowledged_at is not None:
        flash(_("That alert was acknowledged already."), "info")
    elif form.validate_on_submit():
        alerts.acknowledge(alert, current_user, form.comment.data)
        flash(_("The alert was acknowledged."), "info")
    elif "csrf_token" in form.errors:
        abort(400)
    else:
        flash(_("Write what was done about the alert, then acknowledge it."), "error")
    return redirect(url_for("manage.unit", code=unit.code, _anchor="alerts"))


@bp.get("/areas/<code>")
@role_required("view")
def area(code):
    """The units of an area side by side, what needs attention first."""
    area = get_area_for_user(code)
    selection = read_selection()
    tz = current_app.config["HYMY_TIMEZONE"]
    units = area_units(area)
    figures = reports.period_figures_by_unit(units, selection.first, selection.last, tz, selection.flagged,
                                             selection.channels, heatmap=False)
    monday = insight.last_complete_week(tz)
    explained = insight.explain(units, monday, tz)
    alerts.check_silent(units)
    open_counts = alerts.open_counts(units)
    entries = []
    for unit in units:
        changes = explained[unit][1]
        worse = sum(1 for c in changes if c.direction == "worse")
        weeks = week_rows(figures[unit].weeks)
        entries.append({
            "unit": unit, "figures": figures[unit], "tally": figures[unit].tally, "changes": changes,
            "worse": worse, "better": len(changes) - worse, "alerts": open_counts.get(unit.id, 0),
            "weeks": weeks, "sparkline": week_sparkline(weeks),  # drawn once, shown twice
        })
    ranked = sorted((e for e in entries if e["tally"].enough),
                    key=lambda e: stats.attention_key(e["tally"], e["worse"], e["alerts"]))
    few = [e for e in entries if not e["tally"].enough]
    return render_template(
        "manage/area.html", area=area, selection=selection, ranked=ranked, few=few, entries=entries,
        mondays=stats.week_mondays(selection.first, selection.last), week_name=insight.week_name(monday),
        week_label=lambda monday: f"W{monday.isocalendar()[1]:02d}",
        channel_labels=CHANNEL_LABELS, five_point=[u for u in units if u.scale == "smiley5"],
    )


def week_sparkline(weeks):
    """Draw week_rows()' % positive as a tiny line, its numbers said in its label."""
    values = [week["positive"][0] for week in weeks]
    return charts.sparkline(values, charts.sparkline_label(values))


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
    return export([unit], unit.code, fmt)


@bp.get("/areas/<code>/export.<fmt>")
@role_required("download")
def area_export(code, fmt):
    """The tally (or the answers) of every unit of the area, as CSV or XLSX."""
    area = get_area_for_user(code)
    return export(area_units(area), f"area-{area.code}", fmt)


@bp.get("/units/<code>/fft.<fmt>")
@role_required("download")
def unit_fft(code, fmt):
    """The unit's NHS FFT-style monthly summary as CSV or XLSX (five-point units only)."""
    unit = get_unit_for_user(code, "download")
    if unit.scale != "smiley5":
        abort(400, _("The FFT summary needs the five-point scale (very poor to very good); this unit uses another."))
    return fft_download([unit], unit.code, fmt)


@bp.get("/areas/<code>/fft.<fmt>")
@role_required("download")
def area_fft(code, fmt):
    """The FFT-style monthly summary of the area's five-point units."""
    area = get_area_for_user(code)
    return fft_download(area_units(area), f"area-{area.code}", fmt)


def fft_download(units, name, fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    try:
        first, last = reports.parse_days(request.args.get("from"), request.args.get("to"))
    except reports.SelectionError:
        abort(400, _("Give dates such as 2026-01-31, and a first day that is not after the last."))
    table = reports.monthly_fft(units, first, last, current_app.config["HYMY_TIMEZONE"])
    rows = ([row[c] for c in stats.FFT_COLUMNS] for row in table)
    return interchange.download(stats.FFT_COLUMNS, rows, f"hymy-{name}-fft", fmt)


def export(units, name, fmt):
    """Serve the tally or the answers of the units with the filters of the query."""
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
    header, rows = interchange.export_table(kind, units, bucket, first, last, current_app.config["HYMY_TIMEZONE"])
    filename = f"hymy-{name}-responses" if kind == "responses" else f"hymy-{name}-tally-{bucket}"
    return interchange.download(header, rows, filename, fmt)
