"""The kiosk and the phone page in Debian's Chromium, as a client and as staff would use them."""

import time

import pytest
from playwright.sync_api import expect

from server import __version__, org
from server.models import Device, Response, db, utcnow

pytestmark = pytest.mark.browser


def stored(**where):
    """Return the stored answers, read fresh: the live server writes from its own threads."""
    db.session.rollback()
    db.session.expire_all()
    query = db.select(Response).filter_by(**where).order_by(Response.answered_at)
    return db.session.execute(query).scalars().all()


def eventually(check, timeout=20.0):
    """Wait until check() returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def answer(page, score, reason=None, comment=None, send=True):
    """Give one answer: tap a face, maybe pick a reason and type a comment, then send or skip."""
    page.locator(f'[data-score="{score}"]').click()
    expect(page.locator('[data-screen="details"]')).to_be_visible()
    if reason:
        page.locator(f'[data-reason="{reason}"]:visible').click()
    if comment:
        page.locator('textarea[name="comment"]').fill(comment)
    page.locator('[data-action="send"]' if send else '[data-action="skip"]').click()
    expect(page.locator('[data-screen="thanks"]')).to_be_visible()


def enrol(page, live_server, unit):
    """Open a fresh enrolment link on the page and wait until it works offline too."""
    device, link = org.add_device(unit)
    page.goto(link.replace("http://hymy.test", live_server))
    expect(page.locator('[data-notice="not-enrolled"]')).to_be_hidden()
    expect(page.locator("main[data-offline=ready]")).to_be_attached(timeout=15000)
    return device


API = "**/api/v1/**"


def go_offline(page):
    """Cut the tablet off: emulated offline, and every API request refused as a lost network would.

    Chromium's offline emulation can miss a request made at the moment a page is reloaded, which
    here would send a queued answer early; the route holds across reloads.
    """
    page.context.set_offline(True)
    page.route(API, lambda route: route.abort("internetdisconnected"))


def go_online(page):
    page.unroute(API)
    page.context.set_offline(False)


def long_press(page, locator, seconds=3.3):
    box = locator.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(seconds * 1000)
    page.mouse.up()


@pytest.fixture
def unit(make_unit, app):
    app.config["HYMY_KIOSK_RESET_SECONDS"] = 1
    return make_unit(name="Terveysasema Keskusta")


def test_a_client_taps_a_face_picks_a_reason_comments_and_the_kiosk_resets(live_server, tablet, unit):
    tablet.goto(f"{live_server}/k/{unit.code}")
    tablet.locator('[data-score="5"]').click()
    expect(tablet.locator("#details-title")).to_be_focused()
    answer_chip = tablet.locator('[data-reason="staff_attitude"]:visible')
    answer_chip.click()
    expect(answer_chip).to_have_attribute("aria-pressed", "true")
    tablet.locator('textarea[name="comment"]').fill("Ystävällinen vastaanotto")
    tablet.locator('[data-action="send"]').click()

    expect(tablet.locator('[data-screen="thanks"]')).to_be_visible()
    expect(tablet.locator("#announcer")).to_have_text(tablet.locator(".thanks-title").inner_text())
    expect(tablet.locator('[data-screen="faces"]')).to_be_visible()
    expect(tablet.locator("#question")).to_be_focused()
    rows = eventually(stored)
    assert [(r.score, r.reason, r.comment) for r in rows] == [(5, "staff_attitude", "Ystävällinen vastaanotto")]


def test_an_unenrolled_kiosk_tells_staff_and_answers_like_the_phone_page(live_server, tablet, unit):
    tablet.goto(f"{live_server}/k/{unit.code}")
    expect(tablet.locator('[data-notice="not-enrolled"]')).to_be_visible()
    answer(tablet, 4, send=False)
    rows = eventually(stored)
    assert [(r.score, r.channel, r.reason) for r in rows] == [(4, "qr", None)]


def test_the_reason_chips_follow_the_faces_polarity_and_allow_one_reason(live_server, tablet, make_unit):
    unit = make_unit(reasons_positive=["staff_attitude"], reasons_negative=["waiting_time"])
    tablet.goto(f"{live_server}/k/{unit.code}")
    chips = tablet.locator("[data-reason]:visible")

    tablet.locator('[data-score="3"]').click()  # neutral: the negative reasons
    expect(chips).to_have_count(2)
    expect(tablet.locator('[data-reason="waiting_time"]')).to_be_visible()
    tablet.locator('[data-reason="waiting_time"]').click()
    tablet.locator('[data-reason="other"]').click()
    expect(tablet.locator('[aria-pressed="true"]')).to_have_count(1)
    expect(tablet.locator('[data-reason="other"]')).to_have_attribute("aria-pressed", "true")
    tablet.locator('[data-action="send"]').click()
    assert eventually(lambda: [r.reason for r in stored()]) == ["other"]

    expect(tablet.locator('[data-screen="faces"]')).to_be_visible(timeout=10000)
    tablet.locator('[data-score="5"]').click()
    expect(chips).to_have_count(2)
    expect(tablet.locator('[data-reason="staff_attitude"]')).to_be_visible()
    expect(tablet.locator('[aria-pressed="true"]')).to_have_count(0)


def test_the_kiosk_goes_back_to_its_own_language_after_each_answer(live_server, tablet, unit):
    tablet.goto(f"{live_server}/k/{unit.code}")
    tablet.locator('[data-lang="en"]').click()
    expect(tablet.locator("html")).to_have_attribute("lang", "en")
    answer(tablet, 5)
    expect(tablet.locator("html")).to_have_attribute("lang", "fi", timeout=10000)
    expect(tablet.locator('[data-screen="faces"]')).to_be_visible()
    assert eventually(lambda: [r.lang for r in stored()]) == ["en"]


def test_an_enrolled_kiosk_delivers_every_offline_answer_exactly_once(live_server, tablet, unit):
    device = enrol(tablet, live_server, unit)
    assert "enrol=" not in tablet.url

    go_offline(tablet)
    answer(tablet, 5, reason="staff_attitude")
    answer(tablet, 1, reason="waiting_time", comment="Jonotin tunnin")
    answer(tablet, 3, send=False)
    tablet.reload()
    expect(tablet.locator('[data-score="5"]')).to_be_visible()
    answer(tablet, 4)
    tablet.wait_for_timeout(500)
    assert stored() == []

    go_online(tablet)
    eventually(lambda: len(stored()) >= 4, timeout=40)
    tablet.wait_for_timeout(1000)  # a resend under a new id would show up as a fifth row
    rows = stored()
    assert sorted(r.score for r in rows) == [1, 3, 4, 5]
    assert {r.channel for r in rows} == {"kiosk"}
    assert {r.device_id for r in rows} == {device.id}
    assert [r.comment for r in rows if r.score == 1] == ["Jonotin tunnin"]


def test_answers_wait_out_a_server_failure_and_arrive_later(live_server, tablet, unit):
    enrol(tablet, live_server, unit)
    refused = []

    def fail(route):
        refused.append(route.request.post_data_json["score"])
        route.fulfill(status=503, body="down")

    tablet.route("**/api/v1/responses", fail)
    answer(tablet, 2)
    answer(tablet, 5)
    # Checked before the route goes: the kiosk's next retry may come any moment after it.
    assert refused and set(refused) <= {2, 5}
    assert stored() == []
    tablet.unroute("**/api/v1/responses")
    answer(tablet, 4)
    assert eventually(lambda: sorted(r.score for r in stored()) == [2, 4, 5])


def test_a_revoked_kiosk_asks_for_re_enrolment_and_keeps_its_answers(live_server, tablet, unit):
    device = enrol(tablet, live_server, unit)
    device.revoked_at = utcnow()
    db.session.commit()

    answer(tablet, 5, comment="Hyvä palvelu")
    expect(tablet.locator('[data-notice="reenrol"]')).to_be_visible()
    assert stored() == []
    long_press(tablet, tablet.locator(".unit-name"))
    status = tablet.locator("#device-status")
    expect(status).to_be_visible()
    expect(status.locator('[data-status="queued"]')).to_have_text("1")
    status.locator("button").click()

    replacement = enrol(tablet, live_server, unit)
    rows = eventually(stored)
    assert [(r.comment, r.channel, r.device_id) for r in rows] == [("Hyvä palvelu", "kiosk", replacement.id)]
    expect(tablet.locator('[data-notice="reenrol"]')).to_be_hidden()
    assert db.session.get(Device, device.id).revoked_at is not None


def test_an_enrolled_kiosk_reports_its_health_and_the_answers_the_server_refused(live_server, tablet, unit):
    device = enrol(tablet, live_server, unit)

    def fresh():
        db.session.rollback()
        db.session.expire_all()
        return db.session.get(Device, device.id)

    assert eventually(lambda: fresh().app_version == __version__)
    refusal = {"error": "score must be from 1 to 5 on this unit's scale", "field": "score"}
    tablet.route("**/api/v1/responses", lambda route: route.fulfill(status=422, json=refusal))
    answer(tablet, 5)
    tablet.wait_for_function("() => (localStorage.getItem('hymy.status') || '').includes('lastError')")
    tablet.reload()  # a kiosk reports on every load (and every minute)
    assert eventually(lambda: "score must be from 1 to 5" in (fresh().last_error or ""))
    assert fresh().queued_count == 0
    assert stored() == []


def test_an_unfinished_answer_is_sent_as_it_is_when_nobody_touches_the_kiosk(live_server, tablet, unit, app):
    app.config["HYMY_KIOSK_IDLE_SECONDS"] = 2
    tablet.goto(f"{live_server}/k/{unit.code}")
    tablet.locator('[data-score="2"]').click()
    tablet.locator('[data-reason="waiting_time"]:visible').click()
    comment = tablet.locator('textarea[name="comment"]')
    comment.click()
    for word in "Odotin aivan liian kauan".split():
        comment.press_sequentially(word + " ", delay=100)
        tablet.wait_for_timeout(400)
    expect(tablet.locator('[data-screen="details"]')).to_be_visible()  # typing kept it open

    expect(tablet.locator('[data-screen="thanks"]')).to_be_visible(timeout=5000)
    rows = eventually(stored)
    assert [(r.score, r.reason, r.comment) for r in rows] == [(2, "waiting_time", "Odotin aivan liian kauan")]


def test_a_client_answers_on_the_phone_page(live_server, phone, unit):
    phone.goto(f"{live_server}/q/{unit.code}")
    expect(phone.locator('[data-notice="not-enrolled"]')).to_have_count(0)
    answer(phone, 1, reason="waiting_time", comment="Jono oli pitkä")
    rows = eventually(stored)
    assert [(r.score, r.reason, r.comment, r.channel) for r in rows] == [(1, "waiting_time", "Jono oli pitkä", "qr")]
    phone.wait_for_timeout(1500)
    expect(phone.locator('[data-screen="thanks"]')).to_be_visible()  # a phone is one person's: no reset


def test_the_phone_page_fits_a_phone_with_large_targets(live_server, phone, make_unit):
    for scale in ("smiley5", "nps"):
        unit = make_unit(scale=scale)
        phone.goto(f"{live_server}/q/{unit.code}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        for box in [b.bounding_box() for b in phone.locator("[data-score]").all()]:
            assert box["width"] >= 44 and box["height"] >= 44


def test_the_tablet_shows_five_faces_side_by_side(live_server, tablet, unit):
    tablet.goto(f"{live_server}/k/{unit.code}")
    tops = {round(b.bounding_box()["y"]) for b in tablet.locator("[data-score]").all()}
    assert len(tops) == 1


def test_an_answer_whose_reason_the_unit_dropped_while_offline_still_arrives(live_server, tablet, unit):
    enrol(tablet, live_server, unit)
    go_offline(tablet)
    answer(tablet, 1, reason="waiting_time", comment="Jonotin tunnin")
    unit.reasons_negative = [key for key in unit.reasons_negative if key != "waiting_time"]
    unit.reasons_positive = [key for key in unit.reasons_positive if key != "waiting_time"]
    db.session.commit()
    go_online(tablet)
    rows = eventually(stored)
    assert [(r.score, r.reason, r.comment) for r in rows] == [(1, None, "Jonotin tunnin")]


def test_a_phone_counts_one_answer_per_unit_and_keeps_the_next_as_a_repeat(app, live_server, phone, unit):
    app.config["HYMY_PHONE_REPEAT_HOURS"] = 12
    phone.goto(f"{live_server}/q/{unit.code}")
    answer(phone, 5)
    assert eventually(lambda: len(stored()) == 1)
    phone.goto(f"{live_server}/q/{unit.code}")
    answer(phone, 1)
    rows = eventually(lambda: stored() if len(stored()) == 2 else None)
    assert rows, "the second answer did not arrive"
    assert sorted((r.score, r.flags) for r in rows) == [(1, "repeat"), (5, "")]
