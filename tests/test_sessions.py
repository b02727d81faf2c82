"""Sign-in sessions end when the account changes under them."""

import pytest

from server.models import db
from tests.conftest import PASSWORD


def test_a_new_password_signs_out_every_other_session(app, make_user):
    user = make_user("manager", email="maija@example.org")
    phone, laptop = app.test_client(), app.test_client()
    for browser in (phone, laptop):
        assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
        assert browser.get("/manage/").status_code == 200
    user.set_password("an entirely new password")
    db.session.commit()
    assert laptop.get("/manage/").status_code == 302
    assert phone.get("/manage/").headers["Location"].startswith("/login")


def test_a_session_cookie_from_before_session_versions_is_refused(app, make_user):
    user = make_user("manager")
    browser = app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD})
    with browser.session_transaction() as session:
        session["_user_id"] = str(user.id)  # the old form, without a version
    assert browser.get("/manage/").status_code == 302


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\t/evil.example", "/\r/evil.example", "/\n/evil.example",
    "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
])
def test_sign_in_never_redirects_off_the_site(client, make_user, target):
    user = make_user("manager")
    response = client.post("/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/manage/"


def test_sign_in_returns_to_the_page_that_asked(client, make_user):
    user = make_user("manager")
    response = client.post("/login?next=/manage/units/abc", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/manage/units/abc"
