"""Benchmarks: `make bench` (or `python -m tests.bench [intake|postgresql|dashboard|io|weight] ...`).

Each benchmark prints its figures and a ratio against a baseline measured in the same run, on
this machine, now: these machines are noisy, so figures from another day are not comparable.
Sizes: BENCH_REQUESTS (intake, default 3000, sent in BENCH_ROUNDS rounds, default 5, taking turns
with the baseline's), BENCH_ROWS (dashboard/io, default 1,000,000),
BENCH_UNITS (default 500). BENCH_DB=path keeps the dashboard's seeded database there and, when
it exists, measures it again without seeding (10 million answers take about 12 minutes to seed).
BENCH_PG_URL=postgresql+psycopg://user:password@host/name adds answer intake and the import on
PostgreSQL: the bench drops and creates the databases name, name_baseline, name_import and
name_import_baseline (the role needs CREATEDB).
"""

import csv
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 3000))
ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
UNITS = int(os.environ.get("BENCH_UNITS", 500))
# A database file the dashboard bench seeds once and keeps, to measure again without seeding anew.
SEEDED = os.environ.get("BENCH_DB")
CONCURRENCY = 16
# The intake bench loads the baseline and Hymy in turns, this many rounds each.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
THREADS = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def hymy(env, *args, stdin=None):
    result = subprocess.run([str(BIN / "hymy"), *args], env=env, input=stdin, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def hymy_env(db_path):
    return {**os.environ, "HYMY_ENV": "development", "HYMY_DATABASE_URL": f"sqlite:///{db_path}",
            "HYMY_BASE_URL": "http://127.0.0.1", "HYMY_REQUEST_LOG": "false"}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def load(ports, requests):
    """POST every (body, headers) with CONCURRENCY keep-alive clients; return (seconds, latencies, statuses).

    With several ports (app servers on one database), the clients spread over them, as a proxy's
    connections would.
    """
    latencies, statuses, lock = [], [], threading.Lock()
    queue = list(requests)

    def worker(port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                body, headers = queue.pop()
            start = time.perf_counter()
            conn.request("POST", "/api/v1/responses", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(CONCURRENCY)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, statuses


def take_turns(targets):
    """Load each target (ports, requests) a round at a time, in turns, for ROUNDS rounds; return each one's rounds.

    Taking turns, all meet the machine's slow and fast moments alike.
    """
    runs = {name: [] for name in targets}
    for r in range(ROUNDS):
        for name, (ports, requests) in targets.items():
            runs[name].append(load(ports, requests[r::ROUNDS]))
    return runs


def report_rounds(runs):
    """Print each server's rounds taken together; return its requests a second by name."""
    rates = {}
    for name, rounds in runs.items():
        seconds = sum(seconds for seconds, _latencies, _statuses in rounds)
        latencies = [latency for _seconds, run_latencies, _statuses in rounds for latency in run_latencies]
        statuses = [status for _seconds, _latencies, run_statuses in rounds for status in run_statuses]
        rates[name] = report_load(name, seconds, latencies, statuses)
    return rates


def report_load(name, seconds, latencies, statuses):
    rate = len(latencies) / seconds
    print(f"  {name:<16} {rate:8.0f} req/s   p50 {percentile(latencies, 50) * 1000:6.1f} ms"
          f"   p95 {percentile(latencies, 95) * 1000:6.1f} ms   p99 {percentile(latencies, 99) * 1000:6.1f} ms"
          f"   statuses {sorted(set(statuses))}")
    return rate


def bench_intake(workdir):
    print(f"\nAnswer intake: {REQUESTS} POSTs from {CONCURRENCY} kiosks, each of its own unit, waitress with"
          f" {THREADS} threads, in {ROUNDS} rounds taking turns with the baseline")
    json_headers = {"Content-Type": "application/json"}
    servers = []
    try:
        # Baseline: the 20-line endpoint, given answers of the same shape.
        base_db, base_port = workdir / "baseline.sqlite3", free_port()
        servers.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "baseline_app.py"), str(base_db),
                                         str(base_port), str(THREADS)], stderr=subprocess.DEVNULL))
        base_requests = [(json.dumps({"id": str(uuid.uuid4()), "unit": f"u{i % CONCURRENCY}", "score": 1 + i % 5}),
                          json_headers) for i in range(REQUESTS)]

        db_path, port = workdir / "hymy-intake.sqlite3", free_port()
        env = hymy_env(db_path)
        kiosks = add_kiosks(env)
        servers.append(serve_hymy(env, port))
        wait_for_port(base_port)
        wait_for_port(port)
        headers = enrol_kiosks(port, kiosks)
        hymy_requests = kiosk_answers(kiosks, headers)

        runs = take_turns({"baseline": ([base_port], base_requests), "hymy": ([port], hymy_requests)})
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    rates = report_rounds(runs)
    by_round = [(len(hymy_run[1]) / hymy_run[0]) / (len(base_run[1]) / base_run[0])
                for base_run, hymy_run in zip(runs["baseline"], runs["hymy"], strict=True)]
    stored_base = sqlite3.connect(base_db).execute("SELECT count(*) FROM r").fetchone()[0]
    stored = sqlite3.connect(db_path).execute("SELECT count(*) FROM response").fetchone()[0]
    print(f"  stored: baseline {stored_base}/{REQUESTS}, hymy {stored}/{REQUESTS} distinct ids"
          f" ({len(hymy_requests) - REQUESTS} replays answered 200)")
    ratio = rates["hymy"] / rates["baseline"]
    print(f"  ratio hymy/baseline: {ratio:.2f} (goal >= 0.6); by round {min(by_round):.2f}-{max(by_round):.2f}")
    return {"intake_ratio": ratio, "lost": REQUESTS - stored}


