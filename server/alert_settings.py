"""A unit's alert rules for its managers: the burst of negative answers and the silent kiosk."""

from babel.dates import get_day_names
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectMultipleField, TimeField
from wtforms.validators import InputRequired, NumberRange, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from . import alerts
from .auth import get_unit_for_user, role_required
from .models import db

bp = Blueprint("alert_settings", __name__, url_prefix="/manage")


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OwnMessage:
    """A field that says its own message, naming it, when its value cannot even be read."""

    def __init__(self, label, message, validators=(), **kwargs):
        super().__init__(label, validators=[InputRequired(message), *validators], **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.message) from None

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()  # said once already


class WholeNumberField(OwnMessage, IntegerField):
    pass


class ClockField(OwnMessage, TimeField):
    pass


def whole_number(label, low, high, message):
    return WholeNumberField(label, message, [NumberRange(low, high, message)],
                            render_kw={"min": low, "max": high, "inputmode": "numeric"})


class AlertSettingsForm(FlaskForm):
    negative_active = BooleanField(_l("Alert on a burst of negative answers"))
    threshold_pct = whole_number(_l("Share of negative answers (%)"), 1, 100,
                                 _l("Give the share of negative answers as a whole number from 1 to 100."))
    window_minutes = whole_number(_l("Within minutes"), 1, 24 * 60,
                                  _l("Give the time window in minutes, from 1 to 1440."))
    min_answers = whole_number(_l("At least this many answers"), 1, 1000,
                               _l("Give the minimum number of answers, from 1 to 1000."))
    silent_active = BooleanField(_l("Alert when a kiosk tablet gets no answers"))
    hours = whole_number(_l("Opening hours without answers"), 1, 7 * 24,
                         _l("Give the opening hours without answers, from 1 to 168."))
    days = CheckboxesField(_l("Open on"), coerce=int)
    opens = ClockField(_l("Opens at"), _l("Give the time the unit opens, such as 08:00."))
    closes = ClockField(_l("Closes at"), _l("Give the time the unit closes, such as 16:00."))

    @classmethod
    def for_unit(cls, unit):
        """Return a form filled with the unit's rules (a submitted form overrides them)."""
        negative = alerts.rules_by_unit([unit], "negative_share")[unit.id]
        silent = alerts.rules_by_unit([unit], "kiosk_silent")[unit.id]
        opening = silent.opening or alerts.DEFAULT_OPENING
        form = cls(data={
            "negative_active": negative.active, "threshold_pct": negative.threshold_pct,
            "window_minutes": negative.window_minutes, "min_answers": negative.min_answers,
            "silent_active": silent.active, "hours": silent.hours or alerts.DEFAULT_SILENT_RULE["hours"],
            "days": opening["days"], "opens": alerts.parse_clock(opening["start"]),
            "closes": alerts.parse_clock(opening["end"]),
        })
        names = get_day_names("wide", context="stand-alone", locale=get_locale())
        form.days.choices = [(day, names[day]) for day in range(7)]
        form.rules = negative, silent
        return form

    def validate(self, extra_validators=None):
        """Also require an opening day and a closing time after the opening time."""
        valid = super().validate(extra_validators)
        if not self.days.data:
            self.days.errors.append(_("Choose at least one day when the unit is open."))
        if self.opens.data and self.closes.data and self.closes.data <= self.opens.data:
            self.closes.errors.append(_("The closing time must be later than the opening time."))
        return valid and not self.days.errors and not self.closes.errors

    def save(self):
        negative, silent = self.rules
        negative.active = self.negative_active.data
        negative.threshold_pct = self.threshold_pct.data
        negative.window_minutes = self.window_minutes.data
        negative.min_answers = self.min_answers.data
        silent.active = self.silent_active.data
        silent.hours = self.hours.data
        silent.opening = {"days": sorted(self.days.data), "start": self.opens.data.strftime("%H:%M"),
                          "end": self.closes.data.strftime("%H:%M")}


@bp.route("/units/<code>/alerts", methods=["GET", "POST"])
@role_required("edit")
def unit_alerts(code):
    """Let a unit's managers set when its alerts fire."""
    unit = get_unit_for_user(code, "edit")
    form = AlertSettingsForm.for_unit(unit)
    if form.validate_on_submit():
        form.save()
        db.session.commit()
        flash(_("Changes saved."), "info")
        return redirect(url_for("alert_settings.unit_alerts", code=unit.code))
    db.session.commit()  # keep the default rules made for the form
    return render_template("settings/alerts.html", unit=unit, form=form, failed=form.is_submitted())
