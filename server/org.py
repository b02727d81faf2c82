"""Creating the organisation: areas, units, kiosk devices and users. Used by the CLI and the pages."""

import re

from flask import current_app

from .models import LANGS, ROLES, SCALE_NAMES, Area, Device, Unit, User, db, utcnow

MAX_REASONS = 6
REASON_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
_KEEP = object()


class OrgError(ValueError):
    """A request to create or change part of the organisation cannot be carried out."""


def find_area(name_or_code):
    """Return the area with the code or name, or None."""
    return db.session.execute(
        db.select(Area).where((Area.code == name_or_code) | (Area.name == name_or_code))
    ).scalar_one_or_none()


def area_names():
    """Return every area's name, sorted."""
    return list(db.session.execute(db.select(Area.name).order_by(Area.name)).scalars())


def get_or_create_area(name):
    """Return the area with the name or code, creating one with the name when none exists."""
    name = name.strip()
    if not name:
        raise OrgError("an area needs a name")
    area = find_area(name)
    if area is None:
        area = Area(name=name)
        db.session.add(area)
        db.session.flush()
    return area


def create_unit(name, area=None, scale="smiley5", lang="fi", names=None, questions=None):
    """Create a unit with a fresh public code; commit and return it."""
    name = (name or "").strip()
    if not name:
        raise OrgError("a unit needs a name")
    if scale not in SCALE_NAMES:
        raise OrgError(f"scale must be one of {', '.join(SCALE_NAMES)}")
    unit = Unit(
        names=names or {lang: name},
        questions=questions or {},
        scale=scale,
        default_lang=lang,
        area=get_or_create_area(area) if area else None,
    )
    db.session.add(unit)
    db.session.commit()
    return unit


def check_reason_keys(keys):
    """Refuse more than six reason keys, or keys other than short lower-case words."""
    if len(keys) > MAX_REASONS:
        raise OrgError(f"at most {MAX_REASONS} reasons")
    for key in keys:
        if not REASON_KEY.match(key):
            raise OrgError(f"reason key {key!r} must be lower-case letters, digits and underscores")
    if len(set(keys)) != len(keys):
        raise OrgError("a reason key is listed twice")
    return keys


def update_unit(unit, *, names, questions, scale, default_lang, reasons_positive, reasons_negative,
                repeat_window_s, area=_KEEP):
    """Change a unit's settings and commit; area (a name, or None for none) is kept unless given."""
    names = {lang: text.strip() for lang, text in names.items() if text and text.strip()}
    if not names.get(default_lang):
        raise OrgError("the unit needs a name in its default language")
    if scale not in SCALE_NAMES:
        raise OrgError(f"scale must be one of {', '.join(SCALE_NAMES)}")
    if default_lang not in LANGS:
        raise OrgError(f"the default language must be one of {', '.join(LANGS)}")
    unit.names = names
    unit.questions = {lang: text.strip() for lang, text in questions.items() if text and text.strip()}
    unit.scale = scale
    unit.default_lang = default_lang
    unit.reasons_positive = check_reason_keys(list(reasons_positive))
    unit.reasons_negative = check_reason_keys(list(reasons_negative))
    unit.repeat_window_s = max(0, int(repeat_window_s or 0))
    if area is not _KEEP:
        unit.area = get_or_create_area(area) if area else None
    db.session.commit()
    return unit


def find_unit(code):
    """Return the unit with the public code; raise OrgError when there is none."""
    unit = db.session.execute(db.select(Unit).where(Unit.code == code)).scalar_one_or_none()
    if unit is None:
        raise OrgError(f"no unit with code {code!r}")
    return unit


def add_device(unit, name=""):
    """Create a device awaiting enrolment; return it and its one-time enrolment link."""
    device = Device(unit=unit, name=name or "")
    code = device.new_enrolment_code()
    db.session.add(device)
    db.session.commit()
    return device, enrolment_link(unit, code)


def enrolment_link(unit, code):
    """Return the one-time link that enrols a tablet for the unit."""
    return f"{current_app.config['HYMY_BASE_URL']}/k/{unit.code}?enrol={code}"


def revoke_device(device):
    """Stop a tablet's token (or its pending enrolment link) from working; commit."""
    device.revoked_at = utcnow()
    device.enrol_code_hash = None
    device.enrol_expires_at = None
    db.session.commit()
    return device


def add_user(email, role, password, name="", scope=(), lang=None):
    """Create a user with a role, a scope of unit codes and area codes or names, and maybe a language."""
    email = (email or "").strip().lower()
    if "@" not in email:
        raise OrgError("the e-mail address is not valid")
    if role not in ROLES:
        raise OrgError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < 10:
        raise OrgError("the password must be at least 10 characters long")
    if db.session.execute(db.select(User).where(User.email == email)).scalar_one_or_none():
        raise OrgError(f"a user with the e-mail {email} exists already")
    if lang and lang not in LANGS:
        raise OrgError(f"lang must be one of {', '.join(LANGS)}")
    user = User(email=email, role=role, name=name, lang=lang or None)
    user.set_password(password)
    for item in scope:
        unit = db.session.execute(db.select(Unit).where(Unit.code == item)).scalar_one_or_none()
        if unit is not None:
            user.units.append(unit)
            continue
        area = find_area(item)
        if area is None:
            raise OrgError(f"the scope {item!r} is neither a unit code nor an area")
        user.areas.append(area)
    db.session.add(user)
    db.session.commit()
    return user
