"""The optional one-tap segment question: the API checks it, managers set it, the pages ask it."""

import re

import pytest

from server.models import Response, Unit, db
from tests.conftest import new_id

WHO = {
    "key": "who",
    "labels": {"fi": "Kuka olet?", "sv": "Vem är du?", "en": "Who are you?"},
    "options": [
        {"value": "client", "labels": {"fi": "Asiakas", "sv": "Klient", "en": "Client"}},
        {"value": "relative", "labels": {"fi": "Omainen", "sv": "Anhörig", "en": "Relative"}},
        {"value": "other", "labels": {"fi": "Muu", "sv": "Annan", "en": "Other"}},
    ],
}
FIRST_VISIT = {
    "key": "first_visit",
    "labels": {"fi": "Ensimmäinen käynti?", "en": "First visit?"},
    "options": [{"value": "yes", "labels": {"fi": "Kyllä", "en": "Yes"}},
                {"value": "no", "labels": {"fi": "Ei", "en": "No"}}],
}


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto", segment_questions=[WHO, FIRST_VISIT])


def post(client, unit, **fields):
    return client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": 4, **fields})


def stored_segments():
    return [r.segment for r in db.session.execute(db.select(Response)).scalars()]


# --- The API ------------------------------------------------------------------------------


def test_the_api_stores_an_answer_to_the_units_segment_questions(client, unit):
    response = post(client, unit, segment={"who": "relative", "first_visit": "yes"})
    assert response.status_code == 201
    assert stored_segments() == [{"who": "relative", "first_visit": "yes"}]


def test_the_api_accepts_an_answer_to_only_one_of_the_questions(client, unit):
    assert post(client, unit, segment={"first_visit": "no"}).status_code == 201
    assert stored_segments() == [{"first_visit": "no"}]


@pytest.mark.parametrize(
    "segment",
    [
        {"age": "65+"},                    # a question the unit does not ask
        {"who": "nurse"},                  # an answer the question does not offer
        {"who": "yes"},                    # another question's answer
        {"who": "client", "visit": "1"},   # one good, one unknown
    ],
)
def test_the_api_refuses_a_segment_the_unit_does_not_ask_for_naming_the_field(client, unit, segment):
    response = post(client, unit, segment=segment)
    assert response.status_code == 422
    assert response.get_json()["field"] == "segment"
    assert stored_segments() == []


def test_a_unit_without_segment_questions_refuses_any_segment(client, make_unit):
    plain = make_unit("Hammashoitola")
    response = post(client, plain, segment={"who": "client"})
    assert response.status_code == 422
    assert response.get_json()["field"] == "segment"
    assert post(client, plain).status_code == 201


# --- The answer pages ---------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/k/", "/q/"])
def test_the_answer_pages_offer_each_segment_answer_as_a_one_tap_button(client, unit, prefix):
    html = client.get(f"{prefix}{unit.code}?lang=en").text
    buttons = re.findall(r'<button[^>]*data-segment-key="(\w+)" data-segment-value="(\w+)" aria-pressed="false">([^<]+)<', html)
    assert buttons == [("who", "client", "Client"), ("who", "relative", "Relative"), ("who", "other", "Other"),
                       ("first_visit", "yes", "Yes"), ("first_visit", "no", "No")]
    assert "Who are you?" in html and "First visit?" in html


def test_the_segment_question_speaks_the_readers_language(client, unit):
    html = client.get(f"/q/{unit.code}?lang=sv").text
    assert "Vem är du?" in html and ">Anhörig<" in html


def test_a_unit_without_segment_questions_shows_no_segment_buttons(client, make_unit):
    assert "data-segment-key" not in client.get(f"/q/{make_unit().code}").text


# --- The settings page --------------------------------------------------------------------


def settings_url(unit):
    return f"/manage/units/{unit.code}/segments"


def form_data(**fields):
    """A submitted settings form: question 1 asks who, question 2 is left empty."""
    data = {
        "questions-0-key": "who",
        "questions-0-text_fi": "Kuka olet?",
        "questions-0-text_sv": "Vem är du?",
        "questions-0-text_en": "Who are you?",
        "questions-0-options": "client = Asiakas | Klient | Client\nrelative = Omainen | Anhörig | Relative\n"
                               "other = Muu",
        "questions-1-key": "", "questions-1-text_fi": "", "questions-1-text_sv": "", "questions-1-text_en": "",
        "questions-1-options": "",
    }
    return data | fields


