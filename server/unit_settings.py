"""A unit's client-page settings for its managers: the optional segment questions and easy-read mode."""

import re

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from .auth import get_unit_for_user, role_required
from .models import LANGS, db

bp = Blueprint("settings", __name__, url_prefix="/manage")

MAX_QUESTIONS = 2
MAX_OPTIONS = 6
KEY = re.compile(r"^[a-z0-9_]{1,32}$")


def option_lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_options(text):
    """Parse lines of "value = label fi | label sv | label en" into options; raise ValueError on a bad line."""
    options = []
    for line in option_lines(text):
        value, equals, labels = line.partition("=")
        value = value.strip()
        if not equals or not KEY.match(value):
            raise ValueError(_("Write each answer as: value = label in Finnish | in Swedish | in English. "
                               "The value uses lower-case letters, digits and underscores."))
        parts = [part.strip() for part in labels.split("|")]
        if len(parts) > len(LANGS) or not any(parts):
            raise ValueError(_("Give each answer one to three labels, separated by |."))
        if any(len(part) > 100 for part in parts):
            raise ValueError(_("An answer's label may be at most 100 characters long."))
        options.append({"value": value, "labels": {lang: text for lang, text in zip(LANGS, parts, strict=False) if text}})
    return options


def format_options(options):
    """Write options back as the lines parse_options reads."""
    lines = []
    for option in options or []:
        labels = [(option.get("labels") or {}).get(lang, "") for lang in LANGS]
        while labels and not labels[-1]:
            labels.pop()
        lines.append(f"{option.get('value', '')} = {' | '.join(labels)}")
    return "\n".join(lines)


class SegmentQuestionForm(Form):
    """One segment question; left empty, it is not asked."""

    key = StringField(
        _l("Key"), validators=[Optional(), Length(max=32)],
        description=_l("A short identifier used in downloads, such as who or first_visit."),
    )
    text_fi = StringField(_l("Question in Finnish"), validators=[Optional(), Length(max=200)])
    text_sv = StringField(_l("Question in Swedish"), validators=[Optional(), Length(max=200)])
    text_en = StringField(_l("Question in English"), validators=[Optional(), Length(max=200)])
    options = TextAreaField(
        _l("Answer options"),
        description=_l("One answer a line, two to six: value = label in Finnish | in Swedish | in English. "
                       "For example: relative = Omainen | Anhörig | Relative"),
    )

    def is_empty(self):
        return not any((field.data or "").strip() for field in self)

    def validate(self, extra_validators=None):
        """Require a key, a question text and two to six well-formed answers in a question that is used."""
        valid = super().validate(extra_validators)
        if self.is_empty():
            return valid
        key = (self.key.data or "").strip()
        if not key:
            self.key.errors.append(_("Give the question a key."))
        elif not KEY.match(key):
            self.key.errors.append(_("Use lower-case letters, digits and underscores only."))
        if not any((self[f"text_{lang}"].data or "").strip() for lang in LANGS):
            self.text_fi.errors.append(_("Write the question in at least one language."))
        try:
            options = parse_options(self.options.data)
        except ValueError as exc:
            self.options.errors.append(str(exc))
        else:
            values = [option["value"] for option in options]
            if not MAX_OPTIONS >= len(options) >= 2:
                self.options.errors.append(_("Offer from two to six answers."))
            elif len(set(values)) != len(values):
                self.options.errors.append(_("Each answer needs a value of its own."))
        return valid and not any(field.errors for field in self)

    def question(self):
        """Return the question as stored in Unit.segment_questions."""
        return {
            "key": self.key.data.strip(),
            "labels": {lang: text for lang in LANGS if (text := (self[f"text_{lang}"].data or "").strip())},
            "options": parse_options(self.options.data),
        }


class SegmentSettingsForm(FlaskForm):
    questions = FieldList(FormField(SegmentQuestionForm), min_entries=MAX_QUESTIONS, max_entries=MAX_QUESTIONS)
    easy_read = BooleanField(
        _l("Use easy-read mode"),
        description=_l("Larger faces, simpler words and fewer choices at once on the kiosk and the phone page."),
    )

    @classmethod
    def for_unit(cls, unit):
        """Return a form filled with the unit's settings (a submitted form overrides them)."""
        questions = [
            {
                "key": question.get("key", ""),
                **{f"text_{lang}": (question.get("labels") or {}).get(lang, "") for lang in LANGS},
                "options": format_options(question.get("options")),
            }
            for question in (unit.segment_questions or [])[:MAX_QUESTIONS]
        ]
        return cls(data={"questions": questions, "easy_read": unit.easy_read})

    def validate(self, extra_validators=None):
        """Also require that two questions do not share a key."""
        valid = super().validate(extra_validators)
        keys = [entry.form.key.data.strip() for entry in self.questions if not entry.form.is_empty()]
        if valid and len(set(keys)) != len(keys):
            self.questions[-1].form.key.errors.append(_("Two questions cannot share a key."))
            valid = False
        return valid

    def segment_questions(self):
        return [entry.form.question() for entry in self.questions if not entry.form.is_empty()]


@bp.route("/units/<code>/segments", methods=["GET", "POST"])
@role_required("edit")
def segments(code):
    """Let a unit's managers set its segment questions and easy-read mode."""
    unit = get_unit_for_user(code, "edit")
    form = SegmentSettingsForm.for_unit(unit)
    if form.validate_on_submit():
        unit.segment_questions = form.segment_questions()
        unit.easy_read = form.easy_read.data
        db.session.commit()
        flash(_("Changes saved."), "info")
        return redirect(url_for("settings.segments", code=unit.code))
    # A valid submission has redirected: a submitted form here has errors to show.
    return render_template("settings/segments.html", unit=unit, form=form, failed=form.is_submitted())
