"""SQLite as a durable server database: WAL, synchronous=FULL, a busy timeout, write locks up front.

Like pysqlite's own legacy mode, reads run outside a transaction (each sees the latest commit)
and a transaction begins at the first statement that writes. Unlike it, that transaction begins
with BEGIN IMMEDIATE: it takes the write lock at once, waiting its turn through the busy
timeout, instead of starting as a reader that later fails with "database is locked".
"""

import sqlite3

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


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
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "before_cursor_execute")
def _begin_before_writes(conn, cursor, statement, parameters, context, executemany):
    if conn.dialect.name != "sqlite":
        return
    dbapi_connection = conn.connection.dbapi_connection
    if not dbapi_connection.in_transaction and statement.lstrip()[:7].upper().startswith(WRITES):
        cursor.execute("BEGIN IMMEDIATE")
