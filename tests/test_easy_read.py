"""Easy-read mode: larger faces, simpler words, the reasons as a second optional step."""

import re

import pytest
from playwright.sync_api import expect

from server.models import Response, Unit, db
from tests.test_kiosk_browser import eventually, stored

SIMPLE_LABELS = ["Very bad", "Bad", "OK", "Good", "Very good"]


def face_labels(html):
    return re.findall(r'<span class="face-label">([^<]+)</span>', html)


def test_a_manager_switches_easy_read_on_and_off(client, login_as, make_unit):
    unit = make_unit("Vastaanotto")
    login_as("manager", [unit.code])
    url = f"/manage/units/{unit.code}/segments"
    assert 'name="easy_read" type="checkbox" value="y">' in client.get(url).text

    assert client.post(url, data={"easy_read": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Unit, unit.id).easy_read is True
    assert re.search(r'checked[^>]*name="easy_read"|name="easy_read"[^>]*checked', client.get(url).text)

    # An unticked box is simply missing from the submitted form.
    assert client.post(url, data={"questions-0-key": ""}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Unit, unit.id).easy_read is False


@pytest.mark.parametrize("prefix", ["/k/", "/q/"])
def test_the_easy_read_page_asks_a_simple_question_with_simple_labels(client, make_unit, prefix):
    unit = make_unit(easy_read=True, questions={"en": "How would you rate the service you received today?"})
    html = client.get(f"{prefix}{unit.code}?lang=en").text
    assert '<h1 id="question" tabindex="-1">Was your visit good?</h1>' in html
    assert face_labels(html) == SIMPLE_LABELS
    assert 'class="mode-' in html and " easy-read" in html


def test_a_unit_without_easy_read_keeps_its_own_question_and_labels(client, make_unit):
    unit = make_unit(questions={"en": "How did the visit go?"})
    html = client.get(f"/q/{unit.code}?lang=en").text
    assert "How did the visit go?" in html
    assert "Was your visit good?" not in html
    assert face_labels(html) == ["Very poor", "Poor", "Neither good nor poor", "Good", "Very good"]


def test_easy_read_on_four_faces_has_no_middle_label(client, make_unit):
    unit = make_unit(scale="smiley4", easy_read=True)
    assert face_labels(client.get(f"/q/{unit.code}?lang=en").text) == ["Very bad", "Bad", "Good", "Very good"]


def test_easy_read_hides_the_reasons_behind_a_button_and_keeps_the_comment(client, make_unit):
    html = client.get(f"/q/{make_unit(easy_read=True).code}?lang=en").text
    assert re.search(r'<button[^>]*data-reveal="reasons"[^>]*aria-expanded="false"[^>]*>Choose what it was about<', html)
    assert re.search(r'<div class="reasons" id="reasons"[^>]*hidden>', html)
    assert '<textarea id="comment" name="comment"' in html
    for hook in ('data-reason="waiting_time"', 'data-action="send"', 'data-action="skip"', 'data-screen="thanks"'):
        assert hook in html


def test_an_easy_read_answer_is_stored_like_any_other(client, make_unit):
    unit = make_unit(easy_read=True)
    body = {"id": "6f1d0b8e-2a43-4c6e-9d5e-0e4f8f3c1a21", "unit": unit.code, "score": 2, "reason": "waiting_time"}
    assert client.post("/api/v1/responses", json=body).status_code == 201
    row = db.session.get(Response, body["id"])
    assert (row.score, row.reason, row.scale) == (2, "waiting_time", "smiley5")


@pytest.mark.browser
def test_a_client_answers_in_easy_read_mode_step_by_step(live_server, phone, make_unit):
    unit = make_unit(easy_read=True, reasons_negative=["waiting_time", "information"])
    phone.goto(f"{live_server}/q/{unit.code}?lang=en")
    expect(phone.locator("#question")).to_have_text("Was your visit good?")
    phone.locator('[data-score="2"]').click()

    reveal = phone.locator("[data-reveal=reasons]")
    expect(reveal).to_be_visible()
    expect(phone.locator("[data-reason]:visible")).to_have_count(0)
    expect(phone.locator('textarea[name="comment"]')).to_be_visible()
    reveal.click()
    expect(reveal).to_be_hidden()
    expect(phone.locator('[data-reason="waiting_time"]:visible')).to_be_focused()
    phone.locator('[data-reason="waiting_time"]:visible').click()
    phone.locator('textarea[name="comment"]').fill("Liian pitkä jono")
    phone.locator('[data-action="send"]').click()
    expect(phone.locator('[data-screen="thanks"]')).to_be_visible()

    rows = eventually(stored)
    assert [(r.score, r.reason, r.comment) for r in rows] == [(2, "waiting_time", "Liian pitkä jono")]
