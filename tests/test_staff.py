"""The staff quick log: spoken feedback recorded in a few taps, corrected for a short while."""

import re
from datetime import timedelta

import pytest

from server import answers
from server.models import Response, db, utcnow
from server.redact import MARKER
from tests.conftest import new_id

PRAISE = "Omainen kiitti rauhallisesta kotiutuksesta"


@pytest.fixture
def unit(make_unit):
    return make_unit("Osasto 3", area="Sairaala")


@pytest.fixture
def nurse(client, login_as, unit):
    """A nurse signed in with one unit in her scope, reading the pages in English."""
    user = login_as("staff", scope=[unit.code])
    client.get("/staff/log?lang=en")
    return user


def form_id(client, path="/staff/log"):
    """Open the form and return the idempotency key the server put in it."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="id" type="hidden" value="([0-9a-f-]{36})"', page).group(1)


def log(client, unit, **fields):
    data = {"id": form_id(client), "unit": unit.code, "kind": "praise", "channel": "spoken"} | fields
    return client.post("/staff/log", data=data)


def entries():
    return list(db.session.execute(db.select(Response)).scalars())


def test_it_records_what_a_relative_said_as_spoken_praise(client, nurse, unit):
    response = log(client, unit, comment=f"{PRAISE}, soittakaa 040 123 4567")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved." in page
    assert PRAISE in page.split("Your recent entries")[1]
    [entry] = entries()
    assert (entry.channel, entry.kind, entry.user_id, entry.unit_id) == ("spoken", "praise", nurse.id, unit.id)
    assert entry.score is None
    assert entry.comment.startswith(PRAISE)
    assert "123 4567" not in entry.comment and MARKER in entry.comment


def test_the_form_preselects_and_hides_the_only_unit(client, nurse, unit):
    page = client.get("/staff/log").get_data(as_text=True)
    assert f'<input type="hidden" name="unit" value="{unit.code}">' in page
    assert "<select" not in page
    assert 'checked id="kind-0" name="kind" type="radio" value="praise"' in page
    assert 'checked id="channel-0" name="channel" type="radio" value="spoken"' in page


def test_someone_with_several_units_chooses_one(client, login_as, make_unit):
    first, second = make_unit("Vastaanotto"), make_unit("Hammashoitola", scale="nps")
    login_as("staff", scope=[first.code, second.code])
    page = client.get(f"/staff/log?unit={second.code}").get_data(as_text=True)
    assert f'<option selected value="{second.code}">' in page
    assert 'value="10"' in page  # the NPS scale of the chosen unit
    response = log(client, second, score="0", kind="complaint", channel="phone")
    assert response.status_code == 302
    [entry] = entries()
    assert (entry.unit_id, entry.score, entry.scale, entry.kind, entry.channel) == (second.id, 0, "nps", "complaint", "phone")


def test_the_same_form_sent_twice_stores_one_entry(client, nurse, unit):
    data = {"id": form_id(client), "unit": unit.code, "kind": "praise", "channel": "spoken", "comment": PRAISE}
    assert client.post("/staff/log", data=data).status_code == 302
    assert client.post("/staff/log", data=data).status_code == 302
    assert len(entries()) == 1


def test_each_opening_of_the_form_gets_a_new_id(client, nurse):
    assert form_id(client) != form_id(client)


def test_a_reused_id_with_other_words_is_not_saved_over_the_first(client, nurse, unit):
    data = {"id": form_id(client), "unit": unit.code, "kind": "praise", "channel": "spoken", "comment": PRAISE}
    client.post("/staff/log", data=data)
    page = client.post("/staff/log", data=data | {"comment": "Jotain muuta"}).get_data(as_text=True)
    assert "already been sent" in page
    assert [e.comment for e in entries()] == [PRAISE]


def test_a_form_without_its_id_gets_a_fresh_one_and_stores_nothing(client, nurse, unit):
    data = {"unit": unit.code, "kind": "praise", "channel": "spoken", "comment": PRAISE}
    response = client.post("/staff/log", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "had expired" in page
    assert entries() == []
    fresh = re.search(r'name="id" type="hidden" value="([0-9a-f-]{36})"', page).group(1)
    assert client.post("/staff/log", data=data | {"id": fresh}).status_code == 302
    assert len(entries()) == 1


def test_staff_cannot_log_for_a_unit_outside_their_scope(client, nurse, make_unit):
    elsewhere = make_unit("Toinen yksikkö")
    assert elsewhere.code not in client.get("/staff/log").get_data(as_text=True)
    response = log(client, elsewhere, comment=PRAISE)
    assert response.status_code in (403, 404)
    data = {"id": new_id(), "unit": "no-such-unit", "kind": "praise", "channel": "spoken", "comment": PRAISE}
    assert client.post("/staff/log", data=data).status_code == 404
    assert entries() == []


@pytest.mark.parametrize(
    ("fields", "field", "label"),
    [
        ({"score": "6"}, "score", "Score the client gave"),
        ({"score": "-1"}, "score", "Score the client gave"),
        ({"score": "many"}, "score", "Score the client gave"),
        ({"comment": "x" * 2001}, "comment", "What was said"),
        ({"channel": "fax"}, "channel", "How it came"),
        ({"channel": "kiosk"}, "channel", "How it came"),
        ({"kind": "gossip"}, "kind", "What kind of feedback"),
        ({"reason": "parking"}, "reason", "Reason"),
        ({"comment": "   "}, "comment", "What was said"),
        ({"comment": "\x00"}, "comment", "What was said"),
    ],
)
def test_bad_input_shows_an_error_at_the_field_and_stores_nothing(client, nurse, unit, fields, field, label):
    response = log(client, unit, **({"comment": PRAISE} | fields))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Please check the form" in page
    assert f'<a href="#{field}">{label}:' in page
    assert f'id="{field}-error"' in page
    assert entries() == []


def test_a_score_alone_is_enough(client, nurse, unit):
    assert log(client, unit, score="5").status_code == 302
    [entry] = entries()
    assert (entry.score, entry.comment) == (5, None)


def test_a_post_without_the_csrf_token_is_refused(app, client, nurse, unit):
    app.config["WTF_CSRF_ENABLED"] = True
    data = {"id": new_id(), "unit": unit.code, "kind": "praise", "channel": "spoken", "comment": PRAISE}
    assert client.post("/staff/log", data=data).status_code == 400
    assert entries() == []
    page = client.get("/staff/log").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/staff/log", data=data | {"csrf_token": token}).status_code == 302
    assert len(entries()) == 1


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/staff/log")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["manager", "director", "admin"])
def test_managers_directors_and_admins_log_for_their_units_too(client, login_as, unit, role):
    login_as(role, scope=[unit.area.code] if role == "director" else [unit.code])
    assert log(client, unit, comment=PRAISE).status_code == 302
    assert [e.user_id is not None for e in entries()] == [True]


def test_someone_without_units_is_told_so(client, login_as):
    login_as("staff")
    page = client.get("/staff/log?lang=en").get_data(as_text=True)
    assert "You have no units to log feedback for" in page


def test_someone_moved_off_a_unit_still_sees_their_entries_but_cannot_change_them(client, nurse, unit):
    entry = logged(client, unit)
    nurse.units = []
    db.session.commit()
    page = client.get("/staff/log").get_data(as_text=True)
    assert "You have no units to log feedback for" in page and PRAISE in page
    assert f"/staff/entries/{entry.id}/" not in page
    assert client.post(f"/staff/entries/{entry.id}/delete").status_code == 404
    assert entries() == [entry]


def logged(client, unit, comment=PRAISE):
    log(client, unit, comment=comment)
    return db.session.execute(db.select(Response).order_by(Response.received_at.desc())).scalars().first()


def test_a_nurse_corrects_her_own_entry_within_fifteen_minutes(client, nurse, unit):
    entry = logged(client, unit)
    assert f"/staff/entries/{entry.id}/edit" in client.get("/staff/log").get_data(as_text=True)
    page = client.get(f"/staff/entries/{entry.id}/edit").get_data(as_text=True)
    assert PRAISE in page
    response = client.post(f"/staff/entries/{entry.id}/edit", data={
        "kind": "suggestion", "channel": "phone", "score": "4", "reason": "information",
        "comment": "Toivoi parempaa opastusta, puh. 040 765 4321",
    })
    assert response.status_code == 302
    db.session.refresh(entry)
    assert (entry.kind, entry.channel, entry.score, entry.reason) == ("suggestion", "phone", 4, "information")
    assert "765 4321" not in entry.comment and MARKER in entry.comment


def test_a_correction_is_validated_like_a_new_entry(client, nurse, unit):
    entry = logged(client, unit)
    response = client.post(f"/staff/entries/{entry.id}/edit", data={
        "kind": "praise", "channel": "spoken", "score": "9", "comment": "",
    })
    assert response.status_code == 200
    assert 'id="score-error"' in response.get_data(as_text=True)
    db.session.refresh(entry)
    assert (entry.score, entry.comment) == (None, PRAISE)


def test_a_nurse_deletes_her_own_entry_within_fifteen_minutes(client, nurse, unit):
    entry = logged(client, unit)
    response = client.post(f"/staff/entries/{entry.id}/delete")
    assert response.status_code == 302
    assert entries() == []
    assert "Entry deleted." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_after_fifteen_minutes_an_entry_can_no_longer_be_changed(client, nurse, unit):
    entry = logged(client, unit)
    entry.received_at = utcnow() - timedelta(minutes=16)
    db.session.commit()
    assert f"/staff/entries/{entry.id}/edit" not in client.get("/staff/log").get_data(as_text=True)
    response = client.post(f"/staff/entries/{entry.id}/edit", data={
        "kind": "complaint", "channel": "spoken", "comment": "Muutettu",
    })
    assert response.status_code == 302
    assert "for 15 minutes only" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.post(f"/staff/entries/{entry.id}/delete").status_code == 302
    db.session.refresh(entry)
    assert (entry.kind, entry.comment) == ("praise", PRAISE)


def test_nobody_can_change_someone_elses_entry(client, nurse, unit, make_user):
    colleague = make_user("staff", scope=[unit.code])
    answer = answers.validate({"id": new_id(), "unit": unit.code, "comment": "Kollegan kirjaus"}, lambda code: unit)
    answers.store(answer, "spoken", user=colleague, kind="praise")
    entry = db.session.get(Response, answer.id)
    assert "Kollegan kirjaus" not in client.get("/staff/log").get_data(as_text=True)
    assert client.get(f"/staff/entries/{entry.id}/edit").status_code == 404
    response = client.post(f"/staff/entries/{entry.id}/edit", data={"kind": "complaint", "channel": "spoken",
                                                                      "comment": "Muutettu"})
    assert response.status_code == 404
    assert client.post(f"/staff/entries/{entry.id}/delete").status_code == 404
    db.session.refresh(entry)
    assert entry.comment == "Kollegan kirjaus"


def test_the_recent_list_shows_the_last_ten_of_ones_own_entries(client, nurse, unit):
    for number in range(12):
        log(client, unit, comment=f"Kiitos numero {number:02d}")
    page = client.get("/staff/log").get_data(as_text=True)
    assert page.count('class="entry"') == 10
    assert "Kiitos numero 11" in page and "Kiitos numero 01" not in page
