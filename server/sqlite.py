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
database work most of the time, runs as a Prepared statement: compiled once, straight on a
connection the thread keeps for it; so do the alert check's count that follows a negative answer
and the read of a replayed answer's stored content.
"""

import sqlite3
import threading
import weakref
from collections import namedtuple

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
# Execution option: this statement is the whole write; commit it at once (see above).
SINGLE_STATEMENT = {"hymy_single_statement": True}
_write_locks = {}
_write_locks_guard = threading.Lock()


class Prepared:
    """A Core statement compiled once and run straight on a SQLite connection of the thread's own.

    For the statements every answer runs (the insert; the alert check's count after a negative
    one; the read of a replay's stored content): through a session, SQLAlchemy's work around a
    statement (execution context, session transaction, result) cost twice what SQLite took to
    run it. The values still go through each type's own bind processor, so a row is stored
    exactly as a Core insert would store it; rows() gives rows as the driver does (a time as its
    stored text), first() as a Core read would. Compiled per set of keys.

    Each thread keeps one connection for these statements, taken from the engine's pool once
    (set up by _on_connect below) and detached from it: a pool checkout and check-in for every
    statement cost as much Python as the statement's own binds. These statements never leave a
    transaction open, so the connection is always idle between them. It closes with its thread,
    or when the engine's pool is disposed and gone.
    """

    def __init__(self, statement):
        self.statement = statement
        self.compiled = {}
        self.typed = None  # first()'s row type and result processors, made at its first use

    def _compile(self, dialect, keys):
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        binds = tuple((name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                      for name in compiled.positiontup)
        # The statement's own values (flags == ''), as construct_params() would add them.
        literals = {name: compiled.binds[name].effective_value for name in compiled.positiontup if name not in keys}
        return compiled.string, binds, literals

    def _execute(self, connection, dialect, values):
        keys = tuple(values)
        if keys not in self.compiled:
            self.compiled[keys] = self._compile(dialect, keys)
        sql, binds, literals = self.compiled[keys]
        if literals:
            values = {**literals, **values}
        cursor = connection.cursor()
        cursor.execute(sql, [values[name] if process is None else process(values[name]) for name, process in binds])
        return cursor

    def run(self, engine, values):
        """Execute with the values as a transaction of its own (no BEGIN: the driver autocommits); return the row count."""
        return self._execute(_thread_connection(engine), engine.dialect, values).rowcount

    def rows(self, engine, values):
        """Run a query with the values; return its rows as the driver gives them."""
        return self._execute(_thread_connection(engine), engine.dialect, values).fetchall()

    def first(self, engine, values):
        """Run a query with the values; return its first row typed as a Core read would type it, or None.

        Each value goes through its column type's result processor (a time becomes an aware
        datetime, JSON a dict), and the row's fields are named by the columns' keys.
        """
        # Every row fetched, so that no statement stays open on the connection holding a read
        # snapshot (which would keep SQLite from checkpointing its log past it).
        rows = self._execute(_thread_connection(engine), engine.dialect, values).fetchall()
        if not rows:
            return None
        if self.typed is None:
            columns = self.statement.selected_columns
            processors = tuple(column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
                               for column in columns)
            self.typed = (namedtuple("Row", [column.key for column in columns]), processors)
        row_type, processors = self.typed
        return row_type(*(value if process is None else process(value)
                          for value, process in zip(rows[0], processors, strict=True)))


_threads = threading.local()


def _thread_connection(engine):
    """Return this thread's own connection to the engine's database, for Prepared statements."""
    # Keyed weakly by pool: a disposed engine's old pool, once gone, takes its connections along.
    connections = _threads.__dict__.setdefault("connections", weakref.WeakKeyDictionary())
    connection = connections.get(engine.pool)
    if connection is None:
        pooled = engine.raw_connection()
        pooled.detach()  # the pool's size now counts only the connections it lends
        connection = connections[engine.pool] = pooled.dbapi_connection
    elif connection.in_transaction:  # never, unless a statement here failed in a way SQLite does not undo
        connection.rollback()
    return connection


def session_idle(session):
    """Tell whether a scoped session has begun no transaction here (without making one to ask)."""
    return not (session.registry.has() and session().in_transaction())


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
