"""The manager's pages: the unit dashboard, downloads, unit forms, kiosk tablets, and who may see what."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from server import org
from server.models import Device, Response, Unit, User, db
from tests.conftest import PASSWORD, new_id


@pytest.fixture(autouse=True)
def english(client):
    """Read the pages in English (the msgids), whatever the default language."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto", area="Etelä")


def add_answers(unit, scores, at=None):
    at = at or datetime.now(UTC)
    for score in scores:
        db.session.add(Response(id=new_id(), unit_id=unit.id, channel="kiosk", score=score, scale=unit.scale,
                                answered_at=at, received_at=at, flags=""))
    db.session.commit()


def card(html, period):
    """Return the HTML of one period's card on the unit page."""
    start = html.index(f'data-period="{period}"')
    end = html.find('data-period="', start + 20)
    return html[start:end if end != -1 else len(html)]


def figure(html, name):
    match = re.search(rf'data-figure="{name}">(.*?)</', html, re.S)
    return match.group(1).strip() if match else None


def test_an_answer_sent_to_the_api_shows_in_todays_card(client, login_as, unit):
    login_as("manager", [unit.code])
    sent = client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": 5})
    assert sent.status_code == 201
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    today = card(html, "today")
    assert figure(today, "answers") == "1"
    assert figure(today, "score-5") == "1"
    assert figure(today, "score-1") == "0"
    assert "fewer than 5 answers" in today
    assert figure(card(html, "yesterday"), "answers") == "0"


def test_todays_card_refreshes_from_tally_json(client, login_as, unit):
    login_as("manager", [unit.code])
    page = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    refresh = re.search(r'data-refresh="([^"]+)"', page).group(1)
    assert client.get(refresh).get_json()["today"]["answers"] == 0
    add_answers(unit, [5, 5, 4, 2, 1])
    data = client.get(refresh).get_json()
    assert data["today"]["answers"] == 5
    assert data["today"]["pct_positive"] == 60.0
    assert data["per_score"] == {"1": 1, "2": 1, "3": 0, "4": 1, "5": 2}
    assert 'src="/static/manage.js"' in page


def test_five_answers_show_percentages_with_their_interval(client, login_as, unit):
    login_as("manager", [unit.code])
    add_answers(unit, [5, 5, 5, 4, 1])
    today = card(client.get(f"/manage/units/{unit.code}").get_data(as_text=True), "today")
    assert "80 %" in today
    assert "95 % interval" in today
    assert "fewer than 5 answers" not in today


def test_repeated_presses_are_left_out_unless_asked_for(client, login_as, unit):
    login_as("manager", [unit.code])
    add_answers(unit, [5])
    now = datetime.now(UTC)
    db.session.add(Response(id=new_id(), unit_id=unit.id, channel="kiosk", score=1, scale="smiley5",
                            answered_at=now, received_at=now, flags="repeat"))
    db.session.commit()
    assert figure(card(client.get(f"/manage/units/{unit.code}").get_data(as_text=True), "today"), "answers") == "1"
    flagged = client.get(f"/manage/units/{unit.code}?flagged=1").get_data(as_text=True)
    assert figure(card(flagged, "today"), "answers") == "2"


def test_the_home_page_lists_the_managers_units_with_this_weeks_figures(client, login_as, unit, make_unit):
    other = make_unit("Hammashoitola", area="Pohjoinen")
    login_as("manager", [unit.code])
    add_answers(unit, [5, 4])
    html = client.get("/manage/").get_data(as_text=True)
    assert "Vastaanotto" in html
    assert other.code not in html and "Hammashoitola" not in html


def test_the_latest_comments_are_shown_newest_first(client, login_as, unit):
    login_as("manager", [unit.code])
    now = datetime.now(UTC)
    for minutes, text in ((30, "Vanhempi kommentti"), (5, "Uusin kommentti")):
        db.session.add(Response(id=new_id(), unit_id=unit.id, channel="qr", score=4, scale="smiley5",
                                comment=text, answered_at=now - timedelta(minutes=minutes), received_at=now, flags=""))
    db.session.commit()
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    assert html.index("Uusin kommentti") < html.index("Vanhempi kommentti")


# Downloads

