"""The answer API: POST /api/v1/responses as DESIGN.md fixes it."""

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from server import org, prepared
from server.errors import ApiError
from server.models import Device, Response, db
from tests.conftest import TEST_DB_URL, new_id


def count_responses():
    return db.session.execute(db.select(db.func.count()).select_from(Response)).scalar_one()


def post(client, body, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/responses", json=body, headers=headers, **kwargs)


@pytest.fixture
def unit(make_unit):
    return make_unit("Vastaanotto")


def enrol(client, unit):
    _device, link = org.add_device(unit, "Aula")
    code = link.split("enrol=")[1]
    response = client.post("/api/v1/devices/enrol", json={"code": code})
    assert response.status_code == 201
    return response.get_json()["token"]


def test_it_stores_an_answer_and_says_so(client, unit):
    answer_id = new_id()
    response = post(client, {"id": answer_id, "unit": unit.code, "score": 5, "reason": "staff_attitude",
                             "comment": "Kiitos!", "lang": "fi"})
    assert response.status_code == 201
    assert response.get_json() == {"id": answer_id, "status": "stored"}
    row = db.session.get(Response, answer_id)
    assert (row.score, row.reason, row.comment, row.channel, row.scale) == (5, "staff_attitude", "Kiitos!", "qr", "smiley5")


def test_a_replay_is_a_duplicate_and_stores_nothing(client, unit):
    body = {"id": new_id(), "unit": unit.code, "score": 4}
    assert post(client, body).status_code == 201
    again = post(client, body)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert count_responses() == 1


def test_a_replay_without_answered_at_is_not_a_conflict(client, unit):
    body = {"id": new_id(), "unit": unit.code, "score": 4}
    post(client, body)
    sent = {**body, "answered_at": db.session.get(Response, body["id"]).answered_at.isoformat()}
    assert post(client, sent).status_code == 200


def test_the_same_id_with_other_content_is_a_conflict(client, unit):
    answer_id = new_id()
    post(client, {"id": answer_id, "unit": unit.code, "score": 4})
    response = post(client, {"id": answer_id, "unit": unit.code, "score": 1})
    assert response.status_code == 409
    assert response.get_json()["field"] == "id"
    assert db.session.get(Response, answer_id).score == 4


def test_concurrent_replays_store_exactly_one_row(app, unit):
    body = {"id": new_id(), "unit": unit.code, "score": 3, "comment": "sama"}
    statuses = []

    def send():
        with app.test_client() as c:
            statuses.append(post(c, body).status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 11 + [201]
    assert count_responses() == 1


NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    "change, status, field",
    [
        ({"score": 6}, 422, "score"),
        ({"score": 0}, 422, "score"),
        ({"score": "5"}, 422, "score"),
        ({"score": 4.5}, 422, "score"),
        ({"score": True}, 422, "score"),
        ({"id": "not-a-uuid"}, 422, "id"),
        ({"id": 12}, 422, "id"),
        ({"id": None}, 422, "id"),
        ({"unit": "nosuchunit"}, 404, "unit"),
        ({"unit": 5}, 422, "unit"),
        ({"reason": "parking"}, 422, "reason"),
        ({"reason": ["waiting_time"]}, 422, "reason"),
        ({"comment": "x" * 2001}, 422, "comment"),
        ({"comment": 42}, 422, "comment"),
        ({"segment": "client"}, 422, "segment"),
        ({"segment": {"who": 3}}, 422, "segment"),
        ({"lang": "de"}, 422, "lang"),
        ({"answered_at": "yesterday"}, 422, "answered_at"),
        ({"answered_at": "2026-01-01T10:00:00"}, 422, "answered_at"),
        ({"answered_at": (NOW + timedelta(minutes=30)).isoformat()}, 422, "answered_at"),
        ({"answered_at": (NOW - timedelta(days=61)).isoformat()}, 422, "answered_at"),
        ({"answered_at": "9999-12-31T23:59:59-23:59"}, 422, "answered_at"),
        ({"score": None}, 422, "score"),
        ({"colour": "blue"}, 422, "colour"),
    ],
)
def test_it_refuses_bad_fields_naming_them(client, unit, change, status, field):
    body = {"id": new_id(), "unit": unit.code, "score": 4, **change}
    if change.get("id") is None and "id" in change:
        del body["id"]
    response = post(client, body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["field"] == field
    assert response.get_json()["error"]
    assert count_responses() == 0


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
        ("", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        ("id=1&score=5", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
        ("{}", None, 415),
        (json.dumps({"comment": "x" * 20000}), "application/json", 413),
    ],
)
def test_it_refuses_bodies_it_cannot_read(client, data, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/v1/responses", data=data, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]
    assert count_responses() == 0


def test_a_comment_alone_is_an_answer(client, unit):
    response = post(client, {"id": new_id(), "unit": unit.code, "comment": "Pysäköinti on vaikeaa"})
    assert response.status_code == 201


def test_personal_data_is_removed_from_comments(client, unit):
    answer_id = new_id()
    post(client, {"id": answer_id, "unit": unit.code, "score": 2, "comment": "Soittakaa 040 123 4567 tai maija@example.org"})
    comment = db.session.get(Response, answer_id).comment
    assert "4567" not in comment and "maija" not in comment


def test_scales_bound_the_score(client, make_unit):
    nps = make_unit("Palvelutalo", scale="nps")
    assert post(client, {"id": new_id(), "unit": nps.code, "score": 0}).status_code == 201
    assert post(client, {"id": new_id(), "unit": nps.code, "score": 10}).status_code == 201
    four = make_unit("Neuvola", scale="smiley4")
    assert post(client, {"id": new_id(), "unit": four.code, "score": 5}).status_code == 422


def test_an_enrolled_kiosk_answer_is_a_kiosk_answer(client, unit):
    token = enrol(client, unit)
    answer_id = new_id()
    assert post(client, {"id": answer_id, "unit": unit.code, "score": 5}, token).status_code == 201
    row = db.session.get(Response, answer_id)
    assert row.channel == "kiosk" and row.device_id is not None


def test_it_rejects_an_unknown_token(client, unit):
    response = post(client, {"id": new_id(), "unit": unit.code, "score": 5}, "forged")
    assert response.status_code == 401
    assert count_responses() == 0


def test_it_rejects_a_revoked_token(client, unit):
    token = enrol(client, unit)
    device = db.session.execute(db.select(Device)).scalar_one()
    device.revoked_at = datetime.now(UTC)
    db.session.commit()
    assert post(client, {"id": new_id(), "unit": unit.code, "score": 5}, token).status_code == 401


def test_a_token_cannot_answer_for_another_unit(client, unit, make_unit):
    token = enrol(client, unit)
    other = make_unit("Hammashoitola")
    response = post(client, {"id": new_id(), "unit": other.code, "score": 5}, token)
    assert response.status_code == 403
    assert count_responses() == 0


def test_an_enrolment_code_works_once(client, unit):
    _device, link = org.add_device(unit)
    code = link.split("enrol=")[1]
    first = client.post("/api/v1/devices/enrol", json={"code": code})
    assert first.status_code == 201 and first.get_json()["unit"] == unit.code
    assert client.post("/api/v1/devices/enrol", json={"code": code}).status_code == 401


def test_an_expired_enrolment_code_is_refused(client, unit):
    device, link = org.add_device(unit)
    device.enrol_expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    response = client.post("/api/v1/devices/enrol", json={"code": link.split("enrol=")[1]})
    assert response.status_code == 401


def test_repeated_presses_on_a_kiosk_are_flagged(client, unit):
    token = enrol(client, unit)
    at = datetime.now(UTC)
    ids = [new_id() for _ in range(3)]
    for i, answer_id in enumerate(ids):
        sent_at = (at + timedelta(seconds=[0, 2, 30][i])).isoformat()
        post(client, {"id": answer_id, "unit": unit.code, "score": 1, "answered_at": sent_at}, token)
    flags = [db.session.get(Response, i).flags for i in ids]
    assert flags == ["", "repeat", ""]


def test_anonymous_answers_are_rate_limited(app, client, unit):
    app.config["HYMY_ANON_RATE_PER_MINUTE"] = 3
    codes = [post(client, {"id": new_id(), "unit": unit.code, "score": 4}).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]


def test_openapi_describes_the_answer_endpoint(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/responses" in doc["paths"]
    assert set(doc["components"]["schemas"]["Answer"]["properties"]) >= {"id", "unit", "score", "answered_at"}


@pytest.mark.parametrize("change, field", [
    ({"comment": "a\ud800b"}, "body"),
    ({"unit": "\udfff"}, "body"),
    ({"segment": {"\ud800": "x"}}, "body"),
])
def test_text_that_is_not_unicode_is_refused_not_crashed_on(client, unit, change, field):
    body = {"id": new_id(), "unit": unit.code, "score": 4, **change}
    response = client.post("/api/v1/responses", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert count_responses() == 0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_a_lone_surrogate_sent_raw_not_escaped_is_refused_too(client, unit, encoding):
    body = json.dumps({"id": new_id(), "unit": unit.code, "score": 4, "comment": "a\ud800b"}, ensure_ascii=False)
    response = client.post("/api/v1/responses", data=body.encode(encoding, "surrogatepass"),
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["field"] == "body"
    assert count_responses() == 0


def test_an_enrolment_code_that_is_not_unicode_is_refused(client):
    response = client.post("/api/v1/devices/enrol", data='{"code": "\\ud800"}', content_type="application/json")
    assert response.status_code == 400


def test_simultaneous_enrolments_with_one_code_give_one_token(app, unit):
    _device, link = org.add_device(unit)
    code = link.split("enrol=")[1]
    statuses = []

    def enrol_once():
        with app.test_client() as c:
            statuses.append(c.post("/api/v1/devices/enrol", json={"code": code}).status_code)

    threads = [threading.Thread(target=enrol_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [401] * 5


@pytest.mark.parametrize("change, field", [
    ({"unit": "abc\x00"}, "unit"),
    ({"reason": "waiting\x00time"}, "reason"),
    ({"segment": {"who": "a\x00b"}}, "segment"),
    ({"lang": "f\x00"}, "lang"),
])
def test_a_nul_character_anywhere_is_refused_naming_the_field(client, unit, change, field):
    response = post(client, {"id": new_id(), "unit": unit.code, "score": 4, **change})
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert count_responses() == 0


def test_a_second_phone_answer_within_the_period_is_kept_but_flagged(app, client, unit, make_unit):
    app.config["HYMY_PHONE_REPEAT_HOURS"] = 12
    first, second = new_id(), new_id()
    assert post(client, {"id": first, "unit": unit.code, "score": 5}).status_code == 201
    assert post(client, {"id": second, "unit": unit.code, "score": 1}).status_code == 201
    assert post(client, {"id": second, "unit": unit.code, "score": 1}).status_code == 200  # a retry stays a retry
    assert [db.session.get(Response, i).flags for i in (first, second)] == ["", "repeat"]
    other = make_unit("Hammashoitola")
    third = new_id()
    post(client, {"id": third, "unit": other.code, "score": 4})
    assert db.session.get(Response, third).flags == ""  # the marker is per unit


def test_the_phone_marker_is_an_httponly_cookie_for_the_api_only(app, client, unit):
    app.config["HYMY_PHONE_REPEAT_HOURS"] = 12
    response = post(client, {"id": new_id(), "unit": unit.code, "score": 5})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"hymy_answered_{unit.code}=1")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/v1/responses" in cookie


def test_the_phone_period_can_be_switched_off(app, client, unit):
    app.config["HYMY_PHONE_REPEAT_HOURS"] = 0
    ids = [new_id(), new_id()]
    for answer_id in ids:
        post(client, {"id": answer_id, "unit": unit.code, "score": 5})
    assert [db.session.get(Response, i).flags for i in ids] == ["", ""]


def test_the_prepared_insert_stores_what_the_session_insert_stores(app, unit):
    """On SQLite a kiosk's answer is inserted by a statement prepared once (server/sqlite.py); staff
    entries and phone answers go through the session. Both must store the very same row."""
    from server import answers
    from server.api import Kiosk
    from server.models import utcnow

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the prepared insert is SQLite's")
    unit.repeat_window_s = 60
    unit.segment_questions = [{"key": "age", "options": [{"value": "18-64"}]}]
    device, _link = org.add_device(unit, "Aula")
    db.session.commit()
    kiosk = Kiosk(device.id, None, answers.unit_snapshot(unit.code), "hash")
    code = kiosk.unit.code
    db.session.commit()
    at = utcnow().replace(microsecond=0)
    rows = {}
    for path in ("prepared", "session"):
        for n, score in enumerate((2, 4)):  # the second within the repeat window
            payload = {"id": new_id(), "unit": code, "score": score, "comment": "Soita 040 1234567",
                       "segment": {"age": "18-64"}, "lang": "sv", "answered_at": (at + timedelta(seconds=n)).isoformat()}
            answer = answers.validate(payload, kiosk.lookup_unit)
            if path == "session":
                db.session.connection()  # a session that has begun: the insert joins it
            assert not db.session().in_transaction() or path == "session"
            assert answers.store(answer, "kiosk", device=kiosk) == "stored"
            assert answers.store(answer, "kiosk", device=kiosk) == "duplicate"
            # A replay is read back as typed as the session reads it: any field changed is a conflict.
            for changed in ({"segment": None}, {"answered_at": answer.answered_at + timedelta(microseconds=1)},
                            {"comment": "Toinen"}, {"score": 3}, {"lang": "fi"}):
                assert not db.session().in_transaction() or path == "session"
                with pytest.raises(ApiError):
                    answers.store(dataclasses.replace(answer, **changed), "kiosk", device=kiosk)
            # The stored text itself, as SQLite holds it, but for the id and the time of arrival.
            stored = db.session.connection().exec_driver_sql(
                "SELECT unit_id, channel, device_id, user_id, score, scale, reason, comment, segment, lang,"
                " answered_at, kind, flags, length(received_at) FROM response WHERE id = ?", (answer.id,)).one()
            rows.setdefault(path, []).append(tuple(stored))
            db.session.commit()
        db.session.execute(db.delete(Response))
        db.session.commit()
    assert rows["prepared"] == rows["session"]
    assert [row[-2] for row in rows["prepared"]] == ["", "repeat"]


@pytest.mark.skipif(not (TEST_DB_URL or "").startswith("postgresql"), reason="needs a database server to drop connections")
def test_an_answer_after_the_database_server_dropped_the_connections_is_stored(client, unit):
    token = enrol(client, unit)
    for _ in range(2):  # the second with the kiosk remembered: its answer runs on its thread's own connection
        db.session.remove()
        assert post(client, {"id": new_id(), "unit": unit.code, "score": 4}, token).status_code == 201
    assert prepared._connections().get(db.engine.pool) is not None
    # A restart of the database server, as a kiosk's thread meets it: its connection is gone.
    db.session.execute(db.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    db.session.remove()
    assert post(client, {"id": new_id(), "unit": unit.code, "score": 4}, token).status_code == 201
    assert count_responses() == 3
