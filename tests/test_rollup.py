"""The weekly rollup: exact after every kind of write, in the configured zone, equal to a count of the answers."""

import csv
import random
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server import cli, create_app, insight, interchange, reports, rollup
from server.models import Response, ResponseWeek, db, utcnow
from tests.conftest import TEST_DB_URL, _config, new_id
from tests.test_api import enrol, post
from tests.test_staff import log

HELSINKI = "Europe/Helsinki"


def expected(tz_name=HELSINKI):
    """The rollup as counted here from every stored answer with zoneinfo: {key: n}."""
    zone = ZoneInfo(tz_name)
    counts = Counter()
    for r in db.session.execute(db.select(Response).where(Response.score.is_not(None))).scalars():
        day = r.answered_at.astimezone(zone).date()
        monday = day - timedelta(days=day.weekday())
        counts[(r.unit_id, monday, r.channel, r.flags == "", r.scale, r.score, r.reason or "")] += 1
    return dict(counts)


def stored():
    db.session.expire_all()
    rows = db.session.execute(db.select(ResponseWeek)).scalars()
    return {(w.unit_id, w.monday, w.channel, w.counted, w.scale, w.score, w.reason): w.n for w in rows}


def add(unit, at, score=5, **fields):
    db.session.add(Response(
        id=new_id(), unit_id=unit.id, channel=fields.pop("channel", "kiosk"), score=score, scale=unit.scale,
        answered_at=at, received_at=utcnow(), flags=fields.pop("flags", ""), **fields,
    ))
    db.session.commit()