def add_kiosks(env):
    """Migrate the database; add CONCURRENCY units with a kiosk each; return [(unit code, enrolment code)]."""
    hymy(env, "db", "upgrade")
    kiosks = []
    for n in range(CONCURRENCY):
        code = hymy(env, "units", "add", f"Bench {n}", "--scale", "smiley5")
        kiosks.append((code, hymy(env, "devices", "add", code).split("enrol=")[1]))
    return kiosks


def serve_hymy(env, port):
    return subprocess.Popen([str(BIN / "hymy"), "serve", "--port", str(port), "--threads", str(THREADS)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def enrol_kiosks(port, kiosks):
    """Enrol each kiosk through the API; return the request headers that carry each one's token."""
    json_headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = []
    for _code, enrol_code in kiosks:
        conn.request("POST", "/api/v1/devices/enrol", body=json.dumps({"code": enrol_code}), headers=json_headers)
        token = json.loads(conn.getresponse().read())["token"]
        headers.append({**json_headers, "Authorization": f"Bearer {token}"})
    conn.close()
    return headers


def kiosk_answers(kiosks, headers, seed=1):
    """REQUESTS new answers, one kiosk per unit (kiosks are never rate-limited by address), and a tenth as many replays.

    The replays are of answers sent before, as an offline kiosk's queue sends them, shuffled in.
    """
    answers = [(json.dumps({"id": str(uuid.uuid4()), "unit": kiosks[i % CONCURRENCY][0], "score": 1 + i % 5}),
                headers[i % CONCURRENCY]) for i in range(REQUESTS)]
    answers += answers[: REQUESTS // 10]
    random.Random(seed).shuffle(answers)
    return answers


def pg_server_and_name(url):
    """Split BENCH_PG_URL into psycopg's address of the server (no database) and the database's name."""
    return url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)


def recreate_pg_databases(server_dsn, *names, drop_only=False):
    """Drop the PostgreSQL databases and, unless drop_only, create them empty."""
    import psycopg

    with psycopg.connect(f"{server_dsn}/postgres", autocommit=True) as admin:
        for database in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
            if not drop_only:
                admin.execute(f'CREATE DATABASE "{database}"')


def bench_postgresql(workdir):
    """Answer intake on PostgreSQL: one Hymy server and two on the same database, against a psycopg baseline."""
    url = os.environ.get("BENCH_PG_URL")
    if not url:
        print("\nPostgreSQL: skipped (set BENCH_PG_URL to a database the bench may drop and create again)")
        return
    import psycopg

    server_dsn, name = pg_server_and_name(url)
    dsn, base_dsn = f"{server_dsn}/{name}", f"{server_dsn}/{name}_baseline"
    print(f"\nPostgreSQL answer intake: {REQUESTS} POSTs (and a tenth as many replays) to one Hymy server, then"
          f" {REQUESTS} to two on the same database (each client keeps to one), {CONCURRENCY} clients, waitress with"
          f" {THREADS} threads a server, in {ROUNDS} rounds taking turns with the baseline")
    recreate_pg_databases(server_dsn, name, f"{name}_baseline")
    env = {**hymy_env(workdir / "unused.sqlite3"), "HYMY_DATABASE_URL": url}
    servers = []
    try:
        base_port, ports = free_port(), [free_port(), free_port()]
        servers.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "baseline_pg_app.py"), base_dsn,
                                         str(base_port), str(THREADS)], stderr=subprocess.DEVNULL))
        base_requests = [(json.dumps({"id": str(uuid.uuid4()), "unit": f"u{i % CONCURRENCY}", "score": 1 + i % 5}),
                          {"Content-Type": "application/json"}) for i in range(REQUESTS)]
        kiosks = add_kiosks(env)
        servers += [serve_hymy(env, port) for port in ports]
        for port in [base_port, *ports]:
            wait_for_port(port)
        headers = enrol_kiosks(ports[0], kiosks)
        one, two = kiosk_answers(kiosks, headers, seed=1), kiosk_answers(kiosks, headers, seed=2)
        runs = take_turns({"baseline": ([base_port], base_requests), "hymy, 1 server": (ports[:1], one),
                           "hymy, 2 servers": (ports, two)})
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    rates = report_rounds(runs)
    with psycopg.connect(base_dsn) as base, psycopg.connect(dsn) as hymy_db:
        stored_base = base.execute("SELECT count(*) FROM r").fetchone()[0]
        stored, distinct = hymy_db.execute("SELECT count(*), count(DISTINCT id) FROM response").fetchone()
    recreate_pg_databases(server_dsn, name, f"{name}_baseline", drop_only=True)
    print(f"  stored: baseline {stored_base}/{REQUESTS}, hymy {stored} rows of {distinct} distinct ids/{2 * REQUESTS}"
          f" ({2 * (REQUESTS // 10)} replays)")
    print(f"  ratio hymy (1 server)/baseline: {rates['hymy, 1 server'] / rates['baseline']:.2f};"
          f" 2 servers/1 server: {rates['hymy, 2 servers'] / rates['hymy, 1 server']:.2f}")


