"""E-mail through the operator's own SMTP server: weekly digests and new alerts, to the people responsible."""

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

from .models import User, db, user_areas, user_units

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 20


class MailError(RuntimeError):
    """E-mail is not set up, or the SMTP server could not be reached; the message says which."""


def configured():
    return bool(current_app.config.get("HYMY_SMTP_HOST"))


def smtp_settings():
    """Return the SMTP settings as a plain dict, to hand to a background thread."""
    if not configured():
        raise MailError("e-mail is not set up: set HYMY_SMTP_HOST and HYMY_MAIL_FROM (see the README)")
    return {key: current_app.config[key] for key in (
        "HYMY_SMTP_HOST", "HYMY_SMTP_PORT", "HYMY_SMTP_SECURITY", "HYMY_SMTP_USER", "HYMY_SMTP_PASSWORD",
        "HYMY_MAIL_FROM")}


def compose(to, subject, text, html, lang):
    """Return a multipart text-and-HTML message from HYMY_MAIL_FROM to one address."""
    sender = current_app.config["HYMY_MAIL_FROM"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    # RFC 3834: no out-of-office replies to a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = lang  # after the content: setting content clears Content-* headers
    return message


def send(settings, messages, sent=None):
    """Send the messages over one SMTP connection; return the addresses the server refused.

    sent(index), if given, is called as the server takes each message, with its index in messages.
    Raise MailError when the server cannot be reached or refuses to take any mail at all.
    """
    refused = []
    try:
        with _connect(settings) as smtp:
            for index, message in enumerate(messages):
                try:
                    smtp.send_message(message)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    logger.warning("e-mail to %s was refused: %s", message["To"], exc)
                    refused.append(message["To"])
                    continue
                if sent is not None:
                    sent(index)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot send e-mail through {settings['HYMY_SMTP_HOST']}:{settings['HYMY_SMTP_PORT']}: "
                        f"{exc}") from exc
    return refused


def send_logged(settings, messages):
    """Send the messages; log a failure, never raise it (for delivery in the background)."""
    try:
        send(settings, messages)
    except Exception as exc:  # noqa: BLE001 - delivery is best effort
        logger.warning("e-mail in the background failed: %s", exc)


def _connect(settings):
    host, port, security = settings["HYMY_SMTP_HOST"], settings["HYMY_SMTP_PORT"], settings["HYMY_SMTP_SECURITY"]
    context = ssl.create_default_context()
    if security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
    try:
        if security == "starttls":
            smtp.starttls(context=context)
        if settings["HYMY_SMTP_USER"]:
            smtp.login(settings["HYMY_SMTP_USER"], settings["HYMY_SMTP_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    return smtp


def by_language(people, lang=None):
    """Group people by the language their e-mail is written in: lang for everybody, else their own."""
    default = current_app.config["HYMY_DEFAULT_LANG"]
    groups = {}
    for person in people:
        groups.setdefault(lang or person.lang or default, []).append(person)
    return groups


def unit_managers(unit):
    """Return the active managers responsible for the unit, directly or through its area, by e-mail."""
    scope = db.or_(User.id.in_(db.select(user_units.c.user_id).where(user_units.c.unit_id == unit.id)),
                   User.id.in_(db.select(user_areas.c.user_id).where(user_areas.c.area_id == unit.area_id)))
    return _people("manager", scope)


def area_directors(area):
    """Return the active directors of the area, by e-mail."""
    return _people("director", User.id.in_(db.select(user_areas.c.user_id).where(user_areas.c.area_id == area.id)))


def _people(role, scope):
    return list(db.session.execute(
        db.select(User).where(User.role == role, User.active, scope).order_by(User.email)
    ).scalars())
