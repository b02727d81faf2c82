"""`hymy demo`: a realistic organisation, seeded once."""

from server import cli
from server.demo import DEMO_PASSWORD
from server.models import Area, Response, Unit, User, db


def count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_demo_creates_two_areas_and_six_units_with_weeks_of_answers(runner):
    result = runner.invoke(cli.main, args=["demo"])
    assert result.exit_code == 0, result.output
    assert count(Area) == 2
    assert count(Unit) == 6
    units = db.session.execute(db.select(Unit)).scalars().all()
    assert {u.scale for u in units} == {"smiley5", "smiley4", "nps"}
    assert all(u.area is not None for u in units)
    times = db.session.execute(db.select(Response.answered_at)).scalars().all()
    weeks = {t.isocalendar()[:2] for t in times}
    assert len(weeks) >= 5
    per_unit = dict(db.session.execute(
        db.select(Response.unit_id, db.func.count()).group_by(Response.unit_id)).all())
    assert len(per_unit) == 6 and min(per_unit.values()) >= 50
    with_reason = db.session.execute(
        db.select(db.func.count()).select_from(Response).where(Response.reason.is_not(None))).scalar_one()
    comments = db.session.execute(db.select(Response.comment).where(Response.comment.is_not(None))).scalars().all()
    assert with_reason > len(times) / 3
    assert any("kiitos" in c.lower() for c in comments)


def test_demo_twice_changes_nothing_the_second_time(runner):
    runner.invoke(cli.main, args=["demo"])
    before = (count(Area), count(Unit), count(User), count(Response))
    again = runner.invoke(cli.main, args=["demo"])
    assert again.exit_code == 0
    assert "exists already" in again.output
    assert (count(Area), count(Unit), count(User), count(Response)) == before


def test_every_demo_login_works_and_sees_the_right_units(runner, app):
    runner.invoke(cli.main, args=["demo"])
    expected_units = {"admin": 6, "director": 3, "manager": 1}
    for email, role in db.session.execute(db.select(User.email, User.role)).all():
        client = app.test_client()
        signed_in = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
        assert signed_in.status_code == 302, email
        home = client.get("/manage/", headers={"Accept-Language": "en"}).get_data(as_text=True)
        if role in expected_units:
            assert home.count("/manage/units/") - home.count("/manage/units/new") == expected_units[role], email
