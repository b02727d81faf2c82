"""Statements the law asks of a public service: accessibility and privacy, open to everyone."""

from datetime import date

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale

bp = Blueprint("public", __name__)

# When the accessibility statement was last reviewed; update it with the statement's text.
STATEMENT_DATE = date(2026, 11, 29)
# Since 1 January 2025 Traficom supervises accessibility (it took over from Etelä-Suomen AVI);
# its site has one address per language.
SUPERVISOR_WEB = {
    "fi": "www.saavutettavuusvaatimukset.fi", "sv": "www.tillganglighetskrav.fi", "en": "www.webaccessibility.fi",
}
SUPERVISOR_EMAIL = "saavutettavuus@traficom.fi"
SUPERVISOR_PHONE = "029 534 5000"


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
        supervisor_web=SUPERVISOR_WEB[str(get_locale())],
        supervisor_email=SUPERVISOR_EMAIL,
        supervisor_phone=SUPERVISOR_PHONE,
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
