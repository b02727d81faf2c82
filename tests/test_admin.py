"""Administrator pages: inviting people, changing roles and scopes, deactivating, resetting passwords."""

import re

import pytest

from server.models import User, db
from tests.conftest import PASSWORD

NEW_PASSWORD = "a long new password"


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto", area="Pohjoinen")


@pytest.fixture
def target(make_user, unit):
    """Someone for the administrator to manage."""
    return make_user("staff", scope=[unit.code], email="hoitaja@example.org")


@pytest.fixture
def admin_client(app, make_user):
    """A second browser, signed in as an administrator reading English."""
    admin = make_user("admin", email="admin@example.org")
    browser = app.test_client()
    assert browser.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 302
    browser.get("/admin/users?lang=en")
    browser.user = admin
    return browser


def sign_in(app, email, password):
    """Sign in with a fresh client; return it and the sign-in response."""
    browser = app.test_client()
    return browser, browser.post("/login?lang=en", data={"email": email, "password": password})


ROUTES = [
    ("get", "/admin/users"),
    ("get", "/admin/users/new"),
    ("post", "/admin/users/new"),
    ("get", "/admin/users/{id}/edit"),
    ("post", "/admin/users/{id}/edit"),
    ("post", "/admin/users/{id}/password"),
]
PERSONAS = ["anonymous", "staff", "manager", "director", "admin"]
EXPECTED = {"anonymous": "sign in", "staff": 403, "manager": 403, "director": 403, "admin": "allowed"}


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_only_administrators_reach_the_user_pages(client, login_as, target, unit, persona, method, path):
    if persona != "anonymous":
        login_as(persona, scope=[unit.area.code] if persona == "director" else [unit.code])
    hash_before = target.password_hash
    response = getattr(client, method)(path.format(id=target.id))
    expected = EXPECTED[persona]
    if expected == "sign in":
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    elif expected == "allowed":
        if method == "get":
            assert response.status_code == 200
        else:
            assert response.status_code in (200, 302) and "/login" not in response.headers.get("Location", "")
    else:
        assert response.status_code == expected
    if expected != "allowed":
        db.session.refresh(target)
        assert target.active and target.role == "staff" and target.password_hash == hash_before


def test_the_list_shows_email_name_role_scope_and_status(admin_client, target, unit):
    target.name = "Hanna Hoitaja"
    db.session.commit()
    page = admin_client.get("/admin/users").get_data(as_text=True)
    row = page[page.index('data-user="hoitaja@example.org"'):]
    row = row[:row.index("</tr>")]
    for text in ("hoitaja@example.org", "Hanna Hoitaja", "Staff", "Vastaanotto", "Active"):
        assert text in row
    assert "All units" in page  # the administrator's own row


def test_an_admin_adds_a_user_who_then_signs_in(app, admin_client, unit):
    response = admin_client.post("/admin/users/new", data={
        "email": "Uusi.Hoitaja@example.org", "name": "Uusi Hoitaja", "role": "staff",
        "units": [unit.code], "password": NEW_PASSWORD,
    })
    assert response.status_code == 302
    assert "uusi.hoitaja@example.org" in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    browser, response = sign_in(app, "uusi.hoitaja@example.org", NEW_PASSWORD)
    assert response.status_code == 302
    page = browser.get("/staff/log").get_data(as_text=True)
    assert f'name="unit" value="{unit.code}"' in page


def test_a_person_given_swedish_sees_their_pages_in_swedish_after_signing_in(app, admin_client, target):
    response = admin_client.post(f"/admin/users/{target.id}/edit", data={
        "name": target.name, "role": target.role, "lang": "sv", "active": "y",
    })
    assert response.status_code == 302
    db.session.refresh(target)
    assert target.lang == "sv"
    browser, response = sign_in(app, target.email, PASSWORD)
    assert response.status_code == 302
    assert '<html lang="sv"' in browser.get(response.headers["Location"]).get_data(as_text=True)


def test_a_language_the_service_does_not_have_is_refused(admin_client, target):
    response = admin_client.post(f"/admin/users/{target.id}/edit", data={
        "name": target.name, "role": target.role, "lang": "de", "active": "y",
    })
    assert response.status_code == 200
    db.session.refresh(target)
    assert target.lang is None


