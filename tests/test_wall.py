"""The praise wall: a revocable read-only link showing recent praise, never who logged it."""

import uuid
from datetime import timedelta

import pytest

from server.insight_models import WallLink
from server.models import Response, db, utcnow


def add(unit, score=None, comment=None, days_ago=1, **fields):
    db.session.add(Response(
        id=str(uuid.uuid4()), unit_id=unit.id, channel=fields.pop("channel", "kiosk"), score=score,
        scale=unit.scale, comment=comment, answered_at=utcnow() - timedelta(days=days_ago), **fields,
    ))
    db.session.commit()


@pytest.fixture
def unit_with_praise(make_unit, make_user):
    unit = make_unit("Ward 3")
    staff = make_user("staff", [unit.code], email="salla.sanoja@example.org")
    staff.name = "Salla Sanoja"
    add(unit, 5, "The night nurse was so kind")
    add(unit, 1, "Nobody answered the phone")
    add(unit, 3, "It was fine, I suppose")
    add(unit, None, "A relative thanked us for the calm discharge", channel="spoken", kind="praise",
        user_id=staff.id)
    add(unit, None, "The parking is too small", channel="spoken", kind="suggestion", user_id=staff.id)
    add(unit, 5, "Pressed twice", flags="repeat")
    add(unit, 5, "Praise from last spring", days_ago=200)
    return unit


def new_link(unit):
    link = WallLink(unit_id=unit.id)
    db.session.add(link)
    db.session.commit()
    return link


def test_the_wall_shows_recent_praise_without_a_sign_in_and_without_who_logged_it(client, unit_with_praise):
    link = new_link(unit_with_praise)
    response = client.get(f"/wall/{link.code}?lang=en")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Ward 3" in page
    assert "The night nurse was so kind" in page
    assert "A relative thanked us for the calm discharge" in page and "Told to our staff" in page
    for absent in ("Nobody answered", "It was fine", "parking", "Pressed twice", "last spring", "Salla",
                   "salla.sanoja"):
        assert absent not in page
    assert "wall.js" in page and "style=" not in page and "<script>" not in page


def test_the_wall_feed_gives_the_same_praise_as_json_for_polling(client, unit_with_praise):
    link = new_link(unit_with_praise)
    data = client.get(f"/wall/{link.code}/items.json?lang=en").get_json()
    assert [item["text"] for item in data["items"]] == [
        "A relative thanked us for the calm discharge", "The night nurse was so kind",
    ]
    assert all(set(item) == {"id", "text", "day", "source"} for item in data["items"])
    add(unit_with_praise, 4, "Fresh praise", days_ago=0)
    data = client.get(f"/wall/{link.code}/items.json").get_json()
    assert data["items"][0]["text"] == "Fresh praise"


def test_a_revoked_or_unknown_link_shows_nothing(client, login_as, unit_with_praise):
    link = new_link(unit_with_praise)
    login_as("manager", [unit_with_praise.code])
    response = client.post(f"/manage/units/{unit_with_praise.code}/walls/{link.code}/revoke")
    assert response.status_code == 302
    client.post("/logout")
    assert client.get(f"/wall/{link.code}").status_code == 404
    assert client.get(f"/wall/{link.code}/items.json").status_code == 404
    assert client.get(f"/wall/{unit_with_praise.code}").status_code == 404  # a unit code is not a wall code


def test_a_manager_makes_and_lists_links_for_their_unit(client, login_as, unit_with_praise):
    login_as("manager", [unit_with_praise.code])
    response = client.post(f"/manage/units/{unit_with_praise.code}/walls?lang=en", data={"name": "Staff room"})
    assert response.status_code == 302
    link = db.session.execute(db.select(WallLink)).scalar_one()
    assert link.unit_id == unit_with_praise.id and link.active and len(link.code) >= 20
    page = client.get(f"/manage/units/{unit_with_praise.code}/walls?lang=en").get_data(as_text=True)
    assert "Staff room" in page and f"/wall/{link.code}" in page and "Revoke" in page


@pytest.mark.parametrize("role, scoped, status", [
    ("manager", False, 404), ("staff", True, 403), ("director", True, 200), ("admin", False, 200),
])
def test_only_people_responsible_for_the_unit_manage_its_links(client, login_as, make_unit, role, scoped, status):
    unit = make_unit("Private")
    login_as(role, [unit.code] if scoped else [])
    assert client.get(f"/manage/units/{unit.code}/walls").status_code == status
    expected_post = 302 if status == 200 else status
    assert client.post(f"/manage/units/{unit.code}/walls", data={"name": "x"}).status_code == expected_post


def test_a_manager_cannot_revoke_another_units_link(client, login_as, make_unit):
    mine, theirs = make_unit("Mine"), make_unit("Theirs")
    link = new_link(theirs)
    login_as("manager", [mine.code])
    assert client.post(f"/manage/units/{mine.code}/walls/{link.code}/revoke").status_code == 404
    assert client.get(f"/wall/{link.code}").status_code == 200


def test_the_wall_shows_one_praise_at_a_time_in_a_real_browser_and_can_be_paused(
        live_server, tablet, unit_with_praise, tmp_path):
    link = new_link(unit_with_praise)
    tablet.goto(f"{live_server}/wall/{link.code}?lang=en")
    assert tablet.locator(".wall-item").count() == 2
    assert tablet.locator(".wall-item.is-current").count() == 1
    assert tablet.locator(".wall-item:visible").count() == 1
    font_px = tablet.locator(".wall-item.is-current blockquote").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_px >= 40  # readable from three metres on a TV
    tablet.get_by_role("button", name="Pause").click()
    assert tablet.get_by_role("button", name="Continue").get_attribute("aria-pressed") == "true"
    tablet.screenshot(path=str(tmp_path / "wall.png"))