def fresh(unit):
    db.session.expire_all()
    return db.session.get(Unit, unit.id)


def test_a_manager_sets_a_segment_question_and_the_kiosk_asks_it(client, login_as, make_unit):
    unit = make_unit("Vastaanotto")
    login_as("manager", [unit.code])
    response = client.post(settings_url(unit) + "?lang=en", data=form_data())
    assert response.status_code == 302
    assert fresh(unit).segment_questions == [{
        "key": "who",
        "labels": {"fi": "Kuka olet?", "sv": "Vem är du?", "en": "Who are you?"},
        "options": [
            {"value": "client", "labels": {"fi": "Asiakas", "sv": "Klient", "en": "Client"}},
            {"value": "relative", "labels": {"fi": "Omainen", "sv": "Anhörig", "en": "Relative"}},
            {"value": "other", "labels": {"fi": "Muu"}},
        ],
    }]
    assert "Changes saved." in client.get(response.headers["Location"] + "?lang=en").text
    assert 'data-segment-value="relative"' in client.get(f"/q/{unit.code}").text
    assert post(client, unit, segment={"who": "other"}).status_code == 201


def test_the_settings_form_shows_the_saved_questions_for_editing(client, login_as, unit):
    login_as("manager", [unit.code])
    html = client.get(settings_url(unit)).text
    assert 'value="first_visit"' in html
    assert "relative = Omainen | Anhörig | Relative" in html
    assert "yes = Kyllä |  | Yes" in html


def test_emptying_every_field_removes_the_questions(client, login_as, unit):
    login_as("manager", [unit.code])
    empty = {key: "" for key in form_data()}
    assert client.post(settings_url(unit), data=empty).status_code == 302
    assert fresh(unit).segment_questions == []
    assert post(client, unit, segment={"who": "client"}).status_code == 422


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"questions-0-key": ""}, "questions-0-key", "Give the question a key."),
        ({"questions-0-key": "Who are you"}, "questions-0-key", "Use lower-case letters, digits and underscores only."),
        ({"questions-0-text_fi": "", "questions-0-text_sv": "", "questions-0-text_en": ""},
         "questions-0-text_fi", "Write the question in at least one language."),
        ({"questions-0-options": "client = Asiakas"}, "questions-0-options", "Offer from two to six answers."),
        ({"questions-0-options": "client Asiakas\nrelative = Omainen"}, "questions-0-options", "Write each answer as"),
        ({"questions-0-options": "client = Asiakas\nclient = Omainen"}, "questions-0-options",
         "Each answer needs a value of its own."),
        ({"questions-0-options": "\n".join(f"v{i} = {i}" for i in range(7))}, "questions-0-options",
         "Offer from two to six answers."),
        ({"questions-1-key": "who", "questions-1-text_fi": "Kuka?", "questions-1-options": "a = A\nb = B"},
         "questions-1-key", "Two questions cannot share a key."),
        ({"questions-1-options": "yes = Kyllä\nno = Ei"}, "questions-1-key", "Give the question a key."),
    ],
)
def test_the_settings_form_marks_the_field_at_fault(client, login_as, make_unit, fields, field, message):
    unit = make_unit("Vastaanotto")
    login_as("manager", [unit.code])
    response = client.post(settings_url(unit) + "?lang=en", data=form_data(**fields))
    assert response.status_code == 200
    html = response.text
    assert "Please correct the marked fields." in html
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1).replace("&#34;", '"')
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', html)
    assert fresh(unit).segment_questions == []


@pytest.mark.parametrize(
    ("persona", "expected"),
    [(None, 302), (("staff", "unit"), 403), (("manager", "other"), 404), (("manager", "unit"), 200),
     (("director", "area"), 200), (("admin", None), 200)],
)
def test_only_the_units_managers_reach_its_settings(client, login_as, make_unit, persona, expected):
    unit = make_unit("Vastaanotto", area="Etelä")
    other = make_unit("Muu", area="Pohjoinen")
    if persona:
        role, scope = persona
        login_as(role, {"unit": [unit.code], "other": [other.code], "area": ["Etelä"], None: []}[scope])
    assert client.get(settings_url(unit)).status_code == expected
    assert client.post(settings_url(unit), data=form_data()).status_code in (expected, 302)
    assert (fresh(unit).segment_questions != []) == (expected == 200)