def test_the_tally_csv_download_honours_the_filters(client, login_as, unit):
    login_as("manager", [unit.code])
    add_answers(unit, [5, 5, 4, 1, 3], at=datetime(2026, 1, 10, 10, tzinfo=UTC))
    add_answers(unit, [1, 2], at=datetime(2026, 1, 20, 10, tzinfo=UTC))
    response = client.get(f"/manage/units/{unit.code}/export.csv?from=2026-01-15&to=2026-01-31&bucket=week")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["unit"], r["period"], r["answers"], r["pct_negative"]) for r in rows] == [
        (unit.code, "2026-W04", "2", "")]


def test_the_answers_csv_download_is_the_interchange_format(client, login_as, unit):
    login_as("manager", [unit.code])
    add_answers(unit, [3])
    response = client.get(f"/manage/units/{unit.code}/export.csv?kind=responses")
    header = response.get_data(as_text=True).splitlines()[0]
    assert header.startswith("id,unit,channel,score,scale,reason,comment,segment,lang,answered_at")


def test_the_xlsx_download_opens_in_a_spreadsheet(client, login_as, unit):
    login_as("manager", [unit.code])
    add_answers(unit, [5, 5, 4, 1, 3], at=datetime(2026, 1, 10, 10, tzinfo=UTC))
    response = client.get(f"/manage/units/{unit.code}/export.xlsx?bucket=month")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("unit", "period", "answers")
    assert rows[1][:3] == (unit.code, "2026-01", 5)


@pytest.mark.parametrize("query", ["from=2026-02-30", "to=soon", "bucket=year", "kind=secrets",
                                   "from=2026-02-01&to=2026-01-01"])
def test_a_bad_download_filter_is_a_400(client, login_as, unit, query):
    login_as("manager", [unit.code])
    assert client.get(f"/manage/units/{unit.code}/export.csv?{query}").status_code == 400


# Unit forms

def unit_form(**fields):
    data = {"name_fi": "Neuvola", "name_sv": "Rådgivningen", "name_en": "", "question_fi": "Miten onnistuimme?",
            "question_sv": "", "question_en": "", "area": "Etelä", "scale": "smiley4", "default_lang": "fi",
            "reasons_positive": "staff_attitude\nbeing_heard", "reasons_negative": "waiting_time\nparking",
            "repeat_window_s": "10"}
    return data | fields


def test_an_admin_adds_a_unit_with_the_form(client, login_as):
    login_as("admin")
    assert client.get("/manage/units/new").status_code == 200
    response = client.post("/manage/units/new", data=unit_form(area="Uusi alue"))
    assert response.status_code == 302
    unit = db.session.execute(db.select(Unit)).scalar_one()
    assert response.headers["Location"].endswith(f"/manage/units/{unit.code}")
    assert unit.names == {"fi": "Neuvola", "sv": "Rådgivningen"}
    assert unit.questions == {"fi": "Miten onnistuimme?"}
    assert (unit.area.name, unit.scale, unit.repeat_window_s) == ("Uusi alue", "smiley4", 10)
    assert unit.reasons_negative == ["waiting_time", "parking"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name_fi": ""}, "Give the unit a name in its default language."),
        ({"reasons_positive": "a\nb\nc\nd\ne\nf\ng"}, "at most six reasons"),
        ({"reasons_negative": "Odotus aika"}, "lower-case letters"),
        ({"repeat_window_s": "-1"}, "Repeat-press window"),
    ],
)
def test_the_unit_form_explains_what_is_wrong(client, login_as, fields, message):
    login_as("admin")
    response = client.post("/manage/units/new", data=unit_form(**fields))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message.lower() in html.lower()
    assert 'aria-invalid="true"' in html
    assert db.session.execute(db.select(Unit)).first() is None


def test_the_edit_form_starts_from_the_units_settings(client, login_as, unit):
    login_as("manager", [unit.code])
    html = client.get(f"/manage/units/{unit.code}/edit").get_data(as_text=True)
    assert 'value="Vastaanotto"' in html
    assert "staff_attitude\nbeing_heard\ninformation" in html
    assert 'value="Etelä"' not in html  # only administrators see the area field


def test_a_manager_edits_the_unit_but_cannot_move_it_to_another_area(client, login_as, unit):
    login_as("manager", [unit.code])
    assert 'name="area"' not in client.get(f"/manage/units/{unit.code}/edit").get_data(as_text=True)
    response = client.post(f"/manage/units/{unit.code}/edit", data=unit_form(area="Pohjoinen", name_fi="Uusi nimi"))
    assert response.status_code == 302
    db.session.refresh(unit)
    assert unit.names["fi"] == "Uusi nimi"
    assert unit.area.name == "Etelä"