def test_a_generated_password_is_shown_once_and_works(app, admin_client, unit):
    response = admin_client.post("/admin/users/new", data={
        "email": "johtaja@example.org", "role": "director", "areas": [unit.area.code],
    })
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = re.search(r"<code data-password>([^<]+)</code>", response.get_data(as_text=True)).group(1)
    assert len(password) >= 10
    browser, response = sign_in(app, "johtaja@example.org", password)
    assert response.status_code == 302
    assert browser.get(f"/manage/units/{unit.code}").status_code == 200
    assert password not in admin_client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "hoitaja@example.org"}, "email"),
        ({"email": "ei-osoite"}, "email"),
        ({"email": ""}, "email"),
        ({"password": "lyhyt"}, "password"),
        ({"role": "superuser"}, "role"),
        ({"units": ["no-such-unit"]}, "units"),
    ],
)
def test_bad_input_for_a_new_user_is_shown_at_the_field(admin_client, target, data, field):
    before = db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one()
    response = admin_client.post("/admin/users/new", data={"email": "uusi@example.org", "role": "staff"} | data)
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar_one() == before


def test_an_admin_changes_role_scope_and_name(admin_client, target, unit, make_unit):
    other = make_unit("Hammashoitola")
    response = admin_client.post(f"/admin/users/{target.id}/edit", data={
        "name": "Hanna", "role": "manager", "units": [other.code], "active": "y",
    })
    assert response.status_code == 302
    db.session.refresh(target)
    assert (target.name, target.role, [u.code for u in target.units], target.active) == (
        "Hanna", "manager", [other.code], True,
    )


def test_deactivating_a_user_signs_them_out_on_their_next_request(app, admin_client, target, unit):
    browser, response = sign_in(app, target.email, PASSWORD)
    assert browser.get("/staff/log").status_code == 200
    response = admin_client.post(f"/admin/users/{target.id}/edit", data={"role": "staff", "units": [unit.code]})
    assert response.status_code == 302
    response = browser.get("/staff/log")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    _browser, response = sign_in(app, target.email, PASSWORD)
    assert "deactivated" in response.get_data(as_text=True)
    assert "Deactivated" in admin_client.get("/admin/users").get_data(as_text=True)


def test_an_admin_resets_a_password(app, admin_client, target):
    target.failed_logins = 3
    db.session.commit()
    page = admin_client.get(f"/admin/users/{target.id}/edit").get_data(as_text=True)
    assert f'action="/admin/users/{target.id}/password"' in page
    response = admin_client.post(f"/admin/users/{target.id}/password")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = re.search(r"<code data-password>([^<]+)</code>", response.get_data(as_text=True)).group(1)
    assert sign_in(app, target.email, PASSWORD)[1].status_code == 200  # the old one is refused
    assert sign_in(app, target.email, password)[1].status_code == 302


@pytest.mark.parametrize("change", [{"role": "manager", "active": "y"}, {"role": "admin"}])
def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(admin_client, change):
    admin = admin_client.user
    response = admin_client.post(f"/admin/users/{admin.id}/edit", data=change)
    assert response.status_code == 200
    assert "last active administrator" in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert (admin.role, admin.active) == ("admin", True)


def test_an_admin_may_step_down_when_another_admin_remains(admin_client, make_user):
    make_user("admin")
    admin = admin_client.user
    response = admin_client.post(f"/admin/users/{admin.id}/edit", data={"role": "manager", "active": "y"})
    assert response.status_code == 302 and "/admin/" not in response.headers["Location"]
    db.session.refresh(admin)
    assert admin.role == "manager"
    assert admin_client.get("/admin/users").status_code == 403


def test_a_deactivated_admin_does_not_count_as_the_other_admin(admin_client, make_user):
    other = make_user("admin")
    other.active = False
    db.session.commit()
    admin = admin_client.user
    response = admin_client.post(f"/admin/users/{admin.id}/edit", data={"role": "staff", "active": "y"})
    assert "last active administrator" in response.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(app, admin_client, target):
    app.config["WTF_CSRF_ENABLED"] = True
    hash_before = target.password_hash
    assert admin_client.post(f"/admin/users/{target.id}/password").status_code == 400
    db.session.refresh(target)
    assert target.password_hash == hash_before


@pytest.mark.browser
def test_the_user_pages_have_no_wcag_violations(live_server, browser, make_user, target):
    from tests.test_accessibility import audit

    admin = make_user("admin", email="admin@example.org")
    context = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server}/login?lang=en")
    page.get_by_label("E-mail").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    for path in ("/admin/users", "/admin/users/new", f"/admin/users/{target.id}/edit"):
        page.goto(live_server + path)
        assert page.locator("h1").count() == 1, path
        assert audit(page) == [], path
    page.goto(f"{live_server}/admin/users/new")
    page.get_by_role("button", name="Add the user").click()  # no e-mail: the form shows its errors
    assert page.get_by_role("alert").count() == 1
    assert audit(page) == []
    page.goto(f"{live_server}/admin/users/{target.id}/edit")
    page.get_by_role("button", name="Reset the password").click()
    assert page.locator("[data-password]").count() == 1
    assert audit(page) == []
    context.close()