def hourly_import_file(path, unit, hours, score=lambda hour: 3):
    """Write an import file of the unit's answers, one at each of the hours after 1 October 2026 (UTC)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"])
        for hour in hours:
            at = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=hour)
            writer.writerow([new_id(), unit.code, "import", score(hour), "smiley5", "", "", "", "fi",
                             at.strftime("%Y-%m-%dT%H:%M:%SZ")])
    return path


def local(text, tz_name=HELSINKI):
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz_name))


def test_every_way_of_writing_answers_keeps_the_weekly_counts_exact(app, client, runner, make_unit, login_as, tmp_path):
    unit = make_unit("Vastaanotto")
    code = unit.code
    token = enrol(client, unit)
    # Kiosk answers, one a quick repeat (flagged), and a replay that must not count twice.
    body = {"id": new_id(), "unit": unit.code, "score": 1, "reason": "waiting_time"}
    assert post(client, body, token).status_code == 201
    assert post(client, body, token).status_code == 200
    assert post(client, {"id": new_id(), "unit": unit.code, "score": 1}, token).status_code == 201
    assert post(client, {"id": new_id(), "unit": unit.code, "score": 4}).status_code == 201  # a phone by QR
    assert stored() == expected() and sum(stored().values()) == 3
    assert any(not counted for (_u, _m, _c, counted, *_rest) in stored()), "the repeat is kept apart"

    login_as("staff", scope=[unit.code])
    assert log(client, unit, score="5", comment="Kiitos").status_code == 302
    entry = db.session.execute(db.select(Response).where(Response.kind.is_not(None))).scalar_one()
    client.post(f"/staff/entries/{entry.id}/edit", data={"kind": "suggestion", "channel": "phone", "score": "2",
                                                         "reason": "information", "comment": ""})
    db.session.refresh(entry)
    assert entry.score == 2
    assert stored() == expected()
    client.post(f"/staff/entries/{entry.id}/delete")
    assert db.session.execute(db.select(Response.id).where(Response.id == entry.id)).first() is None
    assert stored() == expected()

    path = tmp_path / "old.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"])
        for days in range(0, 800, 7):
            at = (datetime(2026, 11, 29, 21, 59, tzinfo=UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([new_id(), code, "import", 1 + days % 5, "smiley5", "", "", "", "fi", at])
    result = runner.invoke(cli.main, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert stored() == expected() and sum(stored().values()) == 3 + 115

    result = runner.invoke(cli.main, ["purge", "--older-than", "365", "--staff-older-than", "365"])
    assert result.exit_code == 0, result.output
    assert stored() == expected() and sum(stored().values()) < 3 + 115


def test_corrections_crossing_between_two_scores_at_once_all_go_through_and_keep_the_counts_exact(app, make_unit):
    # Each correction moves one answer's count from one key of the week to another; run four at a
    # time, two move it one way while two move it the other. On PostgreSQL the rollup's rows were
    # counted down and up in turn, and such corrections deadlocked (42 of 160); SQLite has one writer.
    unit = make_unit("Vastaanotto")
    for score in (3, 4, 3, 4):
        add(unit, local("2026-11-02T10:00"), score=score, channel="spoken")
    ids = db.session.execute(db.select(Response.id)).scalars().all()
    barrier, failures, engine = threading.Barrier(len(ids)), [], db.engine

    def correct(answer_id):
        barrier.wait()
        for _ in range(25):
            try:
                with engine.begin() as connection:
                    connection.execute(db.update(Response).where(Response.id == answer_id).values(
                        score=db.case((Response.score == 3, 4), else_=3)))
            except Exception as exc:  # noqa: BLE001 - counted and shown below
                failures.append(repr(exc))

    threads = [threading.Thread(target=correct, args=(answer_id,)) for answer_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert stored() == expected()


def test_weeks_turn_at_local_midnight_between_sunday_and_monday_in_both_changes_of_summer_time(app, make_unit):
    unit = make_unit("Vastaanotto")
    # 2026's summer time starts on Sunday 29 March and ends on Sunday 25 October.
    for sunday in ("2026-03-29", "2026-10-25", "2026-11-29"):
        add(unit, local(f"{sunday}T23:59:59"), score=1)
        add(unit, local(f"{sunday}T00:00:00") + timedelta(days=1), score=5)
    weeks = {(monday, score): n for (_u, monday, _c, _k, _s, score, _r), n in stored().items()}
    assert weeks == {
        (date(2026, 3, 23), 1): 1, (date(2026, 3, 30), 5): 1,
        (date(2026, 10, 19), 1): 1, (date(2026, 10, 26), 5): 1,
        (date(2026, 11, 23), 1): 1, (date(2026, 11, 30), 5): 1,
    }
    assert stored() == expected()


def test_another_zone_recounts_the_weeks_at_its_first_use(app, make_unit, tmp_path):
    unit = make_unit("Vastaanotto")
    # Monday 01:30 in Helsinki is still Sunday evening in New York.
    add(unit, local("2026-11-30T01:30:00"))
    assert list(stored())[0][1] == date(2026, 11, 30)
    unit_id, url = unit.id, app.config["SQLALCHEMY_DATABASE_URI"]
    other = create_app(_config(url) | {"HYMY_TIMEZONE": "America/New_York"})
    with other.app_context():
        insight.unit_counts([db.session.get(type(unit), unit_id)], date(2026, 11, 30), "America/New_York")
        assert rollup.stored_zone() == "America/New_York"
        assert list(stored())[0][1] == date(2026, 11, 23)
        assert stored() == expected("America/New_York")
        db.session.remove()
        db.engine.dispose()


def test_a_zone_other_than_the_configured_one_is_counted_from_the_answers(app, make_unit):
    unit = make_unit("Vastaanotto")
    add(unit, local("2026-11-30T01:30:00"))
    first = date(2026, 11, 16)
    weeks = reports.weekly_counts([unit], first, date(2026, 12, 6), "America/New_York")[unit.id]
    assert weeks[date(2026, 11, 23)].answers == 1 and weeks[date(2026, 11, 30)].answers == 0
    assert rollup.stored_zone() == HELSINKI


@pytest.fixture
def busy_units(make_unit):
    """Two units with six hundred answers over nine weeks: channels, flags, reasons, no score."""
    units = [make_unit("Vastaanotto"), make_unit("Neuvola")]
    rng = random.Random(3)
    start = datetime(2026, 9, 20, tzinfo=UTC)
    rows = []
    for _ in range(600):
        at = start + timedelta(seconds=rng.randint(0, 70 * 86400))
        unit = rng.choice(units)
        rows.append(Response(
            id=new_id(), unit_id=unit.id, channel=rng.choice(["kiosk", "qr", "spoken"]),
            score=rng.choice([None, 1, 2, 3, 4, 5]), scale="smiley5", reason=rng.choice([None, "waiting_time"]),
            answered_at=at, received_at=at, flags=rng.choice(["", "", "", "repeat"]),
        ))
    db.session.add_all(rows)
    db.session.commit()
    return units


def counted_without_the_rollup(monkeypatch, fn, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(rollup, "ready", lambda tz_name: False)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("first, last, today", [
    (date(2026, 9, 14), date(2026, 11, 29), None),  # whole weeks
    (date(2026, 9, 23), date(2026, 11, 26), None),  # weeks cut after Tuesday and Thursday: a rollup less two days
    (date(2026, 9, 26), date(2026, 11, 24), None),  # cut after Friday and Tuesday: the days inside counted
    (date(2026, 9, 14), date(2026, 11, 24), date(2026, 11, 24)),  # today Tuesday, the week's rest to come
    (date(2026, 11, 18), date(2026, 11, 19), None),  # two days of one week
])
@pytest.mark.parametrize("include_flagged, channels", [(False, None), (True, None), (False, ["qr", "spoken"])])
def test_the_area_weeks_from_the_rollup_equal_a_count_of_the_answers(monkeypatch, busy_units, first, last, today,
                                                                      include_flagged, channels):
    now = datetime.combine(today, datetime.min.time(), ZoneInfo(HELSINKI)) + timedelta(hours=12) if today else None
    args = (busy_units, first, last, HELSINKI, include_flagged, channels, now)
    from_rollup = reports.weekly_counts(*args)
    from_answers = counted_without_the_rollup(monkeypatch, reports.weekly_counts, *args)
    shown = {u: {m: (t.answers, t.positive, t.negative) for m, t in weeks.items()} for u, weeks in from_rollup.items()}
    assert shown == {u: {m: (t.answers, t.positive, t.negative) for m, t in weeks.items()}
                     for u, weeks in from_answers.items()}
    assert sum(t.answers for weeks in from_rollup.values() for t in weeks.values()) > 5


def test_the_change_detector_counts_the_same_from_the_rollup_as_from_the_answers(monkeypatch, busy_units):
    monday = date(2026, 11, 23)
    from_rollup = insight.unit_counts(busy_units, monday, HELSINKI)
    from_answers = counted_without_the_rollup(monkeypatch, insight.unit_counts, busy_units, monday, HELSINKI)
    for unit in busy_units:
        for mine, theirs in zip(from_rollup[unit], from_answers[unit], strict=True):
            assert vars(mine) == vars(theirs)
    assert from_rollup[busy_units[0]][0].answers > 0


def zone_edges(tz_name):
    """UTC times around the zone's local Monday midnights of 2026 and its offset changes of 2025-2027."""
    zone = ZoneInfo(tz_name)
    edges = []
    monday = date(2026, 1, 5)
    while monday.year == 2026:
        edges.append(datetime.combine(monday, datetime.min.time(), zone).astimezone(UTC))
        monday += timedelta(days=7)
    edges += [start.replace(tzinfo=UTC) for start, _minutes in rollup.zone_offsets(tz_name)
              if datetime(2025, 1, 1) <= start < datetime(2028, 1, 1)]
    return [edge + timedelta(seconds=s) for edge in edges for s in (-61, -1, 0, 59)]


