"""The segment question on a phone in Debian's Chromium: one tap, optional, stored with the answer."""

import pytest
from playwright.sync_api import expect

from tests.test_kiosk_browser import eventually, stored
from tests.test_segments import FIRST_VISIT, WHO

pytestmark = pytest.mark.browser


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto", segment_questions=[WHO, FIRST_VISIT])


def test_a_client_answers_the_segment_question_with_one_tap_on_the_phone(live_server, phone, unit):
    phone.goto(f"{live_server}/q/{unit.code}?lang=en")
    phone.locator('[data-score="5"]').click()
    expect(phone.locator("text=Who are you?")).to_be_visible()

    sizes = phone.eval_on_selector_all(
        "[data-segment-key]", "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    assert len(sizes) == 5 and all(w >= 44 and h >= 44 for w, h in sizes), sizes

    relative = phone.locator('[data-segment-key="who"][data-segment-value="relative"]')
    client = phone.locator('[data-segment-key="who"][data-segment-value="client"]')
    client.click()
    relative.click()  # one answer per question: the later tap wins
    expect(relative).to_have_attribute("aria-pressed", "true")
    expect(client).to_have_attribute("aria-pressed", "false")
    first = phone.locator('[data-segment-key="first_visit"][data-segment-value="yes"]')
    first.click()
    first.click()  # a second tap takes the answer back
    expect(first).to_have_attribute("aria-pressed", "false")
    phone.locator('[data-reason="staff_attitude"]:visible').click()
    phone.locator('[data-action="send"]').click()
    expect(phone.locator('[data-screen="thanks"]')).to_be_visible()

    rows = eventually(stored)
    assert [(r.score, r.reason, r.segment) for r in rows] == [(5, "staff_attitude", {"who": "relative"})]


def test_the_segment_question_is_optional_and_forgotten_for_the_next_client(live_server, tablet, unit, app):
    app.config["HYMY_KIOSK_RESET_SECONDS"] = 1
    tablet.goto(f"{live_server}/k/{unit.code}")
    tablet.locator('[data-score="4"]').click()
    tablet.locator('[data-segment-key="who"][data-segment-value="other"]').click()
    tablet.locator('[data-action="send"]').click()
    expect(tablet.locator('[data-screen="faces"]')).to_be_visible(timeout=10000)

    tablet.locator('[data-score="2"]').click()
    expect(tablet.locator("[data-segment-key][aria-pressed=true]")).to_have_count(0)
    tablet.locator('[data-action="send"]').click()

    rows = eventually(lambda: len(stored()) == 2 and stored())
    assert [(r.score, r.segment) for r in rows] == [(4, {"who": "other"}), (2, None)]
