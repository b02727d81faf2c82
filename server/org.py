"""Creating the organisation: areas, units, kiosk devices and users. Used by the CLI and the pages."""

from flask import current_app

from .models import ROLES, SCALE_NAMES, Area, Device, Unit, User, db


class OrgError(ValueError):
    """A request to create or change part of the organisation cannot be carried out."""


def find_area(name_or_code):
    return db.session.execute(
        db.select(Area).where((Area.code == name_or_code) | (Area.name == name_or_code))
    ).scalar_one_or_none()


def get_or_create_area(name):
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


def find_unit(code):
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
    return f"{current_app.config['HYMY_BASE_URL']}/k/{unit.code}?enrol={code}"


def add_user(email, role, password, name="", scope=()):
    """Create a user with a role and a scope of unit codes and area codes or names."""
    email = (email or "").strip().lower()
    if "@" not in email:
        raise OrgError("the e-mail address is not valid")
    if role not in ROLES:
        raise OrgError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < 10:
        raise OrgError("the password must be at least 10 characters long")
    if db.session.execute(db.select(User).where(User.email == email)).scalar_one_or_none():
        raise OrgError(f"a user with the e-mail {email} exists already")
    user = User(email=email, role=role, name=name)
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