@pytest.mark.parametrize("tz_name", [HELSINKI, "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns",
                                     "Australia/Lord_Howe"])
def test_a_bulk_import_counts_the_weeks_as_the_trigger_would_in_every_kind_of_zone(app, make_unit, tmp_path, tz_name):
    """Whole, half- and quarter-hour offsets, and a summer time that moves the clock half an hour."""
    unit = make_unit("Vastaanotto")
    forms = ["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+00:00"]
    rows = [
        [new_id(), unit.code, "import", "" if i % 7 == 0 else str(1 + i % 5), "smiley5", "waiting_time" if i % 3 else "",
         "Kiitos" if i % 7 == 0 else "", "", "fi", (at + timedelta(microseconds=i)).strftime(forms[i % 3]),
         "repeat" if i % 11 == 0 else "", ""]
        for i, at in enumerate(zone_edges(tz_name))
    ]
    header = ["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at", "flags",
              "kind"]

    def import_rows(name, chosen, **options):
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([header, *chosen])
        with path.open(newline="", encoding="utf-8") as file:
            return interchange.import_csv(file, **options)

    unit_id, url = unit.id, app.config["SQLALCHEMY_DATABASE_URI"]
    other = create_app(_config(url) | {"HYMY_TIMEZONE": tz_name})
    with other.app_context():
        assert rollup.ready(tz_name)
        # Some rows stored first, counted by the trigger; the whole file then skips them in its later batches.
        assert import_rows("some.csv", rows[-30:]) == (30, 0)
        # And it repeats its own first rows at its end, long after the trigger went aside.
        assert import_rows("all.csv", rows + rows[:45], batch_size=40, bulk_rows=40) == (len(rows) - 30, 75)
        assert stored() == expected(tz_name)
        assert sum(stored().values()) == sum(1 for row in rows if row[3])
        # The trigger is back: an answer stored after the import counts too.
        add(db.session.get(type(unit), unit_id), datetime(2026, 6, 1, 12, tzinfo=UTC))
        assert stored() == expected(tz_name)
        db.session.remove()
        db.engine.dispose()


