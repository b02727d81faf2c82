"""Statements every answer runs, compiled once and run on a connection each thread keeps, in autocommit.

For the statements every answer runs (the insert; the alert check's count after a negative one;
the read of a replay's stored content): through a session, SQLAlchemy's work around a statement
(execution context, session transaction, result) cost twice what SQLite took to run it, and on
PostgreSQL the session's pool added round trips of its own to every request (the pool's ping at
checkout, the transaction's BEGIN and COMMIT): nine waits on the server an answer, where the
statement alone takes one. The values still go through each type's own bind processor, so a row
is stored exactly as a Core insert would store it; rows() gives rows as the driver does (a time
as SQLite's stored text), first() as a Core read would. Compiled per set of keys.

Each thread keeps one connection for these statements, taken from the engine's pool once and
detached from it: a pool checkout and check-in for every statement cost as much Python as the
statement's own binds. Each statement is a transaction by itself (SQLite's driver in autocommit,
as server/sqlite.py sets it; psycopg's autocommit on PostgreSQL): the connection is always idle
between them, and a statement has committed when run() returns. It closes with its thread, or
when the engine's pool is disposed and gone. A connection the database server dropped (a
restart) is replaced, and the statement run again on the new one: these statements are safe to
repeat (a stored id makes the insert store nothing).
"""

import threading
import weakref
from collections import namedtuple


class Prepared:
    """A Core statement compiled once and run straight on a connection of the thread's own (see above)."""

    def __init__(self, statement):
        self.statement = statement
        self.compiled = {}
        self.typed = None  # first()'s row type and result processors, made at its first use

    def _compile(self, dialect, keys):
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        # SQLite's driver takes a list in the order of the marks; psycopg a dict by name.
        names = compiled.positiontup if compiled.positional else tuple(compiled.binds)
        binds = tuple((name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names)
        # The statement's own values (flags == ''), as construct_params() would add them.
        literals = {name: compiled.binds[name].effective_value for name in names if name not in keys}
        return compiled.string, compiled.positional, binds, literals

    def _execute(self, engine, values):
        keys = tuple(values)
        if keys not in self.compiled:
            self.compiled[keys] = self._compile(engine.dialect, keys)
        sql, positional, binds, literals = self.compiled[keys]
        if literals:
            values = {**literals, **values}
        if positional:
            parameters = [values[name] if process is None else process(values[name]) for name, process in binds]
        else:
            parameters = {name: values[name] if process is None else process(values[name]) for name, process in binds}
        connection = _thread_connection(engine)
        try:
            return _run(connection, sql, parameters)
        except engine.dialect.loaded_dbapi.OperationalError:
            if not getattr(connection, "broken", False):  # psycopg: the server dropped the connection
                raise
            _forget_thread_connection(engine)
            return _run(_thread_connection(engine), sql, parameters)

    def run(self, engine, values):
        """Execute with the values as a transaction of its own; return the row count (1: a row was written)."""
        return self._execute(engine, values).rowcount

    def rows(self, engine, values):
        """Run a query with the values; return its rows as the driver gives them."""
        return self._execute(engine, values).fetchall()

    def first(self, engine, values):
        """Run a query with the values; return its first row typed as a Core read would type it, or None.

        Each value goes through its column type's result processor (a time becomes an aware
        datetime, JSON a dict), and the row's fields are named by the columns' keys.
        """
        # Every row fetched, so that no statement stays open on the connection holding a read
        # snapshot (which would keep SQLite from checkpointing its log past it).
        rows = self._execute(engine, values).fetchall()
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


def _run(connection, sql, parameters):
    cursor = connection.cursor()
    cursor.execute(sql, parameters)
    return cursor


_threads = threading.local()


def _connections():
    # Keyed weakly by pool: a disposed engine's old pool, once gone, takes its connections along.
    return _threads.__dict__.setdefault("connections", weakref.WeakKeyDictionary())


class _Held:
    """A thread's connection, closed when its thread ends or its pool is gone (psycopg warns of one left open)."""

    def __init__(self, connection):
        self.connection = connection

    def __del__(self):
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001, S110 - a dropped connection may fail to close; it is gone either way
            pass


def _thread_connection(engine):
    """Return this thread's own connection to the engine's database, in autocommit, for Prepared statements."""
    connections = _connections()
    held = connections.get(engine.pool)
    if held is None:
        pooled = engine.raw_connection()
        pooled.detach()  # the pool's size now counts only the connections it lends
        connection = pooled.dbapi_connection
        if engine.dialect.name == "postgresql":
            connection.rollback()  # idle, should the pool's first connect have begun a transaction
            connection.autocommit = True
        connections[engine.pool] = _Held(connection)
        return connection
    if engine.dialect.name == "sqlite" and held.connection.in_transaction:
        held.connection.rollback()  # never, unless a statement here failed in a way SQLite does not undo
    return held.connection


def _forget_thread_connection(engine):
    _connections().pop(engine.pool, None)  # and so closed


def session_idle(session):
    """Tell whether a scoped session has begun no transaction here (without making one to ask)."""
    return not (session.registry.has() and session().in_transaction())
