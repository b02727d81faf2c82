"""Administrators: people, roles and scopes."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from . import org
from .auth import can, role_required
from .models import ROLES, Area, Unit, User, db, new_code

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {
    "admin": _l("Administrator: everything"),
    "director": _l("Director: the units of their areas"),
    "manager": _l("Manager: their units"),
    "staff": _l("Staff: logs feedback for their units"),
}


class UserForm(FlaskForm):
    """A person's name, role and scope."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[SelectChoice(role, ROLE_LABELS[role]) for role in ROLES], default="staff")
    lang = SelectField(_l("Language of pages and e-mail"), default="", choices=[
        SelectChoice("", _l("The service's default")), SelectChoice("fi", "suomi"), SelectChoice("sv", "svenska"),
        SelectChoice("en", "English"),
    ])
    units = SelectMultipleField(_l("Units"), choices=[])
    areas = SelectMultipleField(_l("Areas"), choices=[])

    def with_scope_choices(self):
        """Offer every unit and area as a checkbox; return the form."""
        units = db.session.execute(db.select(Unit).order_by(Unit.id)).scalars()
        areas = db.session.execute(db.select(Area).order_by(Area.name)).scalars()
        self.units.choices = sorted((SelectChoice(u.code, u.name) for u in units), key=lambda c: c.label.lower())
        self.areas.choices = [SelectChoice(a.code, a.name) for a in areas]
        return self

    def scope(self):
        return list(self.units.data or []) + list(self.areas.data or [])


class NewUserForm(UserForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        _l("Initial password"), validators=[Optional(), Length(min=10, max=1024)],
        description=_l("At least 10 characters. Leave empty to generate one, shown once."),
    )


    def validate_email(self, field):
        email = (field.data or "").strip().lower()
        if "@" not in email.strip("@"):
            raise ValidationError(_("Give a valid e-mail address."))
        if db.session.execute(db.select(User.id).where(User.email == email)).first():
            raise ValidationError(_("Someone has this e-mail address already."))


class EditUserForm(UserForm):
    active = BooleanField(_l("Active: may sign in"))


def generate_password():
    """Return a random password that is easy to read out and type: four groups of four."""
    code = new_code(16)
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def removes_last_admin(user, role, active):
    """Tell whether the change would leave the organisation without an active administrator."""
    if user.role != "admin" or not user.active or (role == "admin" and active):
        return False
    others = db.session.execute(
        db.select(db.func.count()).select_from(User)
        .where(User.role == "admin", User.active.is_(True), User.id != user.id)
    ).scalar_one()
    return others == 0


def update_user(user, name, role, scope, active, lang=None):
    """Change a person's name, role, scope (unit and area codes), language and whether they may sign in."""
    user.name = (name or "").strip()
    user.role = role
    user.lang = lang or None
    user.units = list(db.session.execute(db.select(Unit).where(Unit.code.in_(scope))).scalars())
    user.areas = list(db.session.execute(db.select(Area).where(Area.code.in_(scope))).scalars())
    user.active = active
    db.session.commit()
    return user


def _password_page(user, password):
    """Show a new password once; never let a cache keep it."""
    response = render_template("admin/password.html", user=user, password=password)
    return response, 200, {"Cache-Control": "no-store"}


@bp.get("/users")
@role_required("admin")
def users():
    people = db.session.execute(db.select(User).order_by(User.email)).scalars()
    return render_template("admin/users.html", users=list(people), role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def user_new():
    form = NewUserForm().with_scope_choices()
    if form.validate_on_submit():
        password = form.password.data or generate_password()
        try:
            user = org.add_user(form.email.data, form.role.data, password, form.name.data or "", form.scope(),
                                lang=form.lang.data)
        except org.OrgError as exc:
            form.form_errors.append(str(exc))
        else:
            if form.password.data:
                flash(_("%(email)s can now sign in with the password you gave.", email=user.email), "info")
                return redirect(url_for("admin.users"))
            return _password_page(user, password)
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def user_edit(user_id):
    user = db.get_or_404(User, user_id)
    form = EditUserForm(data={
        "name": user.name, "role": user.role, "active": user.active, "lang": user.lang or "",
        "units": [u.code for u in user.units], "areas": [a.code for a in user.areas],
    }).with_scope_choices()
    if form.validate_on_submit():
        if removes_last_admin(user, form.role.data, form.active.data):
            form.form_errors.append(_(
                "This is the last active administrator. Make someone else an administrator first."
            ))
        else:
            update_user(user, form.name.data, form.role.data, form.scope(), form.active.data, form.lang.data)
            flash(_("Changes saved."), "info")
            if user.id == current_user.id and not can(user, "admin"):
                return redirect(url_for("manage.home"))
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.post("/users/<int:user_id>/password")
@role_required("admin")
def user_password(user_id):
    """Give the person a new generated password, lift any sign-in lock, and show it once."""
    user = db.get_or_404(User, user_id)
    password = generate_password()
    user.set_password(password)
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return _password_page(user, password)
