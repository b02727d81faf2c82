"""The praise wall: a staff-room screen of what clients praised, behind a revocable read-only link."""

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from . import stats
from .auth import get_unit_for_user, role_required
from .insight_models import WallLink
from .models import HAS_COMMENT, Response, Unit, db, utcnow

bp = Blueprint("wall", __name__)

WALL_DAYS = 30  # how far back the wall looks
WALL_ITEMS = 30
POLL_SECONDS = 60


class WallLinkForm(FlaskForm):
    name = StringField(_l("Where the screen is"), validators=[Optional(), Length(max=200)],
                       description=_l("For example: staff room, 2nd floor."))


def active_link(code):
    """Return the wall link with the code, or 404 when it does not exist or was revoked."""
    link = db.session.execute(db.select(WallLink).where(WallLink.code == code)).scalar_one_or_none()
    if link is None or not link.active:
        abort(404)
    return link


def link_units(link):
    """Return the units a wall link shows: its unit, or every unit of its area."""
    if link.unit is not None:
        return [link.unit]
    return list(db.session.execute(db.select(Unit).where(Unit.area_id == link.area_id).order_by(Unit.id)).scalars())


def praise_items(units, now=None, days=WALL_DAYS, limit=WALL_ITEMS):
    """Return recent positive comments and logged praise, newest first: text, day, source; never who logged it."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = db.session.execute(
        db.select(Response.scale, Response.score, Response.kind, Response.comment, Response.answered_at,
                  Response.id)
        .where(Response.unit_id.in_([u.id for u in units]), *HAS_COMMENT,
               Response.flags == "", Response.answered_at >= since)
        .order_by(Response.answered_at.desc())
        .limit(limit * 10)
    ).all()
    items = []
    for scale, score, kind, comment, answered_at, response_id in rows:
        if stats.is_praise(scale, score, kind):
            items.append({
                "id": response_id,
                "text": comment,
                "day": format_date(answered_at, "d.M.yyyy"),
                "source": _("Told to our staff") if kind else _("A client wrote"),
            })
        if len(items) == limit:
            break
    return items


def _wall_title(link):
    return link.unit.name if link.unit is not None else link.area.name


@bp.get("/wall/<code>")
def show(code):
    link = active_link(code)
    if link.unit is not None:
        g.page_default_lang = link.unit.default_lang
    return render_template(
        "wall/wall.html", title=_wall_title(link), items=praise_items(link_units(link)),
        items_url=url_for("wall.items", code=code), poll_seconds=POLL_SECONDS,
    )


@bp.get("/wall/<code>/items.json")
def items(code):
    link = active_link(code)
    if link.unit is not None:
        g.page_default_lang = link.unit.default_lang
    response = jsonify({"title": _wall_title(link), "items": praise_items(link_units(link))})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Managers create and revoke links ------------------------------------------------------


@bp.route("/manage/units/<code>/walls", methods=["GET", "POST"])
@role_required("edit")
def manage_links(code):
    unit = get_unit_for_user(code, "edit")
    form = WallLinkForm()
    if form.validate_on_submit():
        link = WallLink(unit_id=unit.id, name=(form.name.data or "").strip())
        db.session.add(link)
        db.session.commit()
        flash(_("A new praise wall link was made."), "info")
        return redirect(url_for("wall.manage_links", code=code))
    links = db.session.execute(
        db.select(WallLink).where(WallLink.unit_id == unit.id).order_by(WallLink.created_at.desc())
    ).scalars().all()
    base = current_app.config["HYMY_BASE_URL"].rstrip("/")
    return render_template("wall/links.html", unit=unit, form=form, links=links, base=base,
                           revoke_form=FlaskForm())


@bp.post("/manage/units/<code>/walls/<link_code>/revoke")
@role_required("edit")
def revoke_link(code, link_code):
    unit = get_unit_for_user(code, "edit")
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    link = db.session.execute(
        db.select(WallLink).where(WallLink.code == link_code, WallLink.unit_id == unit.id)
    ).scalar_one_or_none()
    if link is None:
        abort(404)
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        db.session.commit()
    flash(_("The link was revoked: the screen that used it shows nothing more."), "info")
    return redirect(url_for("wall.manage_links", code=code))
