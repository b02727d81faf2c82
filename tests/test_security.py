"""Headers on every page type, JSON errors, and the health check."""

import pytest

from server.insight_models import WallLink
from server.models import db


@pytest.fixture
def pages(make_unit):
    unit = make_unit("Vastaanotto", area="Etelä")
    wall = WallLink(unit_id=unit.id)
    db.session.add(wall)
    db.session.commit()
    return [f"/k/{unit.code}", f"/q/{unit.code}", f"/q/{unit.code}/poster", f"/q/{unit.code}/qr.svg", "/login",
            "/healthz", "/api/v1/openapi.json", "/manage/", f"/manage/units/{unit.code}/digest",
            f"/manage/areas/{unit.area.code}", "/staff/log", f"/wall/{wall.code}", "/privacy", "/accessibility",
            "/sw.js", "/no-such-page"]


def test_every_page_carries_the_security_headers(client, pages):
    for path in pages:
        response = client.get(path)
        response.close()  # a file response (sw.js) holds its file open until closed
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers


def test_hsts_is_sent_over_https(client):
    response = client.get("/login", base_url="https://hymy.test")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_health_check_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_api_errors_are_json_even_for_unknown_routes(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]
    response = client.get("/api/v1/responses")
    assert response.status_code == 405
    assert response.get_json()["error"]


def test_an_error_page_leaks_nothing(client):
    response = client.get("/k/this-unit-does-not-exist")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "sqlalchemy" not in body.lower()


def test_a_header_a_page_sets_itself_is_kept_and_not_repeated(app, client):
    @app.get("/framed-here")
    def framed_here():
        return "ok", 200, {"X-Frame-Options": "SAMEORIGIN"}

    response = client.get("/framed-here")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
