"""The PostgreSQL intake baseline: a 20-line Flask + psycopg insert endpoint, each answer committed."""

import sys
import threading

import psycopg
from flask import Flask, request

app = Flask(__name__)
DSN = sys.argv[1]  # postgresql://user:password@host:port/database
local = threading.local()


def conn():
    if not hasattr(local, "c"):
        local.c = psycopg.connect(DSN, autocommit=True)
    return local.c


@app.post("/api/v1/responses")
def post():
    body = request.get_json()
    conn().execute("INSERT INTO r (id, unit, score) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                   (body["id"], body["unit"], body["score"]))
    return {"id": body["id"], "status": "stored"}, 201


if __name__ == "__main__":
    import waitress

    with psycopg.connect(DSN, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS r (id TEXT PRIMARY KEY, unit TEXT, score INT)")
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), _quiet=True)