def test_an_admin_moves_a_unit_to_another_area(client, login_as, unit):
    login_as("admin")
    client.post(f"/manage/units/{unit.code}/edit", data=unit_form(area="Pohjoinen"))
    db.session.refresh(unit)
    assert unit.area.name == "Pohjoinen"


# Kiosk tablets

def test_a_manager_creates_an_enrolment_link_that_enrols_a_tablet(client, login_as, unit, app):
    login_as("manager", [unit.code])
    response = client.post(f"/manage/units/{unit.code}/devices", data={"name": "Aula"})
    assert response.status_code == 200
    link = re.search(r'value="(http://hymy\.test/k/[^"]+)"', response.get_data(as_text=True)).group(1)
    code = link.split("enrol=")[1]
    device_client = app.test_client()
    assert device_client.post("/api/v1/devices/enrol", json={"code": code}).status_code == 201
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    assert "Aula" in html and "enrolled" in html


def test_a_revoked_tablet_can_no_longer_send_answers(client, login_as, unit, app):
    login_as("manager", [unit.code])
    link = re.search(r'value="([^"]+enrol=[^"]+)"',
                     client.post(f"/manage/units/{unit.code}/devices", data={"name": "Aula"}).get_data(as_text=True)).group(1)
    device_client = app.test_client()
    token = device_client.post("/api/v1/devices/enrol", json={"code": link.split("enrol=")[1]}).get_json()["token"]
    device = db.session.execute(db.select(Device)).scalar_one()
    response = client.post(f"/manage/units/{unit.code}/devices/{device.id}/revoke")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#devices")
    answer = device_client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": 5},
                                headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


def test_a_tablet_of_another_unit_cannot_be_revoked_through_this_one(client, login_as, unit, make_unit):
    other = make_unit("Hammashoitola", area="Etelä")
    device, _link = org.add_device(other, "Aula")
    login_as("manager", [unit.code])
    assert client.post(f"/manage/units/{unit.code}/devices/{device.id}/revoke").status_code == 404
    assert db.session.get(Device, device.id).revoked_at is None


# Who may see what

ROUTES = ["home", "unit", "tally", "csv", "xlsx", "edit", "new", "fft", "digest", "walls", "segments", "area",
          "area digest", "area csv", "area fft", "staff log", "users"]
PATHS = {
    "home": "/manage/",
    "unit": "/manage/units/{code}",
    "tally": "/manage/units/{code}/tally.json",
    "csv": "/manage/units/{code}/export.csv",
    "xlsx": "/manage/units/{code}/export.xlsx",
    "edit": "/manage/units/{code}/edit",
    "new": "/manage/units/new",
    "fft": "/manage/units/{code}/fft.csv",
    "digest": "/manage/units/{code}/digest",
    "walls": "/manage/units/{code}/walls",
    "segments": "/manage/units/{code}/segments",
    "area": "/manage/areas/{area}",
    "area digest": "/manage/areas/{area}/digest",
    "area csv": "/manage/areas/{area}/export.csv",
    "area fft": "/manage/areas/{area}/fft.csv",
    "staff log": "/staff/log",
    "users": "/admin/users",
}
# persona: (role, scope) and the status expected on each route, in ROUTES order.
# Units and areas outside one's scope are not confirmed to exist (404); a role that may never
# do a thing gets 403.
MATRIX = {
    "anonymous": (None, [302] * 17),
    "staff of the unit": (("staff", "unit"), [200] + [403] * 14 + [200, 403]),
    "manager of another unit": (("manager", "other unit"), [200] + [404] * 5 + [403] + [404] * 8 + [200, 403]),
    "director of another area": (("director", "other area"), [200] + [404] * 5 + [403] + [404] * 8 + [200, 403]),
    "manager of the unit": (("manager", "unit"), [200] * 6 + [403] + [200] * 4 + [404] * 4 + [200, 403]),
    "director of the unit's area": (("director", "area"), [200] * 6 + [403] + [200] * 9 + [403]),
    "admin": (("admin", None), [200] * 17),
}


