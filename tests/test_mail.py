"""E-mail through the operator's SMTP server: Monday's digests to the people responsible, and new alerts."""

import asyncio
import email
import email.policy
import logging
import socket
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.smtp import SMTP, AuthResult

from server import config, mail, ops
from server.insight_models import DigestSent
from server.models import User, db, utcnow
from tests.conftest import new_id
from tests.test_digest import MONDAY, WEEK, add_answers, add_history


class Sink:
    """What the local SMTP server received: (envelope recipients, parsed message), and who signed in."""

    def __init__(self):
        self.received = []
        self.logins = []
        self.arrived = threading.Event()
        self.hang_up_after = None  # a number of messages: the server goes away after taking so many

    async def handle_DATA(self, server, session, envelope):
        if self.hang_up_after is not None and len(self.received) >= self.hang_up_after:
            server.transport.close()
            return "421 Going away"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append((envelope.rcpt_tos, message))
        self.arrived.set()
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        # handled=False: the server itself answers 235 or 535.
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"hymy", b"s3cret"), handled=False)

    def to(self, address):
        return [message for rcpt, message in self.received if rcpt == [address]]


@pytest.fixture
def smtp(app):
    """An SMTP server on 127.0.0.1 that keeps what it receives; the app is set up to send through it."""
    sink = Sink()
    connections = []

    def connection():
        connections.append(SMTP(sink, authenticator=sink.authenticate, auth_require_tls=False))
        return connections[-1]

    # The loop runs in a thread of its own from the start: Playwright's browser fixture may hold
    # an event loop in the main thread already.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(loop.create_server(connection, "127.0.0.1", 0), loop).result(10)
    app.config.update(HYMY_SMTP_HOST="127.0.0.1", HYMY_SMTP_PORT=server.sockets[0].getsockname()[1],
                      HYMY_SMTP_SECURITY="none", HYMY_SMTP_USER="hymy", HYMY_SMTP_PASSWORD="s3cret",
                      HYMY_MAIL_FROM="Hymy <hymy@palaute.example.fi>")
    yield sink
    for delivery in [t for t in threading.enumerate() if t.name == "hymy-alert-delivery"]:
        delivery.join(10)

    async def shut_down():
        server.close()
        for smtp_connection in connections:
            if smtp_connection.transport is not None:
                smtp_connection.transport.close()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(shut_down(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


@pytest.fixture
def north(make_unit, make_user):
    """Area North's health centre (80 % positive for weeks, 40 % in week 40), its managers and directors."""
    unit = make_unit("Health centre", area="North")
    add_history(unit)
    add_answers(unit, MONDAY, positive=24, negative=30, neutral=6, reason="waiting_time", comment="Kiitos!")
    make_unit("Quiet clinic", area="South")
    people = {
        "unit manager": make_user("manager", [unit.code], "maija@example.org"),
        "area manager": make_user("manager", ["North"], "matti@example.org"),
        "director": make_user("director", ["North"], "dora@example.org"),
        "other director": make_user("director", ["South"], "sune@example.org"),
        "staff": make_user("staff", [unit.code], "sami@example.org"),
        "former manager": make_user("manager", [unit.code], "gone@example.org"),
    }
    people["former manager"].active = False
    db.session.commit()
    return unit, people


def eventually(check, timeout=5.0):
    """Wait until check() is true; return whether it became so."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def parts(message):
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def test_the_digests_go_to_the_units_managers_and_the_areas_directors(app, runner, smtp, north):
    app.config["HYMY_DEFAULT_LANG"] = "en"
    unit, _people = north
    result = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4"
    # South has no unit manager, but a director: the quiet clinic's area digest goes to her.
    assert sorted(rcpt for rcpt, _message in smtp.received) == [
        ["dora@example.org"], ["maija@example.org"], ["matti@example.org"], ["sune@example.org"]]
    assert smtp.logins == [(b"hymy", b"s3cret")]

    [manager_mail] = smtp.to("maija@example.org")
    assert manager_mail["Subject"] == f"Weekly digest {WEEK}: Health centre"
    assert manager_mail["From"] == "Hymy <hymy@palaute.example.fi>" and manager_mail["To"] == "maija@example.org"
    assert manager_mail["Content-Language"] == "en"
    text, html = parts(manager_mail)
    for body in (text, html):
        assert "60 answers" in body
        assert "40 % of answers were positive this week, down from 80 %." in body
        assert "Kiitos!" in body
        assert f"http://hymy.test/manage/units/{unit.code}/digest?week={WEEK}" in body
    assert "Positive: 40 %" in text

    [director_mail] = smtp.to("dora@example.org")
    assert director_mail["Subject"] == f"Weekly digest {WEEK}: North"
    assert f"/manage/areas/{unit.area.code}/digest?week={WEEK}" in parts(director_mail)[0]


def test_each_person_reads_the_digest_in_their_own_language(app, runner, smtp, north):
    app.config["HYMY_DEFAULT_LANG"] = "en"
    unit, people = north
    people["unit manager"].lang = "sv"  # Matti keeps the service's default
    db.session.commit()
    assert runner.invoke(args=["digest", "--send", "--unit", unit.code, "--week", WEEK]).exit_code == 0
    assert sorted(rcpt for rcpt, _message in smtp.received) == [["maija@example.org"], ["matti@example.org"]]
    [message] = smtp.to("maija@example.org")
    assert message["Subject"] == f"Veckosammandrag {WEEK}: Health centre"
    assert message["Content-Language"] == "sv"
    text, html = parts(message)
    assert "60 svar" in text and "60 svar" in html
    assert "Weekly digest" not in text + html
    [message] = smtp.to("matti@example.org")
    assert message["Subject"] == f"Weekly digest {WEEK}: Health centre" and "60 answers" in parts(message)[0]


def test_lang_sends_every_digest_in_one_language(app, runner, smtp, north):
    unit, people = north
    people["unit manager"].lang = "sv"
    db.session.commit()
    assert runner.invoke(args=["digest", "--send", "--unit", unit.code, "--week", WEEK, "--lang", "fi"]).exit_code == 0
    assert {message["Content-Language"] for _rcpt, message in smtp.received} == {"fi"}


def test_an_areas_digest_goes_to_its_directors_only(runner, smtp, north):
    unit, _people = north
    result = runner.invoke(args=["digest", "--send", "--area", "North", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert [rcpt for rcpt, _message in smtp.received] == [["dora@example.org"]]


def test_send_and_json_together_are_refused_before_anything_is_mailed(runner, smtp, north):
    result = runner.invoke(args=["digest", "--send", "--json", "--week", WEEK])
    assert result.exit_code == 2 and "--json only prints one" in result.output
    assert smtp.received == []


def test_sending_without_smtp_says_what_to_set(runner, north):
    result = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert result.exit_code != 0
    assert "HYMY_SMTP_HOST" in result.output and "HYMY_MAIL_FROM" in result.output


def test_the_weeks_digests_sent_again_go_to_nobody_twice_unless_asked_to(runner, smtp, north):
    assert runner.invoke(args=["digest", "--send", "--week", WEEK]).output.splitlines()[-1] == "4"
    second = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[-2:] == [f"4 had theirs for {WEEK} already (--again sends them again)", "0"]
    assert len(smtp.received) == 4
    again = runner.invoke(args=["digest", "--send", "--week", WEEK, "--again"])
    assert again.output.splitlines()[-1] == "4" and len(smtp.received) == 8
    # Another week's digests are other digests.
    assert runner.invoke(args=["digest", "--send", "--week", "2026-W39"]).output.splitlines()[-1] == "4"


def test_a_send_the_mail_server_stopped_halfway_goes_to_the_rest_alone_when_run_again(runner, smtp, north):
    smtp.hang_up_after = 2
    stopped = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert stopped.exit_code != 0 and "cannot send e-mail through 127.0.0.1" in stopped.output
    assert len(smtp.received) == 2
    smtp.hang_up_after = None
    rerun = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert rerun.exit_code == 0, rerun.output
    assert rerun.output.splitlines()[-2:] == [f"2 had theirs for {WEEK} already (--again sends them again)", "2"]
    assert sorted(rcpt for rcpt, _message in smtp.received) == [
        ["dora@example.org"], ["maija@example.org"], ["matti@example.org"], ["sune@example.org"]]


def test_the_record_of_digests_sent_goes_with_the_answers_of_its_time(runner, smtp, north):
    assert runner.invoke(args=["digest", "--send", "--week", WEEK]).output.splitlines()[-1] == "4"
    assert ops.purge(30, now=utcnow() + timedelta(days=29))["digests_sent"] == 0
    assert ops.purge(30, now=utcnow() + timedelta(days=31))["digests_sent"] == 4
    assert db.session.scalar(db.select(db.func.count()).select_from(DigestSent)) == 0


def test_again_without_send_is_refused(runner, north):
    unit, _people = north
    result = runner.invoke(args=["digest", "--unit", unit.code, "--week", WEEK, "--again"])
    assert result.exit_code == 2 and "--again goes with --send" in result.output


def test_a_refused_login_fails_the_command_clearly(app, runner, smtp, north):
    app.config["HYMY_SMTP_PASSWORD"] = "wrong"
    result = runner.invoke(args=["digest", "--send", "--week", WEEK])
    assert result.exit_code != 0 and "cannot send e-mail through 127.0.0.1" in result.output
    assert smtp.received == []


def test_a_new_alert_is_mailed_to_the_units_managers(app, client, smtp, make_unit, make_user):
    app.config["HYMY_DEFAULT_LANG"] = "fi"
    unit = make_unit("Vastaanotto")
    make_user("manager", [unit.code], "maija@example.org")
    make_user("staff", [unit.code], "sami@example.org")
    for score in (1, 1, 2, 1):
        answer = {"id": new_id(), "unit": unit.code, "score": score}
        assert client.post("/api/v1/responses", json=answer).status_code == 201
    assert smtp.arrived.wait(5)
    [(rcpt, message)] = smtp.received
    assert rcpt == ["maija@example.org"]
    assert message["Subject"] == "Hymy-hälytys: Vastaanotto"
    text, html = parts(message)
    sentence = "Vastaanotto: 4 vastausta 4 vastauksesta oli kielteisiä 15 minuutin aikana."
    assert sentence in text and sentence in html
    assert f"http://hymy.test/manage/units/{unit.code}" in text and f"http://hymy.test/manage/units/{unit.code}" in html


def test_an_alert_reaches_each_manager_in_their_language(app, client, smtp, make_unit, make_user):
    app.config["HYMY_DEFAULT_LANG"] = "fi"
    unit = make_unit("Vastaanotto")
    make_user("manager", [unit.code], "maija@example.org")
    make_user("manager", [unit.code], "mikael@example.org").lang = "sv"
    db.session.commit()
    for score in (1, 1, 2, 1):
        assert client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score}).status_code == 201
    assert eventually(lambda: len(smtp.received) == 2)
    assert smtp.to("maija@example.org")[0]["Content-Language"] == "fi"
    [swedish] = smtp.to("mikael@example.org")
    assert swedish["Content-Language"] == "sv" and "Hymy-hälytys" not in swedish["Subject"]


def test_a_dead_mail_server_is_logged_and_breaks_no_answer(app, client, make_unit, make_user, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config.update(HYMY_SMTP_HOST="127.0.0.1", HYMY_SMTP_PORT=port, HYMY_SMTP_SECURITY="none",
                      HYMY_MAIL_FROM="hymy@palaute.example.fi")
    unit = make_unit("Vastaanotto")
    make_user("manager", [unit.code], "maija@example.org")
    for score in (1, 1, 2, 1):
        assert client.post("/api/v1/responses", json={"id": new_id(), "unit": unit.code, "score": score}).status_code == 201
    with caplog.at_level(logging.WARNING, logger="server.mail"):
        mail.send_logged(mail.smtp_settings(), [])
    assert "e-mail in the background failed" in caplog.text


@pytest.mark.parametrize("env, variable", [
    ({"HYMY_SMTP_HOST": "mail.example.fi"}, "HYMY_MAIL_FROM"),
    ({"HYMY_SMTP_SECURITY": "ssl"}, "HYMY_SMTP_SECURITY"),
    ({"HYMY_SMTP_PORT": "smtp"}, "HYMY_SMTP_PORT"),
    ({"HYMY_SMTP_PORT": "70000"}, "HYMY_SMTP_PORT"),
    ({"HYMY_SMTP_USER": "hymy"}, "HYMY_SMTP_PASSWORD"),
    ({"HYMY_MAIL_FROM": "Hymy"}, "HYMY_MAIL_FROM"),
])
def test_a_bad_mail_setting_names_the_variable(tmp_path, env, variable):
    with pytest.raises(config.ConfigError, match=variable):
        config.from_environment(tmp_path, env)


def test_the_port_follows_the_security(tmp_path):
    def port(**env):
        return config.from_environment(tmp_path, env)["HYMY_SMTP_PORT"]

    assert (port(), port(HYMY_SMTP_SECURITY="tls"), port(HYMY_SMTP_SECURITY="none")) == (587, 465, 25)
    assert port(HYMY_SMTP_PORT="2525") == 2525
    assert config.from_environment(tmp_path, {})["HYMY_SMTP_HOST"] == ""


def test_only_active_people_of_the_right_role_and_scope_are_recipients(north):
    unit, people = north
    assert [user.email for user in mail.unit_managers(unit)] == ["maija@example.org", "matti@example.org"]
    assert [user.email for user in mail.area_directors(unit.area)] == ["dora@example.org"]
    assert db.session.get(User, people["staff"].id) not in mail.unit_managers(unit)
