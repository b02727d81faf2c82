"""The intake baseline: a 20-line Flask + sqlite3 insert endpoint with Hymy's durability settings."""

import sqlite3
import sys
import threading

from flask import Flask, request

app = Flask(__name__)
DB = sys.argv[1] if len(sys.argv) > 1 else "/tmp/baseline.sqlite3"
local = threading.local()


def conn():
    if not hasattr(local, "c"):
        local.c = sqlite3.connect(DB, timeout=10, isolation_level=None)
        local.c.execute("PRAGMA journal_mode=WAL")
        local.c.execute("PRAGMA synchronous=FULL")
    return local.c


@app.post("/api/v1/responses")
def post():
    body = request.get_json()
    conn().execute("INSERT OR IGNORE INTO r (id, unit, score) VALUES (?, ?, ?)", (body["id"], body["unit"], body["score"]))
    return {"id": body["id"], "status": "stored"}, 201


if __name__ == "__main__":
    import waitress

    sqlite3.connect(DB).execute("CREATE TABLE IF NOT EXISTS r (id TEXT PRIMARY KEY, unit TEXT, score INT)").connection.commit()
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), _quiet=True)