@pytest.mark.parametrize("persona", list(MATRIX))
def test_every_protected_route_answers_every_persona_as_expected(client, login_as, make_unit, persona):
    unit = make_unit("Vastaanotto", area="Etelä")
    other = make_unit("Hammashoitola", area="Pohjoinen")
    role_scope, expected = MATRIX[persona]
    if role_scope is not None:
        role, scope = role_scope
        scopes = {"unit": [unit.code], "other unit": [other.code], "area": ["Etelä"], "other area": ["Pohjoinen"], None: []}
        login_as(role, scopes[scope])
    responses = {route: client.get(PATHS[route].format(code=unit.code, area=unit.area.code)) for route in ROUTES}
    assert {route: r.status_code for route, r in responses.items()} == dict(zip(ROUTES, expected, strict=True))
    for route, response in responses.items():
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), route


# Sign-in and sessions

def test_a_form_without_a_csrf_token_is_refused(client, login_as, unit, app):
    login_as("manager", [unit.code])
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post(f"/manage/units/{unit.code}/edit", data=unit_form(name_fi="Ilman tokenia"))
    assert refused.status_code == 400
    db.session.refresh(unit)
    assert unit.names["fi"] == "Vastaanotto"
    html = client.get(f"/manage/units/{unit.code}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    accepted = client.post(f"/manage/units/{unit.code}/edit", data=unit_form(name_fi="Tokenin kanssa", csrf_token=token))
    assert accepted.status_code == 302
    db.session.refresh(unit)
    assert unit.names["fi"] == "Tokenin kanssa"


def test_the_sign_in_form_is_refused_without_a_csrf_token(client, make_user, app):
    user = make_user("manager")
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/manage/").status_code == 302


def test_sign_in_locks_the_account_after_too_many_failures(client, make_user, app):
    app.config["HYMY_LOGIN_MAX_FAILURES"] = 3
    user = make_user("manager")
    for _ in range(3):
        wrong = client.post("/login", data={"email": user.email, "password": "wrong password!"})
        assert wrong.status_code == 200
    locked = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 200
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert client.get("/manage/").status_code == 302


def test_a_failed_sign_in_below_the_limit_does_not_lock(client, make_user, app):
    app.config["HYMY_LOGIN_MAX_FAILURES"] = 3
    user = make_user("manager")
    for _ in range(2):
        client.post("/login", data={"email": user.email, "password": "wrong password!"})
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302


def test_a_deactivated_user_is_signed_out_on_the_next_request(client, login_as, unit):
    user = login_as("manager", [unit.code])
    assert client.get(f"/manage/units/{unit.code}").status_code == 200
    db.session.get(User, user.id).active = False
    db.session.commit()
    response = client.get(f"/manage/units/{unit.code}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# Pages as people see them

def test_pages_carry_no_inline_styles_or_scripts(client, login_as, unit):
    login_as("admin")
    add_answers(unit, [5])
    for path in ("/manage/", f"/manage/units/{unit.code}", f"/manage/units/{unit.code}/edit", "/manage/units/new"):
        html = client.get(path).get_data(as_text=True)
        assert "style=" not in html and "<style" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert re.search(r"\son[a-z]+=", html) is None, path
        assert 'class="skip-link" href="#main"' in html


def test_the_error_page_offers_a_way_back(client, login_as):
    login_as("manager")
    response = client.get("/manage/units/nosuchunit")
    assert response.status_code == 404
    assert 'href="/manage/"' in response.get_data(as_text=True)


@pytest.mark.browser
def test_a_tap_shows_up_on_the_open_unit_page_without_a_reload(live_server, browser, make_user, unit, app):
    manager = make_user("manager", [unit.code])
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        page.fill("#email", manager.email)
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.goto(f"{live_server}/manage/units/{unit.code}")
        answers = page.locator('[data-period="today"] [data-figure="answers"]')
        assert answers.inner_text() == "0"
        for score in (5, 5, 4, 4, 1):
            sent = app.test_client().post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score})
            assert sent.status_code == 201
        expect(answers).to_have_text("5", timeout=15000)
        today = page.locator('[data-period="today"]')
        assert today.locator('[data-figure="score-4"]').inner_text() == "2"
        assert today.locator('[data-figure="pct_positive"]').inner_text().startswith("80 %")
        assert page.locator('[data-period="yesterday"] [data-figure="answers"]').inner_text() == "0"
    finally:
        context.close()
