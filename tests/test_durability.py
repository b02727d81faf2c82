"""Nothing lost, nothing double: a killed server keeps every acknowledged answer; writers wait their turn."""

import json
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import text

from server import interchange, org, reports
from server.models import Response, db
from tests.conftest import HYMY, command_env

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app, port):
    process = subprocess.Popen([HYMY, "serve", "--port", str(port), "--threads", "4"], env=command_env(app),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start")


def post(port, body, token):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/responses", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def kiosk(app, make_unit, client):
    unit = make_unit("Päivystys", repeat_window_s=0)
    _device, link = org.add_device(unit)
    token = client.post("/api/v1/devices/enrol", json={"code": link.split("enrol=")[1]}).get_json()["token"]
    return unit.code, token


def stored_ids():
    db.session.rollback()
    return set(db.session.execute(db.select(Response.id)).scalars())


def test_every_acknowledged_answer_survives_a_killed_server(app, kiosk):
    code, token = kiosk
    acknowledged, errors, lock = set(), [], threading.Lock()
    for _round in range(3):
        port = free_port()
        server = start_server(app, port)
        stop = threading.Event()

        def sender(port=port, stop=stop):
            while not stop.is_set():
                answer_id = str(uuid.uuid4())
                try:
                    status = post(port, {"id": answer_id, "unit": code, "score": 3}, token)
                except OSError:
                    continue  # the server died mid-request: not acknowledged, the kiosk would retry
                with lock:
                    if status in (200, 201):
                        acknowledged.add(answer_id)
                    else:
                        errors.append(status)

        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        # Kill mid-load: once this round has had some answers acknowledged, however slow the machine.
        target, deadline = len(acknowledged) + 30, time.monotonic() + 30
        while len(acknowledged) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        for t in threads:
            t.join()
    assert len(acknowledged) >= 90, "the load did not get going"
    assert errors == []
    assert acknowledged <= stored_ids()
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_replays_from_many_threads_store_each_answer_once(app, kiosk):
    code, token = kiosk
    port = free_port()
    server = start_server(app, port)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    statuses = []
    try:
        def replay(offset):
            for i in range(len(ids)):
                answer_id = ids[(i + offset) % len(ids)]
                statuses.append(post(port, {"id": answer_id, "unit": code, "score": 1 + len(answer_id) % 5}, token))

        threads = [threading.Thread(target=replay, args=(n * 7,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.kill()
        server.wait()
    assert sorted(set(statuses)) == [200, 201]
    assert statuses.count(201) == len(ids)
    assert stored_ids() == set(ids)


def test_answers_keep_arriving_while_a_large_export_streams(app, kiosk):
    code, token = kiosk
    unit = org.find_unit(code)
    db.session.execute(db.insert(Response), [
        {"id": str(uuid.uuid4()), "unit_id": unit.id, "channel": "import", "score": 4, "scale": "smiley5",
         "answered_at": time_ago(i), "received_at": time_ago(0), "flags": ""}
        for i in range(20000)
    ])
    db.session.commit()
    port = free_port()
    server = start_server(app, port)
    statuses, exported = [], []
    try:
        def export():
            with app.app_context():
                query = reports.answers_query([org.find_unit(code)], include_flagged=True)
                for row in interchange.response_rows(query):
                    exported.append(row[0])
                    if len(exported) % 2000 == 0:
                        time.sleep(0.05)  # a slow reader holds its snapshot open

        reader = threading.Thread(target=export)
        reader.start()
        while reader.is_alive() or len(statuses) < 50:
            statuses.append(post(port, {"id": str(uuid.uuid4()), "unit": code, "score": 5}, token))
        reader.join()
    finally:
        server.kill()
        server.wait()
    assert len(exported) >= 20000
    assert set(statuses) == {201}


def time_ago(seconds):
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) - timedelta(seconds=seconds)
