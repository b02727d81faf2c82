"""Translated labels for faces, reasons and channels: keys stay stable, words follow the reader."""

from flask_babel import lazy_gettext as _l

from .models import pick_lang

FACE_LABELS = {
    "smiley5": {1: _l("Very poor"), 2: _l("Poor"), 3: _l("Neither good nor poor"), 4: _l("Good"), 5: _l("Very good")},
    "smiley4": {1: _l("Very poor"), 2: _l("Poor"), 3: _l("Good"), 4: _l("Very good")},
}
NPS_ENDS = (_l("Not at all likely"), _l("Extremely likely"))

REASON_LABELS = {
    "waiting_time": _l("Waiting time"),
    "staff_attitude": _l("Staff attitude"),
    "information": _l("Information"),
    "being_heard": _l("Being heard"),
    "facilities": _l("Facilities"),
    "other": _l("Other"),
}

CHANNEL_LABELS = {
    "kiosk": _l("Kiosk"),
    "qr": _l("Phone (QR)"),
    "spoken": _l("Spoken"),
    "phone": _l("Phone call"),
    "email": _l("E-mail"),
    "letter": _l("Letter"),
    "complaint": _l("Formal complaint"),
    "reminder": _l("Reminder"),
    "expert": _l("Experience expert"),
    "import": _l("Import"),
}

DEFAULT_QUESTION = _l("How did we do today?")


def face_label(scale, score):
    if scale == "nps":
        return str(score)
    return str(FACE_LABELS[scale][score])


def reason_label(unit, key):
    """The unit's own label for a reason key, else the translated default."""
    custom = (unit.reason_labels or {}).get(key)
    if custom:
        return pick_lang(custom)
    return str(REASON_LABELS.get(key, key))