def test_an_import_that_began_before_the_rollup_changed_zone_leaves_the_counting_to_the_trigger(
        app, make_unit, tmp_path, monkeypatch):
    if TEST_DB_URL:
        pytest.skip("the trigger is set aside on SQLite only")
    unit = make_unit("Vastaanotto")
    # Across Sunday-Monday midnights, in Helsinki and in New York.
    path = hourly_import_file(tmp_path / "in.csv", unit, range(0, 60 * 24, 7))
    # The import read the zone just before another process recounted the rollup in Helsinki's.
    new_york = rollup.Tally([(start, minutes) for start, minutes in rollup.zone_offsets("America/New_York")])
    original = rollup.Tally.of
    calls = []
    monkeypatch.setattr(rollup.Tally, "of", classmethod(
        lambda cls, connection: calls.append(1) or (new_york if len(calls) == 1 else original(connection))))
    with path.open(newline="", encoding="utf-8") as file:
        assert interchange.import_csv(file, batch_size=20, bulk_rows=20) == (206, 0)
    assert len(calls) == 2
    assert stored() == expected() and sum(stored().values()) == 206


def test_an_answer_another_writer_stores_while_an_import_runs_on_postgresql_counts_once(app, make_unit, tmp_path,
                                                                                         monkeypatch):
    """The import's transaction alone tells the insert trigger to skip its rows: everyone else's still count."""
    if not TEST_DB_URL:
        pytest.skip("on SQLite an import holds the one write lock: no other writer stores meanwhile")
    unit = make_unit("Vastaanotto")
    unit_id = unit.id
    path = hourly_import_file(tmp_path / "in.csv", unit, range(0, 50 * 7, 7), score=lambda hour: 1 + hour % 5)
    original = rollup.Tally.store
    meanwhile = []

    def another_writer_first(tally, connection):
        # The import has stored its rows and not yet committed or counted them.
        with db.engine.connect() as other:
            other.execute(Response.__table__.insert(), {
                "id": new_id(), "unit_id": unit_id, "channel": "kiosk", "score": 2, "scale": "smiley5",
                "answered_at": datetime(2026, 10, 5, 9, tzinfo=UTC), "received_at": utcnow(), "flags": ""})
            other.commit()
            meanwhile.append(other.execute(db.select(db.func.sum(ResponseWeek.n))).scalar())
        original(tally, connection)

    monkeypatch.setattr(rollup.Tally, "store", another_writer_first)
    with path.open(newline="", encoding="utf-8") as file:
        assert interchange.import_csv(file, batch_size=20) == (50, 0)
    assert meanwhile == [1], "the other writer's answer was counted in its own transaction"
    assert stored() == expected() and sum(stored().values()) == 51


def test_a_recount_in_another_zone_waits_for_a_postgresql_import_that_read_the_zone_before(
        app, make_unit, tmp_path, monkeypatch):
    """The import counts its rows in the zone it read at its start: a recount must not change the zone meanwhile."""
    if not TEST_DB_URL:
        pytest.skip("on SQLite the import holds the one write lock from its first row, the recount's too")
    unit = make_unit("Vastaanotto")
    # Across Sunday-Monday midnights, in Helsinki and in New York.
    path = hourly_import_file(tmp_path / "in.csv", unit, range(0, 60 * 24, 7))
    engine, original = db.engine, rollup.Tally.of
    recounts = []

    def recount_in_new_york():
        with engine.connect() as other:
            rollup.rebuild(other, "America/New_York")
            other.commit()

    def read_the_zone_then_recount(cls, connection):
        tally = original(connection)
        if not recounts:  # the import has just read the zone
            recounts.append(threading.Thread(target=recount_in_new_york))
            recounts[0].start()
            recounts[0].join(timeout=2)  # done by then, unless the import holds it back
        return tally

    monkeypatch.setattr(rollup.Tally, "of", classmethod(read_the_zone_then_recount))
    with path.open(newline="", encoding="utf-8") as file:
        assert interchange.import_csv(file, batch_size=20) == (206, 0)
    recounts[0].join(timeout=30)
    assert not recounts[0].is_alive()
    assert stored() == expected("America/New_York") and sum(stored().values()) == 206


def test_an_import_into_a_database_whose_trigger_predates_the_import_setting_still_counts_once(app, make_unit,
                                                                                                tmp_path):
    """New code on a database not yet upgraded: its trigger counts, and the import does not count again."""
    if not TEST_DB_URL:
        pytest.skip("the trigger takes the import's setting on PostgreSQL only")
    unit = make_unit("Vastaanotto")
    path = hourly_import_file(tmp_path / "in.csv", unit, range(0, 30 * 7, 7))
    older = ("CREATE OR REPLACE FUNCTION response_week_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             f"{rollup._pg_apply(new_rows='new_rows')} RETURN NULL; END $$")
    db.session.connection().exec_driver_sql(older)
    db.session.commit()
    try:
        with path.open(newline="", encoding="utf-8") as file:
            assert interchange.import_csv(file, batch_size=8) == (30, 0)
        assert stored() == expected() and sum(stored().values()) == 30
    finally:
        rollup.replace_functions(db.session.connection())
        db.session.commit()
