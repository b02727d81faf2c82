"""What clients see: the kiosk page, the phone page, the unit's QR code and poster."""

import hashlib
import io
import json
import os

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, current_app, render_template, request, send_from_directory
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _pl

from . import stats
from .labels import DEFAULT_QUESTION, NPS_ENDS, face_label, reason_label
from .models import Unit, db, pick_lang

bp = Blueprint("kiosk", __name__)

# Easy-read mode (after the NHS FFT easy-read version): a shorter question and plainer words.
EASY_QUESTION = _l("Was your visit good?")
# A context of their own: the easy-read words differ from the standard face labels in Finnish.
EASY_FACE_LABELS = {
    "smiley5": {1: _pl("easy-read", "Very bad"), 2: _pl("easy-read", "Bad"), 3: _pl("easy-read", "OK"),
                4: _pl("easy-read", "Good"), 5: _pl("easy-read", "Very good")},
    "smiley4": {1: _pl("easy-read", "Very bad"), 2: _pl("easy-read", "Bad"), 3: _pl("easy-read", "Good"),
                4: _pl("easy-read", "Very good")},
}


def unit_or_404(code):
    return db.first_or_404(db.select(Unit).where(Unit.code == code))


# What the service worker caches; a change to any of them gives the kiosk a new cache version.
OFFLINE_ASSETS = ("kiosk.js", "outbox.js", "kiosk.css", "icon.svg", "sw.js")


def asset_version():
    """Return a short fingerprint of the kiosk's static files, for the service worker's cache name."""
    digest = hashlib.sha256()
    for name in OFFLINE_ASSETS:
        try:
            stat = os.stat(os.path.join(current_app.static_folder, name))
        except OSError:
            continue
        digest.update(f"{name}:{stat.st_mtime_ns}:{stat.st_size};".encode())
    return digest.hexdigest()[:12]


def answer_page(unit, mode):
    """Render the answer page; a kiosk speaks its unit's default language unless ?lang= says otherwise."""
    if mode == "kiosk" and request.args.get("lang") not in ("fi", "sv", "en"):
        with force_locale(unit.default_lang or "fi"):
            return render_answer_page(unit, mode)
    return render_answer_page(unit, mode)


def segment_questions(unit):
    """Return the unit's segment questions with their texts in the reader's language."""
    questions = []
    for question in unit.segment_questions or []:
        options = [
            (option["value"], pick_lang(option.get("labels")) or option["value"])
            for option in question.get("options") or [] if option.get("value")
        ]
        if question.get("key") and options:
            questions.append({"key": question["key"], "label": pick_lang(question.get("labels")) or question["key"],
                              "options": options})
    return questions


def render_answer_page(unit, mode):
    scale = stats.SCALES[unit.scale]
    easy_labels = EASY_FACE_LABELS.get(unit.scale) if unit.easy_read else None
    faces = [
        {"score": s, "label": str(easy_labels[s]) if easy_labels else face_label(unit.scale, s),
         "polarity": scale.polarity(s)}
        for s in scale.scores
    ]
    # The 0-to-10 scale asks its own question (how likely to recommend); easy read keeps it.
    question = str(EASY_QUESTION) if easy_labels else unit.question() or str(DEFAULT_QUESTION)
    reasons = {
        "positive": [(k, reason_label(unit, k)) for k in unit.reasons_positive[:6]],
        "negative": [(k, reason_label(unit, k)) for k in unit.reasons_negative[:6]],
        "other": ("other", reason_label(unit, "other")),
    }
    return render_template(
        "kiosk/answer.html",
        unit=unit,
        mode=mode,
        faces=faces,
        reasons=reasons,
        question=question,
        easy_read=unit.easy_read,
        segments=segment_questions(unit),
        nps_ends=NPS_ENDS if unit.scale == "nps" else None,
        reset_ms=current_app.config["HYMY_KIOSK_RESET_SECONDS"] * 1000,
        idle_ms=current_app.config["HYMY_KIOSK_IDLE_SECONDS"] * 1000,
        asset_version=asset_version(),
    )


@bp.get("/k/<code>")
def kiosk_page(code):
    """The wall-mounted tablet's page."""
    return answer_page(unit_or_404(code), "kiosk")


@bp.get("/q/<code>")
def phone_page(code):
    """The QR code's target: the same question, laid out for a phone."""
    return answer_page(unit_or_404(code), "phone")


def unit_url(unit):
    return f"{current_app.config['HYMY_BASE_URL']}/q/{unit.code}"


def qr_image(data, factory=None):
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=10)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.make_image(image_factory=factory) if factory else qr.make_image()


@bp.get("/q/<code>/qr.svg")
def qr_svg(code):
    unit = unit_or_404(code)
    out = io.BytesIO()
    qr_image(unit_url(unit), qrcode.image.svg.SvgPathImage).save(out)
    return Response(out.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/q/<code>/qr.png")
def qr_png(code):
    unit = unit_or_404(code)
    out = io.BytesIO()
    qr_image(unit_url(unit)).save(out)
    return Response(out.getvalue(), mimetype="image/png", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/q/<code>/poster")
def poster(code):
    """A printable A4 poster in the unit's languages."""
    unit = unit_or_404(code)
    langs = [request.args.get("lang")] if request.args.get("lang") in ("fi", "sv", "en") else None
    langs = langs or [lang for lang in ("fi", "sv", "en") if unit.names.get(lang)] or ["fi"]
    blocks = []
    for lang in langs:
        with force_locale(lang):
            blocks.append({
                "lang": lang,
                "name": unit.names.get(lang) or unit.name,
                "question": unit.question(lang) or str(DEFAULT_QUESTION),
                "invite": _("Scan the code with your phone's camera and answer in a few seconds."),
                "anonymous": _("Anonymous. Names and contact details are removed from comments."),
            })
    return render_template("kiosk/poster.html", unit=unit, url=unit_url(unit), blocks=blocks)


@bp.get("/k/<code>/manifest.webmanifest")
def manifest(code):
    """Let the kiosk install to the home screen and run full-screen."""
    unit = unit_or_404(code)
    body = {
        "name": f"Hymy · {unit.name}",
        "short_name": "Hymy",
        "start_url": f"/k/{unit.code}",
        "scope": "/",
        "display": "fullscreen",
        "background_color": "#ffffff",
        "theme_color": "#0b5cad",
        "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    return Response(json.dumps(body), mimetype="application/manifest+json")


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope covers /k/ and /q/ pages."""
    response = send_from_directory(current_app.static_folder, "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
