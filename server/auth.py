"""Sign-in and sign-out, and the one place that decides who may see which unit."""

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from .models import Area, Unit, User, db, utcnow

bp = Blueprint("auth", __name__)

# What each role may do with a unit in its scope.
PERMISSIONS = {
    "admin": {"view", "download", "edit", "log", "admin"},
    "director": {"view", "download", "edit", "log"},
    "manager": {"view", "download", "edit", "log"},
    "staff": {"log"},
}


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, never opened for the JSON API: kiosks authenticate by token, phones need none."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return None  # Flask gives the request a read-only, empty session
        return super().open_session(app, request)


def init_login(login_manager):
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id):
        # A deactivated account, or one whose password was changed since, is signed out.
        user_id, _sep, version = session_id.partition(".")
        if not (user_id.isdigit() and version.isdigit()):
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return user


def visible_units(user):
    """Return the units the user is responsible for, ordered by name."""
    query = db.select(Unit).order_by(Unit.id)
    if user.role != "admin":
        area_ids = [a.id for a in user.areas]
        unit_ids = [u.id for u in user.units]
        query = query.where(Unit.id.in_(unit_ids) | Unit.area_id.in_(area_ids))
    return list(db.session.execute(query).scalars())


def can(user, action, unit=None):
    """Tell whether the user may do the action, on the unit when one is given."""
    if not user.is_authenticated or action not in PERMISSIONS.get(user.role, set()):
        return False
    if unit is None or user.role == "admin":
        return True
    return unit in user.units or (unit.area is not None and unit.area in user.areas)


def get_unit_for_user(code, action):
    """Return the unit with the code if the current user may do the action on it; else 404/403."""
    unit = db.session.execute(db.select(Unit).where(Unit.code == code)).scalar_one_or_none()
    if unit is None:
        abort(404)
    if not can(current_user, action, unit):
        # Units outside one's scope are not confirmed to exist.
        abort(404 if not can(current_user, "view", unit) and not can(current_user, "log", unit) else 403)
    return unit


def get_area_for_user(code):
    """Return the area with the code if the current user oversees it (admin, or the area is in scope); else 404."""
    area = db.session.execute(db.select(Area).where(Area.code == code)).scalar_one_or_none()
    if area is None or not (current_user.role == "admin" or area in current_user.areas):
        abort(404)
    return area


def visible_areas(user):
    """Return the areas whose view the user may open, by name."""
    if user.role == "admin":
        return list(db.session.execute(db.select(Area).order_by(Area.name)).scalars())
    return sorted(user.areas, key=lambda area: area.name)


def role_required(action):
    """Require a signed-in user whose role allows the action somewhere."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if action not in PERMISSIONS.get(current_user.role, set()):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.execute(db.select(User).where(User.email == email)).scalar_one_or_none()
        message = authenticate(user, form.password.data)
        if message is None:
            login_user(user)
            session.permanent = True  # expires after HYMY_SESSION_HOURS
            if user.lang:
                session["lang"] = user.lang
            # Staff come to log what they heard; everyone else to their units.
            landing = url_for("staff.log") if user.role == "staff" else url_for("manage.home")
            return redirect(_safe_next(request.args.get("next")) or landing)
        flash(message, "error")
    return render_template("auth/login.html", form=form)


def authenticate(user, password):
    """Check a password with a per-account throttle; return None or the message to show."""
    config = current_app.config
    if user is not None and user.locked_until and user.locked_until > utcnow():
        return _("Too many failed attempts. Try again in a few minutes.")
    if user is None or not user.check_password(password):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= config["HYMY_LOGIN_MAX_FAILURES"]:
                user.locked_until = utcnow() + timedelta(minutes=config["HYMY_LOGIN_LOCK_MINUTES"])
                user.failed_logins = 0
            db.session.commit()
        return _("Wrong e-mail or password.")
    if not user.active:
        return _("This account has been deactivated. Ask your administrator.")
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return None


def _safe_next(target):
    """Return the target if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or "\\" in target:
        return None
    # Browsers drop tabs and newlines inside URLs: "/\t/evil.example" would become "//evil.example".
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@bp.post("/logout")
def logout():
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))
