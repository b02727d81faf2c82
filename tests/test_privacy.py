"""Privacy by design: scrubbed comments, no addresses stored or logged, retention, backups."""

import json
import logging
import sqlite3
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from server import create_app, ops
from server.models import Response, db
from server.redact import HETU_CHECK, MARKER, redact
from tests.conftest import _config, new_id

CENTURY_SIGNS = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}


@st.composite
def identity_codes(draw):
    """Valid Finnish personal identity codes, every century sign included."""
    born = draw(st.dates(min_value=date(1850, 1, 1), max_value=date(2099, 12, 31)))
    sign = draw(st.sampled_from(CENTURY_SIGNS[born.year // 100 * 100]))
    individual = draw(st.integers(min_value=2, max_value=899))
    digits = f"{born:%d%m}{born.year % 100:02d}"
    check = HETU_CHECK[int(f"{digits}{individual:03d}") % 31]
    return f"{digits}{sign}{individual:03d}{check}"


FINNISH_WORDS = st.sampled_from([
    "kiitos", "hoitaja", "odotin", "45", "minuuttia", "klo", "14.30", "huone", "2", "vastaanotto",
    "12.11.2026", "lääkäri", "ystävällinen", "ajanvaraus", "3", "viikkoa", "tänään", "B-siipi", "1.",
    "kerros", "ok", "Hyvä", "palvelu!", "2026", "vuonna", "äiti", "90-vuotias",
])


@settings(max_examples=300, deadline=None)
@given(code=identity_codes(), before=st.lists(FINNISH_WORDS, max_size=6), after=st.lists(FINNISH_WORDS, max_size=6))
def test_a_valid_identity_code_is_always_removed(code, before, after):
    text_in = " ".join([*before, code, *after])
    scrubbed = redact(text_in)
    assert code not in scrubbed
    assert MARKER in scrubbed


@settings(max_examples=300, deadline=None)
@given(words=st.lists(FINNISH_WORDS, min_size=1, max_size=12))
def test_ordinary_finnish_text_is_left_alone(words):
    sentence = " ".join(words)
    assert redact(sentence) == sentence


@pytest.mark.parametrize("text_in", [
    "soita 040 123 4567", "numero +358 40 1234567", "puh. 09-310 1234", "(09) 310 1234", "0401234567",
    "tel. +46 8 123 456 78", "maija.meikalainen@example.fi", "Maija <m.m+hymy@kunta.fi>",
])
def test_phone_numbers_and_email_addresses_are_removed(text_in):
    assert redact(text_in).count(MARKER) == 1
    assert not any(ch.isdigit() for ch in redact(text_in).replace(MARKER, "")[-4:])


def test_an_identity_code_with_a_wrong_check_character_is_not_a_code():
    assert redact("tilausnumero 131052-308U") == "tilausnumero 131052-308U"


def test_no_address_is_stored_anywhere_after_traffic(client, make_unit):
    unit = make_unit("Vastaanotto")
    for i in range(5):
        client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": 1 + i, "comment": "ok"},
                    environ_base={"REMOTE_ADDR": "203.0.113.77"}, headers={"User-Agent": "Tabletti/1.0"})
    client.get(f"/q/{unit.code}", environ_base={"REMOTE_ADDR": "203.0.113.77"})
    dump = []
    for table in inspect(db.engine).get_table_names():
        for row in db.session.execute(text(f'SELECT * FROM "{table}"')):
            dump.append(" ".join(str(v) for v in row))
    everything = "\n".join(dump)
    assert everything.count("smiley5") >= 5  # the answers are there to be scanned
    assert "203.0.113.77" not in everything and "Tabletti" not in everything


def test_request_logs_carry_no_address_or_query(app, client, make_unit, caplog):
    unit = make_unit("Vastaanotto")
    with caplog.at_level(logging.INFO, logger="hymy.requests"):
        client.get(f"/q/{unit.code}?lang=sv", environ_base={"REMOTE_ADDR": "203.0.113.77"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hymy.requests"]
    assert lines and lines[-1]["route"] == "/q/<code>" and lines[-1]["status"] == 200
    assert "203.0.113.77" not in caplog.text and "lang=sv" not in caplog.text


def test_no_request_is_logged_when_the_request_log_is_off(app, make_unit, caplog):
    unit = make_unit("Vastaanotto")
    quiet = create_app({**_config(app.config["SQLALCHEMY_DATABASE_URI"]), "HYMY_REQUEST_LOG": False})
    try:
        with caplog.at_level(logging.INFO, logger="hymy.requests"):
            assert quiet.test_client().get(f"/q/{unit.code}").status_code == 200
    finally:
        with quiet.app_context():
            db.engine.dispose()  # its own pool: closed here, not left to the garbage collector
    assert not [r for r in caplog.records if r.name == "hymy.requests"]


def add_answer(unit, days_ago, user=None):
    at = datetime.now(timezone.utc) - timedelta(days=days_ago)
    db.session.add(Response(id=new_id(), unit_id=unit.id, channel="spoken" if user else "kiosk", score=5,
                            scale="smiley5", answered_at=at, received_at=at, flags="", user_id=user.id if user else None))
    db.session.commit()


def test_purge_deletes_old_answers_and_keeps_recent_ones(runner, make_unit, make_user):
    unit = make_unit("Vastaanotto")
    nurse = make_user("staff", [unit.code])
    for days in (10, 100, 400):
        add_answer(unit, days)
        add_answer(unit, days, nurse)
    result = runner.invoke(args=["purge", "--older-than", "365", "--staff-older-than", "30"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "3"
    left = db.session.execute(db.select(Response.user_id.is_(None), Response.answered_at)).all()
    assert len(left) == 3  # client answers of 10 and 100 days, the staff entry of 10 days


def test_purge_without_a_limit_says_what_to_set(runner):
    result = runner.invoke(args=["purge"])
    assert result.exit_code != 0
    assert "HYMY_RETENTION_DAYS" in result.output


def test_backup_writes_an_integrity_checked_copy(app, runner, make_unit, tmp_path):
    if db.engine.dialect.name != "sqlite":
        result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite3")])
        assert result.exit_code != 0 and "pg_dump" in result.output
        return
    unit = make_unit("Vastaanotto")
    add_answer(unit, 1)
    target = tmp_path / "copies" / "hymy-backup.sqlite3"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(target)
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT count(*) FROM response").fetchone()[0] == 1
    assert runner.invoke(args=["backup", str(target)]).exit_code != 0  # never overwrites


def test_purge_refuses_nonsense():
    with pytest.raises(ops.OpsError):
        ops.purge(0)


def test_waitress_queue_warnings_are_logged_once_in_their_interval(caplog):
    queue_log = logging.getLogger("test.waitress.queue")
    # The burst below takes under a millisecond; the sleep leaves the wake-up a second to spare on a busy machine.
    queue_log.addFilter(ops.Occasionally(queue_log, seconds=0.3))
    with caplog.at_level(logging.WARNING, logger="test.waitress.queue"):
        for depth in range(100):
            queue_log.warning("Task queue depth is %d", depth)
        time.sleep(1.5)
        queue_log.warning("Task queue depth is %d", 100)
    assert [r.getMessage() for r in caplog.records if r.name == "test.waitress.queue"] == [
        "Task queue depth is 0", "Task queue depth is 100"]
