"""Alert rules at their edges: the default fires at 4 answers with 2 negative, never on fewer."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from server import alerts
from server.models import Response, db

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
DEFAULT = (alerts.DEFAULT_RULE["min_answers"], alerts.DEFAULT_RULE["threshold_pct"])


@pytest.mark.parametrize("answers, negative, fires", [
    (4, 2, True),     # exactly the default: 4 answers, 50 % negative
    (3, 2, False),    # 67 % negative, but fewer answers than the minimum
    (3, 3, False),
    (4, 1, False),
    (100, 49, False),  # 49 %
    (100, 50, True),
    (0, 0, False),
])
def test_the_default_rule_at_its_edges(answers, negative, fires):
    assert alerts.rule_fires(answers, negative, *DEFAULT) is fires


def answer(unit, score, minutes_ago, flags=""):
    db.session.add(Response(id=str(uuid.uuid4()), unit_id=unit.id, channel="kiosk", score=score, scale="smiley5",
                            answered_at=NOW - timedelta(minutes=minutes_ago), flags=flags))
    db.session.commit()


def test_it_raises_one_alert_at_the_fourth_answer_with_two_negative(make_unit):
    unit = make_unit("Reception")
    answer(unit, 1, 10)
    answer(unit, 2, 8)
    answer(unit, 5, 5)
    assert alerts.check_unit(unit.id, NOW) == []  # three answers: never an alert
    answer(unit, 4, 1)
    [alert] = alerts.check_unit(unit.id, NOW)
    assert (alert.answers, alert.negative) == (4, 2)
    assert alerts.check_unit(unit.id, NOW) == []  # the same burst does not alert twice
    assert alerts.open_alerts(unit) == [alert]


def test_two_checks_at_once_raise_one_alert(app, make_unit, monkeypatch):
    unit = make_unit("Reception")
    for score in (1, 1, 5, 5):
        answer(unit, score, 3)
    alerts.check_unit(unit.id, NOW - timedelta(hours=1))  # stores the default rule; nothing in its window
    # Each check waits here for the other after looking for a covering alert; one that is held up
    # by the other's lock waits in vain (a second), and both then carry on.
    both_looked = threading.Barrier(2)
    look = alerts._alert_covering

    def look_then_wait(*args):
        found = look(*args)
        try:
            both_looked.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(alerts, "_alert_covering", look_then_wait)
    raised = []

    def check():
        with app.app_context():
            raised.extend(alert.id for alert in alerts.check_unit(unit.id, NOW))

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(raised) == 1
    assert len(alerts.open_alerts(unit)) == 1


def test_it_looks_only_at_the_last_15_minutes_and_counted_answers(make_unit):
    unit = make_unit("Reception")
    answer(unit, 1, 20)  # too early
    answer(unit, 1, 10)
    answer(unit, 1, 9, flags="repeat")  # a repeated press does not count
    answer(unit, 5, 5)
    answer(unit, 5, 1)
    assert alerts.check_unit(unit.id, NOW) == []  # 1 negative of 3 counted answers


def test_an_acknowledged_alert_keeps_the_comment_and_leaves_the_open_list(make_unit, make_user):
    unit = make_unit("Reception")
    manager = make_user("manager", [unit.code])
    for score in (1, 1, 5, 5):
        answer(unit, score, 3)
    [alert] = alerts.check_unit(unit.id, NOW)
    alerts.acknowledge(alert, manager, "The queue system was down; fixed at 9:10.")
    assert alerts.open_alerts(unit) == []
    assert alert.comment.startswith("The queue system") and alert.acknowledged_by_id == manager.id


def test_the_prepared_count_finds_what_the_session_count_finds(make_unit):
    """On SQLite the count after an answer's commit runs prepared, outside the session (server/sqlite.py)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the prepared count is SQLite's")
    unit = make_unit("Reception")
    for score, minutes_ago, flags in ((1, 20, ""), (1, 15, ""), (2, 10, ""), (1, 9, "repeat"), (5, 5, ""), (3, 0, "")):
        answer(unit, score, minutes_ago, flags)
    unit_id = unit.id
    db.session.commit()
    start = NOW - timedelta(minutes=15)
    assert not db.session().in_transaction()
    prepared = alerts._window_counts(unit_id, start, NOW)
    db.session.connection()  # a session that has begun: the count runs in it
    in_session = alerts._window_counts(unit_id, start, NOW)
    assert prepared == in_session == (4, 2, NOW)
