"""Statements the law asks of a public service: accessibility and privacy, open to everyone."""

from datetime import date

from flask import Blueprint, current_app, render_template

bp = Blueprint("public", __name__)

# When the accessibility statement was last reviewed; update it with the statement's text.
STATEMENT_DATE = date(2026, 11, 29)
SUPERVISOR_WEB = "https://www.saavutettavuusvaatimukset.fi"
SUPERVISOR_EMAIL = "saavutettavuus@avi.fi"


def contact(value):
    """Return the contact and whether it is an e-mail address that a mailto: link can open."""
    value = (value or "").strip()
    return {"text": value, "email": "@" in value and " " not in value}


@bp.get("/accessibility")
def accessibility():
    """The accessibility statement (saavutettavuusseloste)."""
    config = current_app.config
    return render_template(
        "public/accessibility.html",
        controller=config["HYMY_CONTROLLER_NAME"],
        contact=contact(config["HYMY_ACCESSIBILITY_CONTACT"]),
        statement_date=STATEMENT_DATE,
        supervisor_web=SUPERVISOR_WEB,
        supervisor_email=SUPERVISOR_EMAIL,
    )


@bp.get("/privacy")
def privacy():
    """The privacy notice: what an answer stores, for how long, and who answers for it."""
    config = current_app.config
    return render_template(
        "public/privacy.html",
        controller=config["HYMY_CONTROLLER_NAME"],
        contact=contact(config["HYMY_PRIVACY_CONTACT"]),
        retention_days=config["HYMY_RETENTION_DAYS"],
        staff_retention_days=config["HYMY_STAFF_RETENTION_DAYS"] or config["HYMY_RETENTION_DAYS"],
    )
