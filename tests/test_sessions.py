"""Sign-in sessions end when the account changes under them."""

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
