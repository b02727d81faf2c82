"""The answer path's few seconds of memory (server/memo.py): this process's changes count at once,
another process's within RECENT_SECONDS."""

import pytest
from sqlalchemy import create_engine, text

from server import alerts, memo, org
from server.models import Device, Response, db, utcnow
from tests.conftest import new_id
from tests.test_api import enrol, post


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(app):
    """The app's memory on a clock that moves only when a test moves it."""
    clock = Clock()
    memory = app.extensions["hymy_memory"]
    memory.kiosks.clock = memory.alert_rules.clock = clock
    return clock


@pytest.fixture
def kiosk(client, make_unit, clock):
    """A unit and the token of its enrolled kiosk, which has answered once: the memory holds it."""
    unit = make_unit("Vastaanotto")
    token = enrol(client, unit)
    assert answer_status(client, unit, token) == 201
    return unit, token


def answer_status(client, unit, token):
    """Send a kiosk answer; return the HTTP status."""
    return post(client, {"id": new_id(), "unit": unit.code, "score": 5}, token).status_code


def revoke_elsewhere(app):
    in_another_process(app, "UPDATE device SET revoked_at = :now", now=utcnow().replace(tzinfo=None))


def in_another_process(app, statement, **params):
    """Change the database through an engine of its own, as another app server or a hymy command would."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        connection.execute(text(statement), params)
    engine.dispose()


def test_a_kiosk_revoked_here_is_refused_at_once(client, kiosk):
    unit, token = kiosk
    org.revoke_device(db.session.execute(db.select(Device)).scalar_one())
    assert answer_status(client, unit, token) == 401


def test_a_kiosk_revoked_elsewhere_is_refused_within_the_memory_time(app, client, kiosk, clock):
    unit, token = kiosk
    revoke_elsewhere(app)
    clock.now += memo.RECENT_SECONDS - 1
    assert answer_status(client, unit, token) == 201
    clock.now += 2
    assert answer_status(client, unit, token) == 401


def test_a_unit_edited_here_checks_the_next_answer_against_its_new_scale(client, kiosk):
    unit, token = kiosk
    org.update_unit(unit, names={"fi": "Vastaanotto"}, questions={}, scale="smiley4", default_lang="fi",
                    reasons_positive=[], reasons_negative=[], repeat_window_s=0)
    response = post(client, {"id": new_id(), "unit": unit.code, "score": 5}, token)
    assert response.status_code == 422
    assert response.get_json()["field"] == "score"


def test_a_heartbeat_keeps_the_memory(app, client, kiosk, clock):
    """A heartbeat changes its device every few minutes; the memory would be worth little if it forgot then."""
    unit, token = kiosk
    revoke_elsewhere(app)
    beat = client.post("/api/v1/devices/heartbeat", json={"queued": 0}, headers={"Authorization": f"Bearer {token}"})
    assert beat.status_code == 200
    assert answer_status(client, unit, token) == 201
    clock.now += memo.RECENT_SECONDS + 1
    assert answer_status(client, unit, token) == 401


def test_an_alert_rule_changed_elsewhere_counts_within_the_memory_time(app, client, make_unit, clock):
    unit = make_unit("Vastaanotto")
    token = enrol(client, unit)
    for _ in range(4):
        assert answer_status(client, unit, token) == 201
    assert alerts.check_unit(unit.id) == []  # stores the default rule
    assert alerts.check_unit(unit.id) == []  # reads it, now remembered
    in_another_process(app, "UPDATE alert_rule SET threshold_pct = 1, min_answers = 1"
                            " WHERE kind = 'negative_share'")
    db.session.add(Response(id=new_id(), unit_id=unit.id, channel="kiosk", score=1, scale="smiley5",
                            answered_at=utcnow(), received_at=utcnow(), flags=""))
    db.session.commit()
    assert alerts.check_unit(unit.id) == []  # 1 of 5 negative: under the default 50 %
    clock.now += memo.RECENT_SECONDS + 1
    assert len(alerts.check_unit(unit.id)) == 1
