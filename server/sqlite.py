"""SQLite as a durable server database: WAL, synchronous=FULL, a busy timeout, write locks up front.

Like pysqlite's own legacy mode, reads run outside a transaction (each sees the latest commit)
and a transaction begins at the first statement that writes. Unlike it, that transaction begins
with BEGIN IMMEDIATE: it takes the write lock at once, waiting its turn through the busy
timeout, instead of starting as a reader that later fails with "database is locked".

Writers of one process also queue on a lock of their own before BEGIN IMMEDIATE: SQLite's busy
handler polls with growing sleeps (up to 100 ms), so eight waitress threads contending for the
write lock would mostly sleep; a Python lock hands the turn over the moment it is free. Other
processes on the same file still meet SQLite's own lock and busy timeout.

One write is exempt: a statement executed with the option SINGLE_STATEMENT when no transaction
is open (the answer insert, most of the time) is a transaction by itself. SQLite takes and drops
the write lock inside that one call, waiting through the busy timeout if it must. Holding the
Python lock instead, a thread would give up and wait for the GIL at BEGIN, at the statement and
at COMMIT while every other writer waited for it: with eight waitress threads, answer intake
doubled without that lock (180 to 370 answers a second, p99 from 300 to under 110 ms).

Such a single statement must not return rows: SQLite commits a statement with RETURNING only
when its last row has been fetched, and fetching needs the GIL, so the write lock was held while
the thread waited for another one's Python code. A kiosk's answer insert, its request's only
database work most of the time, runs as a prepared statement (server/prepared.py): compiled
once, straight on a connection the thread keeps for it, in autocommit.
"""

import sqlite3
import threading

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
# Execution option: this statement is the whole write; commit it at once (see above).
SINGLE_STATEMENT = {"hymy_single_statement": True}
_write_locks = {}
_write_locks_guard = threading.Lock()


def _write_lock(database):
    with _write_locks_guard:
        return _write_locks.setdefault(database, threading.Lock())


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    timeout = current_app.config["HYMY_SQLITE_BUSY_TIMEOUT_MS"] if has_app_context() else 10000
    # The driver no longer begins transactions by itself; _begin_before_writes below does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")
    connection_record.info["hymy_busy_timeout_s"] = timeout / 1000
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "before_cursor_execute")
def _begin_before_writes(conn, cursor, statement, parameters, context, executemany):
    if conn.dialect.name != "sqlite":
        return
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection.in_transaction or not statement.lstrip()[:7].upper().startswith(WRITES):
        return
    if context.execution_options.get("hymy_single_statement"):
        return  # no BEGIN: the driver, in autocommit, makes the statement its own transaction
    info = conn.connection.info
    if "hymy_write_lock" not in info:
        lock = _write_lock(conn.engine.url.database)
        if not lock.acquire(timeout=info.get("hymy_busy_timeout_s", 10)):
            raise sqlite3.OperationalError("database is locked (waited for another writer of this process)")
        info["hymy_write_lock"] = lock
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except BaseException:
        info.pop("hymy_write_lock").release()
        raise


def _release_write_lock(dbapi_connection, connection_record=None, *args):
    if connection_record is None:
        return
    lock = connection_record.info.pop("hymy_write_lock", None)
    if lock is not None:
        lock.release()


# A connection goes back to the pool after its commit or rollback: the next writer's turn.
for _name in ("checkin", "close", "invalidate", "detach"):
    event.listen(Pool, _name, _release_write_lock)
