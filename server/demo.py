"""A realistic demo organisation so that a fresh install shows something alive."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from . import org, stats
from .models import Response, User, db

DEMO_PASSWORD = "hymy-demo-2026"
DEMO_USERS = [
    ("admin@hymy.example", "admin", "Aino Admin", []),
    ("director@hymy.example", "director", "Pekka Palvelujohtaja", ["Perusterveydenhuolto"]),
    ("manager@hymy.example", "manager", "Maija Esihenkilö", ["terveysasema"]),
    ("staff@hymy.example", "staff", "Sari Sairaanhoitaja", ["terveysasema"]),
]

# name_fi, name_sv, name_en, area, scale, typical share of positive answers, answers a weekday
DEMO_UNITS = [
    ("Keskustan terveysasema, vastaanotto", "Centrums hälsostation, mottagning", "Central health centre, reception",
     "Perusterveydenhuolto", "smiley5", 0.78, 35, "terveysasema"),
    ("Hammashoitola Kaivopuisto", "Tandklinik Brunnsparken", "Kaivopuisto dental clinic",
     "Perusterveydenhuolto", "smiley5", 0.86, 18, "hammashoitola"),
    ("Neuvola Itäkeskus", "Rådgivningen Östra centrum", "Itäkeskus child health clinic",
     "Perusterveydenhuolto", "smiley4", 0.9, 12, "neuvola"),
    ("Sosiaalitoimisto Pasila", "Socialbyrån Böle", "Pasila social services office",
     "Sosiaali- ja vanhuspalvelut", "smiley5", 0.62, 14, "sosiaalitoimisto"),
    ("Kotihoito Etelä", "Hemvården Syd", "Home care South",
     "Sosiaali- ja vanhuspalvelut", "smiley5", 0.8, 8, "kotihoito"),
    ("Palvelutalo Kuusikko", "Servicehuset Granskogen", "Kuusikko assisted living",
     "Sosiaali- ja vanhuspalvelut", "nps", 0.7, 6, "palvelutalo"),
]

POSITIVE_COMMENTS = [
    "Ystävällinen vastaanotto ja pääsin nopeasti lääkärille.",
    "Hoitaja kuunteli ja selitti kaiken selkeästi.",
    "Kiitos rauhallisesta ja asiantuntevasta palvelusta!",
    "Lapsi sai hyvää hoitoa, kiitos koko tiimille.",
    "Asiat hoituivat sujuvasti, mukava henkilökunta.",
    "Sain vastaukset kysymyksiini, tunsin tulleeni kuulluksi.",
    "Siistit tilat ja selkeät opasteet.",
]
NEGATIVE_COMMENTS = [
    "Jouduin odottamaan yli tunnin ilman tietoa viivästyksestä.",
    "Puhelinjonossa meni pitkään, eikä takaisinsoittoa tullut.",
    "En saanut tietoa siitä, mitä seuraavaksi tapahtuu.",
    "Vastaanotolla oli kiire eikä asiaani ehditty kuunnella.",
    "Odotustila oli täynnä ja kuuma.",
]
# The health centre's last two weeks drift worse on waiting time: something for a manager to find.
WORSE_LATELY = "terveysasema"
NEUTRAL_COMMENTS = ["Ihan ok käynti.", "Ajanvaraus olisi voinut olla helpompaa."]


def seed_demo(weeks=6, seed=2026):
    """Create the demo areas, units, users and answers unless they exist; return True if created."""
    if db.session.execute(db.select(User).where(User.email == DEMO_USERS[0][0])).scalar_one_or_none():
        return False
    rng = random.Random(seed)
    tz = ZoneInfo(current_app.config["HYMY_TIMEZONE"])
    now = datetime.now(UTC)
    codes = {}
    for name_fi, name_sv, name_en, area, scale, p_pos, per_day, key in DEMO_UNITS:
        unit = org.create_unit(
            name_fi, area=area, scale=scale, names={"fi": name_fi, "sv": name_sv, "en": name_en},
            questions={
                "fi": "Miten onnistuimme tänään?" if scale != "nps" else "Kuinka todennäköisesti suosittelisit meitä läheisellesi?",
                "sv": "Hur lyckades vi i dag?" if scale != "nps" else "Hur troligt är det att du skulle rekommendera oss till en närstående?",
                "en": "How did we do today?" if scale != "nps" else "How likely are you to recommend us to someone close to you?",
            },
        )
        codes[key] = unit.code
        db.session.execute(
            db.insert(Response),
            list(_answers(unit, p_pos, per_day, weeks, now, tz, rng, worse_lately=key == WORSE_LATELY)),
        )
        db.session.commit()
    for email, role, name, scope in DEMO_USERS:
        org.add_user(email, role, DEMO_PASSWORD, name=name, scope=[codes.get(s, s) for s in scope])
    return True


def _answers(unit, p_pos, per_day, weeks, now, tz, rng, worse_lately=False):
    """Yield plausible weekday answers, office hours, over the last weeks."""
    scale = stats.SCALES[unit.scale]
    local_now = now.astimezone(tz)
    day = local_now.date() - timedelta(days=weeks * 7)
    while day <= local_now.date():
        lately = worse_lately and (local_now.date() - day).days < 14
        if day.weekday() < 5:
            for _ in range(max(0, int(rng.gauss(per_day, per_day ** 0.5)))):
                at = datetime(day.year, day.month, day.day, rng.randint(8, 15), rng.randint(0, 59), rng.randint(0, 59), tzinfo=tz)
                if at <= local_now:
                    yield _one(unit, scale, p_pos - 0.15 if lately else p_pos, at, rng, lately)
        day += timedelta(days=1)


def _one(unit, scale, p_pos, at, rng, lately=False):
    """Return one answer row: a score, often a reason, sometimes a Finnish comment."""
    roll = rng.random()
    if roll < p_pos:
        score = rng.choice(sorted(scale.positive) + [scale.high])
        reasons, comments = unit.reasons_positive, POSITIVE_COMMENTS
    elif roll < p_pos + 0.08 and scale.neutral:
        score = rng.choice(sorted(scale.neutral))
        reasons, comments = unit.reasons_negative, NEUTRAL_COMMENTS
    else:
        score = rng.choice(sorted(scale.negative))
        reasons, comments = unit.reasons_negative, NEGATIVE_COMMENTS
    weights = [max(1, 5 - 2 * i) for i in range(len(reasons))]
    reason = rng.choices(reasons, weights=weights)[0] if reasons and rng.random() < 0.6 else None
    if lately and reason and scale.polarity(score) == "negative":
        reason = "waiting_time"
    comment = rng.choice(comments) if rng.random() < 0.15 else None
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "unit_id": unit.id, "channel": rng.choice(["kiosk", "kiosk", "kiosk", "qr"]), "device_id": None,
        "user_id": None, "score": score, "scale": scale.name, "reason": reason, "comment": comment,
        "segment": None, "lang": rng.choice(["fi"] * 8 + ["sv", "en"]),
        "answered_at": at.astimezone(UTC), "received_at": at.astimezone(UTC), "flags": "",
    }