# The process's own peak (VmHWM, in KiB), not ru_maxrss: Linux carries ru_maxrss over from the
# parent that started the process, and this benchmark's process holds hundreds of MB by then.
PEAK_MEMORY_WRAPPER = """
import sys
from server.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")), file=sys.stderr)
"""


def seed_rows(db_path, rows, units, tz_days=60):
    """Fill a migrated Hymy database with units and answers, straight through sqlite3.

    The answers' secondary indexes are dropped while the rows go in and built again from the
    schema's own statements afterwards: the same database, made in minutes at 10 million rows.
    """
    import sqlalchemy

    from server import rollup

    env = hymy_env(db_path)
    hymy(env, "db", "upgrade")
    db = sqlite3.connect(db_path)
    # Only the seeding runs unsafely fast; Hymy's connections set WAL and synchronous=FULL again.
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'response'"
                         " AND sql IS NOT NULL").fetchall()
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    # The weekly rollup's triggers likewise: the rollup is counted once at the end instead.
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'response'"
                          ).fetchall()
    for name, _sql in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    now = datetime.now(timezone.utc)
    db.execute("INSERT INTO area (code, name, created_at) VALUES ('benchArea1', 'Bench area 1', ?)", (now.replace(tzinfo=None),))
    db.execute("INSERT INTO area (code, name, created_at) VALUES ('benchArea2', 'Bench area 2', ?)", (now.replace(tzinfo=None),))
    for n in range(units):
        db.execute(
            "INSERT INTO unit (code, area_id, names, questions, scale, default_lang, reasons_positive, reasons_negative,"
            " reason_labels, repeat_window_s, segment_questions, created_at) VALUES (?, ?, ?, '{}', 'smiley5', 'fi',"
            " '[\"staff_attitude\"]', '[\"waiting_time\"]', '{}', 5, '[]', ?)",
            (f"bench{n:05d}", 1 + n % 2, json.dumps({"fi": f"Yksikkö {n}"}), now.replace(tzinfo=None)),
        )
    rng = random.Random(7)
    reasons = [None, None, "waiting_time", "staff_attitude", "other"]
    start = time.perf_counter()
    batch = []
    for i in range(rows):
        at = now - timedelta(seconds=rng.randint(0, tz_days * 86400))
        batch.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), 1 + i % units, "kiosk", rng.randint(1, 5),
                      "smiley5", rng.choice(reasons), None, "fi", at.replace(tzinfo=None), at.replace(tzinfo=None), ""))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO response (id, unit_id, channel, score, scale, reason, comment, lang, answered_at,"
                           " received_at, flags) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        db.executemany("INSERT INTO response (id, unit_id, channel, score, scale, reason, comment, lang, answered_at,"
                       " received_at, flags) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    db.commit()
    for _name, sql in indexes + triggers:
        db.execute(sql)
    db.commit()
    db.close()
    engine = sqlalchemy.create_engine(f"sqlite:///{db_path}")
    with engine.begin() as connection:
        rollup.rebuild(connection, "Europe/Helsinki")
    engine.dispose()
    db = sqlite3.connect(db_path)
    db.execute("ANALYZE")
    db.commit()
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    print(f"  seeded {rows:,} answers over {units} units in {time.perf_counter() - start:.0f} s")


def timed(fn, repeat=5):
    """Return the median wall-clock and CPU seconds of fn (CPU time is what other jobs on the machine disturb least)."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu)


def bench_dashboard(workdir):
    global ROWS
    db_path = Path(SEEDED) if SEEDED else workdir / "hymy-big.sqlite3"
    if db_path.exists():
        # The rates below are of the answers the database holds, whatever BENCH_ROWS says.
        seeded = sqlite3.connect(db_path)
        ROWS = seeded.execute("SELECT count(*) FROM response").fetchone()[0]
        seeded.close()
    print(f"\nDashboard and area view: {ROWS:,} answers over {UNITS} units")
    if db_path.exists():
        print(f"  the answers seeded before in {db_path}")
        hymy(hymy_env(db_path), "db", "upgrade")
    else:
        seed_rows(db_path, ROWS, UNITS)
    os.environ.update(hymy_env(db_path))
    from server import create_app
    from server.models import User, db

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        from server import org

        if not db.session.execute(db.select(User)).first():
            org.add_user("bench@example.org", "admin", "bench-password-1")
    client = app.test_client()
    client.post("/login", data={"email": "bench@example.org", "password": "bench-password-1"})
    raw = sqlite3.connect(db_path)
    # Baseline: the same three windows counted with one plain indexed sqlite3 query each.
    since = (datetime.now(timezone.utc) - timedelta(days=7)).replace(tzinfo=None)

    def baseline():
        for _ in range(3):
            raw.execute("SELECT score, count(*) FROM response WHERE unit_id = 1 AND answered_at >= ? AND flags = ''"
                        " GROUP BY score", (since,)).fetchall()

    # Area baseline: the counting the change detector needs (the area's answers of the last nine
    # local weeks per unit, week, scale, score and reason) as one plain grouped sqlite3 query.
    zone = ZoneInfo("Europe/Helsinki")
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())
    bounds = [datetime.combine(monday - timedelta(weeks=9 - i), datetime.min.time(), zone)
              .astimezone(timezone.utc).replace(tzinfo=None) for i in range(10)]
    week = "CASE " + " ".join(f"WHEN answered_at < ? THEN {i}" for i in range(8)) + " ELSE 8 END"

    def area_baseline():
        raw.execute(f"SELECT unit_id, {week} AS week, scale, score, reason, count(*) FROM response"
                    " WHERE unit_id IN (SELECT id FROM unit WHERE area_id = 1) AND score IS NOT NULL AND flags = ''"
                    " AND answered_at >= ? AND answered_at < ? GROUP BY unit_id, week, scale, score, reason",
                    (*bounds[1:-1], bounds[0], bounds[-1])).fetchall()

    figures = {}
    base = timed(baseline)
    area_base = timed(area_baseline)
    pages = [("unit dashboard", "/manage/units/bench00000"), ("area view (250 units)", "/manage/areas/benchArea1"),
             ("home, all 500 units", "/manage/"), ("unit digest page", "/manage/units/bench00000/digest")]
    for name, path in pages:
        def fetch(path=path):
            assert client.get(path).status_code == 200

        figures[name] = timed(fetch)
        print(f"  {name:<24} {figures[name][0] * 1000:8.1f} ms, CPU {figures[name][1] * 1000:7.1f} ms (medians of 5)")
    print(f"  baseline: three plain indexed sqlite3 counts {base[0] * 1000:.1f} ms;"
          f" unit dashboard / baseline {figures['unit dashboard'][0] / base[0]:.1f}x")
    print(f"  area baseline: the detector's nine weeks grouped in one plain sqlite3 query {area_base[0] * 1000:.1f} ms"
          f" (CPU {area_base[1] * 1000:.1f} ms); area view / baseline {figures['area view (250 units)'][0] / area_base[0]:.1f}x")
    print("  goals: unit dashboard < 150 ms, area view < 1000 ms")
    if ROWS >= 1_000_000:
        print(f"  ({ROWS:,} answers: {ROWS // UNITS:,} per unit over 60 days)")
    return db_path


def run_hymy_measured(env, *args):
    """Run a hymy command in a process of its own; return (seconds, its last output line, its peak memory in MB)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY_WRAPPER, *args], env=env, check=True, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return seconds, last, int(done.stderr.strip().splitlines()[-1]) / 1024


def bench_io(workdir, db_path):
    print(f"\nExport and import ({ROWS:,} rows)")
    env = hymy_env(db_path)
    out = workdir / "export.csv"
    # Each command runs in a process of its own that reports its own peak memory when it ends. The
    # same command over no rows, run just before, measures the fixed cost of starting Hymy (Python,
    # imports, app): the rates are given with and without it, as the baselines run in this process.
    start_s, _, _ = run_hymy_measured(env, "export", "responses", "--from", "2999-01-01", "-o", str(workdir / "none.csv"))
    export_s, _, peak_mb = run_hymy_measured(env, "export", "responses", "-o", str(out))
    # Baseline: the same rows written by sqlite3 + csv.writer, no checks, no neutralising.
    start = time.perf_counter()
    with open(workdir / "baseline.csv", "w", newline="") as f:
        writer = csv.writer(f)
        for row in sqlite3.connect(db_path).execute("SELECT * FROM response ORDER BY answered_at, id"):
            writer.writerow(row)
    base_export_s = time.perf_counter() - start
    print(f"  export  {ROWS / export_s:10,.0f} rows/s, {ROWS / (export_s - start_s):,.0f} rows/s less the start-up"
          f" ({start_s:.1f} s); peak memory {peak_mb:.0f} MB")
    print(f"          baseline {ROWS / base_export_s:,.0f} rows/s; ratio {base_export_s / export_s:.2f},"
          f" less the start-up {base_export_s / (export_s - start_s):.2f} (goals: >= 100,000 rows/s, < 150 MB)")

    target = workdir / "hymy-import.sqlite3"
    target_env = hymy_env(target)
    seed_rows(target, 0, UNITS)
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    empty = workdir / "header-only.csv"
    empty.write_text(",".join(header) + "\r\n")
    start_s, _, _ = run_hymy_measured(target_env, "import", str(empty))
    shutil.copy(target, workdir / "schema-only.sqlite3")
    import_s, stored, _ = run_hymy_measured(target_env, "import", str(out))
    # Baseline 1: the CSV into a table with a primary key alone, by sqlite3 executemany, no checks.
    base_db = sqlite3.connect(workdir / "baseline-import.sqlite3")
    base_db.execute(f"CREATE TABLE r (id TEXT PRIMARY KEY, {', '.join(f'c{i} TEXT' for i in range(1, len(header)))})")
    start = time.perf_counter()
    with open(out, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        base_db.executemany(f"INSERT INTO r VALUES ({', '.join('?' * len(header))})", reader)
    base_db.commit()
    base_import_s = time.perf_counter() - start
    # Baseline 2: the same into Hymy's own response table (its indexes, WAL, synchronous=FULL), no checks.
    schema_db = sqlite3.connect(workdir / "schema-only.sqlite3", isolation_level=None)
    schema_db.execute("PRAGMA journal_mode=WAL")
    schema_db.execute("PRAGMA synchronous=FULL")
    columns = "id, unit_id, channel, score, scale, reason, comment, segment, lang, answered_at, received_at, flags, kind"
    start = time.perf_counter()
    schema_db.execute("BEGIN IMMEDIATE")
    with open(out, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        schema_db.executemany(
            f"INSERT INTO response ({columns}) VALUES ({', '.join('?' * 13)})",
            # Unit codes are bench00000...: ids in the same order; times in the text form SQLAlchemy stores (but for whole seconds, which this data never has).
            ((r[0], int(r[1][5:]) + 1, r[2], r[3], r[4], r[5] or None, r[6] or None, None, r[8],
              r[9][:-1].replace("T", " "), r[9][:-1].replace("T", " "), r[10], r[11] or None) for r in reader),
        )
    schema_db.execute("COMMIT")
    schema_import_s = time.perf_counter() - start
    print(f"  import  {int(stored) / import_s:10,.0f} rows/s, {int(stored) / (import_s - start_s):,.0f} rows/s less the"
          f" start-up ({start_s:.1f} s); {stored} stored")
    print(f"          baseline {ROWS / base_import_s:,.0f} rows/s; ratio {base_import_s / import_s:.2f},"
          f" less the start-up {base_import_s / (import_s - start_s):.2f} (goal >= 50,000 rows/s)")
    print(f"          raw executemany into Hymy's own table and indexes: {ROWS / schema_import_s:,.0f} rows/s")
    bench_postgresql_import(out, empty, header)


def bench_postgresql_import(path, empty, header):
    """The same file imported on PostgreSQL (BENCH_PG_URL), against COPY of it into a table with a primary key alone."""
    url = os.environ.get("BENCH_PG_URL")
    if not url:
        return
    import psycopg

    server_dsn, name = pg_server_and_name(url)
    hymy_name, base_name = f"{name}_import", f"{name}_import_baseline"
    recreate_pg_databases(server_dsn, hymy_name, base_name)
    env = {**hymy_env(path.parent / "unused.sqlite3"), "HYMY_DATABASE_URL": f"{url.rsplit('/', 1)[0]}/{hymy_name}"}
    hymy(env, "db", "upgrade")
    with psycopg.connect(f"{server_dsn}/{hymy_name}", autocommit=True) as hymy_db:
        hymy_db.cursor().executemany(
            "INSERT INTO unit (code, names, questions, scale, default_lang, reasons_positive, reasons_negative,"
            " reason_labels, repeat_window_s, segment_questions, created_at) VALUES (%s, %s, '{}', 'smiley5', 'fi',"
            " '[\"staff_attitude\"]', '[\"waiting_time\"]', '{}', 5, '[]', now())",
            [(f"bench{n:05d}", json.dumps({"fi": f"Yksikkö {n}"})) for n in range(UNITS)])
    start_s, _, _ = run_hymy_measured(env, "import", str(empty))
    import_s, stored, _ = run_hymy_measured(env, "import", str(path))
    with psycopg.connect(f"{server_dsn}/{base_name}") as base:
        base.execute(f"CREATE TABLE r (id text PRIMARY KEY, {', '.join(f'c{i} text' for i in range(1, len(header)))})")
        start = time.perf_counter()
        with open(path, "rb") as file, base.cursor().copy("COPY r FROM STDIN (FORMAT csv, HEADER)") as copy:
            while data := file.read(1 << 20):
                copy.write(data)
        base.commit()
        base_s = time.perf_counter() - start
    recreate_pg_databases(server_dsn, hymy_name, base_name, drop_only=True)
    print(f"  import on PostgreSQL {int(stored) / import_s:,.0f} rows/s, {int(stored) / (import_s - start_s):,.0f}"
          f" rows/s less the start-up ({start_s:.1f} s); {stored} stored")
    print(f"          baseline: COPY of the file into a table with a primary key alone, {ROWS / base_s:,.0f} rows/s;"
          f" ratio {base_s / import_s:.2f}")


def bench_weight(workdir):
    """Every byte a tablet loads for the kiosk page, and every host it asks."""
    print("\nKiosk page weight")
    db_path, port = workdir / "hymy-weight.sqlite3", free_port()
    env = hymy_env(db_path)
    hymy(env, "db", "upgrade")
    code = hymy(env, "units", "add", "Paino")
    server = subprocess.Popen([str(BIN / "hymy"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-background-networking"])
            page = browser.new_page()
            seen = []
            page.on("requestfinished", lambda r: seen.append((r.url, len(r.response().body()) if r.response() else 0)))
            page.goto(f"http://127.0.0.1:{port}/k/{code}")
            page.wait_for_load_state("networkidle")
            browser.close()
    finally:
        server.terminate()
        server.wait()
    total = sum(size for _, size in seen)
    hosts = {u.split("/")[2] for u, _ in seen}
    for url, size in seen:
        print(f"  {size:8,d} B  {url.split(str(port))[-1]}")
    print(f"  total {total / 1024:.1f} KB in {len(seen)} requests, hosts {sorted(hosts)} (goal < 100 KB, only this host)")


def main(argv):
    chosen = set(argv) or {"intake", "postgresql", "dashboard", "io", "weight"}
    print(f"Hymy benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory(prefix="hymy-bench-") as tmp:
        workdir = Path(tmp)
        if "intake" in chosen:
            bench_intake(workdir)
        if "postgresql" in chosen:
            bench_postgresql(workdir)
        if "weight" in chosen:
            bench_weight(workdir)
        if chosen & {"dashboard", "io"}:
            db_path = bench_dashboard(workdir)
            if "io" in chosen:
                bench_io(workdir, db_path)


if __name__ == "__main__":
    main(sys.argv[1:])
