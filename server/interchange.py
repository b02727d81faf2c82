"""The interchange CSV, tally downloads and spreadsheet safety: one writer for every download."""

import csv
import fcntl
import gc
import io
import json
import multiprocessing
import re
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import NamedTuple

from flask import Response as HttpResponse
from flask import stream_with_context
from sqlalchemy import DateTime, String, case, cast, func, literal, type_coerce

from . import answers, reports, rollup, stats
from .errors import ApiError
from .models import CHANNELS, KINDS, LANGS, Response, Unit, db, utcnow
from .redact import redact

COLUMNS = ["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"]
# Beyond the contract's columns: flags (repeat presses) and kind (staff-logged remarks) keep
# the round trip lossless; an import accepts files without them.
EXTRA_COLUMNS = ["flags", "kind"]
RESPONSE_HEADER = COLUMNS + EXTRA_COLUMNS
DANGEROUS = re.compile(r"^'*[=+\-@]")
KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FLAGS = re.compile(r"^[a-z_ ]{0,64}$")


FORMULA_STARTS = frozenset("=+-@'")
# Columns whose cells Hymy wrote itself or checked against a fixed vocabulary (ids, times, numbers,
# channels, scales, languages, flags, kinds): none can start like a formula, so exports skip them.
OWN_COLUMNS = frozenset({"id", "channel", "score", "scale", "lang", "answered_at", "flags", "kind"})


def neutralise(value):
    """Prefix a cell a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS and DANGEROUS.match(value):
        return "'" + value
    return value


def unneutralise(value):
    """Remove exactly the apostrophe neutralise() added."""
    if value.startswith("'") and DANGEROUS.match(value[1:]):
        return value[1:]
    return value


def format_segment(segment):
    """Write a segment mapping as key=value;key=value."""
    return ";".join(f"{k}={v}" for k, v in (segment or {}).items())


def parse_segment(text):
    """Read key=value;key=value back into a mapping (None when empty)."""
    if not text:
        return None
    segment = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"segment part {part!r} is not key=value")
        segment[key] = value
    return segment


def _iso_utc(column, dialect_name):
    """The stored naive UTC time as its isoformat() + "Z", written by the database."""
    if dialect_name == "sqlite":  # stored as text, 'YYYY-MM-DD HH:MM:SS.ffffff'
        fraction = func.substr(column, 20, type_=String)
        return (func.substr(column, 1, 10, type_=String) + "T" + func.substr(column, 12, 8, type_=String)
                + case((fraction.in_(("", ".000000")), ""), else_=fraction) + "Z")
    whole = func.date_trunc("second", column) == column
    return (func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS', type_=String)
            + case((whole, ""), else_=func.to_char(column, ".US", type_=String)) + "Z")


# SQLite's auxiliary threads for an export's sort (PRAGMA threads; its default is none).
SORT_HELPER_THREADS = 1
# What csv.writer puts a cell in quotes for (QUOTE_MINIMAL, with "\r\n" ending the lines).
NEEDS_QUOTES = frozenset(',"\r\n')


class ResponseRows:
    """An export's answers: a select of Response, streamed from the database.

    Iterated, it gives rows of cells (for XLSX). Written as CSV (csv_lines), the database writes
    each line itself, quoted and neutralised as csv.writer and neutralise() would: at a million
    rows, handing every cell to Python and csv.writer cost as much again as the query.
    """

    def __init__(self, query):
        self.query = query

    def __iter__(self):
        return response_rows(self.query)

    def csv_text(self, chunk_size=5000):
        """Yield the rows as CSV text, chunk_size lines at a time (the header not included)."""
        connection = db.session.connection()
        with _read_in_order(connection, self.query.with_only_columns(*_csv_line(connection.dialect.name))) as fetch:
            while chunk := fetch(chunk_size):
                lines = [line if segment is None else line + _csv_cell(format_segment(_segment(segment))) + tail
                         for line, segment, tail in chunk]
                lines.append("")
                yield "\r\n".join(lines)


def _csv_text_cell(column, dialect_name):
    """A text column as its CSV cell: NULL empty, neutralised, quoted when it must be (see _csv_cell)."""
    if dialect_name == "sqlite":  # GLOB patterns: SQLite's fastest match without a function of ours
        glob = column.op("GLOB", is_comparison=True)
        must_quote = glob('*[,"\r\n]*')
        formula = func.ltrim(column, "'", type_=String).op("GLOB", is_comparison=True)("[=+@-]*")
        suspect = glob("['=+@-]*")  # the first character alone: cheaper than formula, and rarely true
    else:
        matches = column.op("~", is_comparison=True)
        must_quote = matches('[,"\r\n]')
        formula = suspect = matches("^'*[=+@-]")
    neutralised = case((formula, literal("'", String) + column), else_=column)
    quoted = literal('"', String) + func.replace(neutralised, '"', '""', type_=String) + '"'
    return case((column.is_(None), ""), (suspect | must_quote, case((must_quote, quoted), else_=neutralised)),
                else_=column)


def _csv_line(dialect_name):
    """The columns of a CSV line: the line (but for a segment: its cells before it), the segment, the cells after it.

    Hymy's own columns (OWN_COLUMNS) never need quotes nor neutralising; the unit's code, the
    reason and the comment go through _csv_text_cell. The few segments are written in Python.
    """
    at = type_coerce(Response.answered_at, DateTime())
    code = db.select(_csv_text_cell(Unit.code, dialect_name)).where(Unit.id == Response.unit_id).scalar_subquery()
    comma = literal(",", String)
    head = (Response.id + comma + code + comma + Response.channel + comma
            + func.coalesce(cast(Response.score, String), "") + comma + Response.scale + comma
            + _csv_text_cell(Response.reason, dialect_name) + comma + _csv_text_cell(Response.comment, dialect_name)
            + comma)
    tail = (comma + func.coalesce(Response.lang, "") + comma + _iso_utc(at, dialect_name) + comma + Response.flags
            + comma + func.coalesce(Response.kind, ""))
    has_segment = Response.segment.is_not(None)
    return (case((has_segment, head), else_=head + tail), type_coerce(Response.segment, String()),
            case((has_segment, tail), else_=None))


def _csv_cell(text):
    """Neutralise a cell and quote it as csv.writer would (only the few segments are written here)."""
    text = neutralise(text)
    if NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def _segment(stored):
    """A stored segment as a dict: JSON text on SQLite, parsed by the driver on PostgreSQL."""
    return json.loads(stored) if isinstance(stored, str) else stored


@contextmanager
def _read_in_order(connection, query):
    """Run an export's query in order of time; yield its fetchmany, streaming from the database."""
    query = query.order_by(Response.answered_at, Response.id)
    if connection.dialect.name != "sqlite":
        # A server-side cursor keeps the rows out of memory (options on the statement: they must not
        # outlive this export).
        result = connection.execute(query.execution_options(stream_results=True))
        try:
            yield result.fetchmany
        finally:
            result.close()
        return
    # One helper thread sorts runs of rows while the statement's own thread reads more: a
    # million-row export's sort by time takes a fifth less time (SQLite's default is none).
    connection.exec_driver_sql(f"PRAGMA threads={SORT_HELPER_THREADS}")
    # The driver reads as it goes and SQLAlchemy buffers nothing: take the driver's rows directly.
    result = connection.execute(query)
    try:
        yield result.cursor.fetchmany
    finally:
        result.close()
        connection.exec_driver_sql("PRAGMA threads=0")


def response_rows(query, chunk_size=5000):
    """Yield interchange rows for a select of Response, streaming from the database.

    The database writes every cell but the segment as the text the CSV holds (unit codes, times,
    empty cells) and a whole export reads the table in one pass: at a million rows, building each
    row in Python and SQLAlchemy's per-row handling took more time than the database.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    # The time through the plain type, not the UTC one that would hand back a datetime.
    at = type_coerce(Response.answered_at, DateTime())
    # A correlated lookup, not a join: SQLite would join unit by unit through an index, then sort.
    unit_code = db.select(Unit.code).where(Unit.id == Response.unit_id).scalar_subquery()
    query = query.with_only_columns(
        Response.id, unit_code, Response.channel,
        func.coalesce(cast(Response.score, String), ""), Response.scale, func.coalesce(Response.reason, ""),
        func.coalesce(Response.comment, ""), type_coerce(Response.segment, String()), func.coalesce(Response.lang, ""),
        _iso_utc(at, dialect.name), Response.flags, func.coalesce(Response.kind, ""),
    )
    with _read_in_order(connection, query) as fetch:
        while chunk := fetch(chunk_size):
            for n, row in enumerate(chunk):
                if row[7] is not None:  # the few answers with a segment
                    row = chunk[n] = list(row)
                    row[7] = format_segment(_segment(row[7]))
            yield from chunk


def export_table(kind, units, bucket, first, last, tz_name):
    """Return (header, rows) of an export: "responses" (the interchange CSV) or "tally" per bucket."""
    if kind == "responses":
        # Every unit: no filter, so the database reads the table in one pass, not unit by unit.
        every_unit = len(units) == db.session.scalar(db.select(func.count()).select_from(Unit))
        query = reports.answers_query(None if every_unit else units, first, last, tz_name, include_flagged=True)
        return RESPONSE_HEADER, ResponseRows(query)
    return stats.TALLY_COLUMNS, tally_rows(reports.tally_table(units, bucket, first, last, tz_name))


def tally_rows(table):
    """Turn reports.tally_table() mappings into rows in TALLY_COLUMNS order."""
    return ([row[c] for c in stats.TALLY_COLUMNS] for row in table)


def csv_lines(header, rows, rows_per_chunk=2000):
    """Yield RFC 4180 CSV text in chunks of rows, with formula cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    if isinstance(rows, ResponseRows):  # written by the database
        yield buffer.getvalue()
        yield from rows.csv_text()
        return
    checked = [i for i, name in enumerate(header) if name not in OWN_COLUMNS]
    rows = iter(rows)
    while chunk := list(islice(rows, rows_per_chunk)):
        for n, row in enumerate(chunk):
            # neutralise(), inlined and only on the columns that may hold text from outside:
            # this runs for every row of a million-row export.
            for i in checked:
                cell = row[i]
                if cell.__class__ is str and cell[:1] in FORMULA_STARTS and DANGEROUS.match(cell):
                    row = chunk[n] = list(row)
                    row[i] = "'" + cell
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no rows: the header alone
        yield buffer.getvalue()


def xlsx_bytes(header, rows, title="Hymy"):
    """Write rows to an XLSX workbook in write-only (streaming) mode.

    openpyxl is imported here, not with the module: it adds a tenth of a second to the start of
    every `hymy` command and of the server, and only XLSX downloads use it.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell_text(value):
        value = neutralise(value)
        # XML cannot hold most control characters; a spreadsheet would refuse the whole file.
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([cell_text(cell) for cell in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def download(header, rows, filename, fmt):
    """Serve rows as a streamed CSV or an XLSX attachment."""
    if fmt == "xlsx":
        body = xlsx_bytes(header, rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = stream_with_context(csv_lines(header, rows))
        mimetype = "text/csv; charset=utf-8"
    response = HttpResponse(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


def write_file(header, rows, path_or_stream, fmt):
    """Write rows as CSV or XLSX to a path or an open text stream (such as stdout)."""
    if fmt == "xlsx":
        data = xlsx_bytes(header, rows)
        if hasattr(path_or_stream, "write"):
            getattr(path_or_stream, "buffer", path_or_stream).write(data)
        else:
            with open(path_or_stream, "wb") as out:
                out.write(data)
        return
    if hasattr(path_or_stream, "write"):
        path_or_stream.writelines(csv_lines(header, rows))
        return
    with open(path_or_stream, "w", encoding="utf-8", newline="") as out:
        out.writelines(csv_lines(header, rows))


class ImportError_(ValueError):
    """A row of an imported CSV is invalid; the message names the line and field."""


class Imported(NamedTuple):
    """What an import did: rows stored, and rows skipped because they were stored already."""

    stored: int
    duplicates: int


# The columns an import writes, in the order of its rows; the device and user stay empty.
IMPORT_COLUMNS = ("id", "unit_id", "channel", "score", "scale", "reason", "comment", "segment", "lang",
                  "answered_at", "kind", "flags", "received_at")
# The columns an import may leave NULL.
NULLABLE = frozenset({"score", "reason", "comment", "segment", "lang", "kind"})
# What makes two rows "the same answer": a row's fields but the id, flags and received_at.
SAME = slice(1, 11)
SAME_FIELDS = IMPORT_COLUMNS[SAME]
# A large import sets the secondary indexes and the rollup's insert trigger aside (on SQLite) from this
# many stored rows on.
BULK_ROWS = 10_000
# The years an imported answer may fall in: those whose local weeks the rollup knows (rollup_zone).
FIRST_YEAR, LAST_YEAR = 1970, 2099
# A file this large is read in a process of its own (about 10,000 rows; see _read_ahead).
READ_AHEAD_BYTES = 1 << 20
PIPE_BYTES = 1 << 20  # Linux's largest pipe for a process without privileges
IMPORT_CACHE_KIB = -65536  # SQLite's unit: a negative number of KiB, here 64 MiB
SCORES = {name: range(scale.low, scale.high + 1) for name, scale in stats.SCALES.items()}
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Batch(NamedTuple):
    """Rows of an import ready to insert: the database's values in IMPORT_COLUMNS order."""

    rows: list
    lines: list  # each row's line in the file
    duplicates: int  # rows left out as repeats of an earlier row of the batch


def import_csv(stream, batch_size=5000, bulk_rows=BULK_ROWS, read_ahead=False):
    """Store every new row of an interchange CSV in one transaction; return what was stored and skipped.

    Rows are checked and written in batches. A row whose id is already stored (or appeared
    earlier in the file) with the same content is skipped as a duplicate; a known id with other
    content, or any bad row, rolls the whole import back, so the database is left untouched.
    A large import on SQLite sets the answers' secondary indexes and the rollup's insert trigger
    aside once it has stored bulk_rows rows and a quarter as many as were stored before it, and
    builds the indexes and counts the rollup at once before it commits (see _set_indexes_aside).
    With read_ahead, a forked process reads and checks the file while this one writes (see
    _read_ahead), if this process runs no other thread (a fork copies only the calling thread,
    and with it any lock another thread held). Open files with newline="".
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ImportError_(f"line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportError_(f"line 1: the header lacks the column {missing[0]!r}")
    units = {code: (id_, scale) for code, id_, scale in db.session.execute(db.select(Unit.code, Unit.id, Unit.scale))}
    connection = db.session.connection()
    on_sqlite = connection.dialect.name == "sqlite"
    if not on_sqlite:
        # The lock every insert takes, taken before the rollup's zone is read below: the zone then
        # cannot change until the import commits (rollup.rebuild).
        connection.exec_driver_sql("LOCK TABLE response IN ROW EXCLUSIVE MODE")
    # What the rollup holds of the import's rows already: on SQLite the rows the trigger counted
    # before a bulk import set it aside, and on both the rows skipped as stored before. The reading
    # counts every row it reads; the difference is what the import adds to the rollup itself.
    held = rollup.Tally.of(connection)
    read = _Batches(_records(reader, header, units, _ToDatabase.of(connection.dialect)), batch_size, held.empty())
    store = _batch_writer(connection)
    imported = Imported(0, 0)
    stored_before = None
    bulk = False
    # On PostgreSQL the import counts its rows from the start, once the trigger skips its transaction.
    counting = not on_sqlite and rollup.count_by_writer(connection)
    rebuild = []
    try:
        with _large_cache(connection), _no_cycle_collection(), \
                (_read_ahead(read) if read_ahead and threading.active_count() == 1 else nullcontext(read)) as batches:
            for batch in batches:
                stored, duplicates = store(batch, held if counting else None)
                imported = Imported(imported.stored + stored, imported.duplicates + duplicates)
                if on_sqlite and not bulk:
                    held.count(map(ROLLUP_FIELDS, batch.rows))
                    if imported.stored >= bulk_rows:
                        if stored_before is None:  # counted once, when the import first proves large
                            stored_before = _count_answers(connection) - imported.stored
                        if imported.stored * 4 >= stored_before:
                            bulk = True
                            rebuild = _set_indexes_aside(connection)
                            # Now that the import holds the write lock: the zone cannot change until it commits.
                            trigger = rollup.set_trigger_aside(connection) if held.counts_as(connection) else None
                            if trigger is not None:
                                counting = True
                                rebuild.append(trigger)
            if counting:
                read.tally.subtract(held)
                read.tally.store(connection)
            for statement in rebuild:
                connection.exec_driver_sql(statement)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return imported


def _count_answers(connection):
    """Count every stored answer."""
    return connection.execute(db.select(db.func.count()).select_from(Response)).scalar_one()


def _set_indexes_aside(connection):
    """Drop the answers' secondary indexes inside the import's transaction; return the statements that rebuild them.

    Keeping three indexes up to date row by row cost a third of a large import's inserts (13
    against 9 s of processor time for a million rows); building them once at the end takes about
    3 s. SQLite's DDL is transactional: the drop, the rows and the rebuild commit together or not
    at all, so an import that fails, or a process that dies, leaves the indexes as they were.
    Readers meanwhile see the last commit, indexes included.
    The primary key stays (idempotency rests on it), as do unique indexes and triggers but the
    rollup's own insert trigger (see rollup.set_trigger_aside).
    """
    names = [name for _seq, name, unique, origin, _partial in connection.exec_driver_sql("PRAGMA index_list(response)")
             if origin == "c" and not unique]
    statements = [connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                                             (name,)).scalar_one() for name in names]
    for name in names:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return statements


@contextmanager
def _no_cycle_collection():
    """Pause Python's cyclic garbage collector while an import runs.

    An import makes millions of rows and keys, none of them in a cycle, and the collector
    would scan them again and again as they pile up: a twentieth of a large import's time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _large_cache(connection):
    """Give SQLite a page cache the size of a large import's indexes while it runs.

    With the default 2 MB, every batch evicts index pages the next one needs again and spills
    uncommitted pages to the log: the insert costs several times more.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    default = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size={IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(default)}")


def _records(reader, header, units, to_db):
    """Yield (line number, database row) for each row; raise ImportError_ naming the first bad one."""
    width = len(header)
    positions = {name: i for i, name in enumerate(header)}
    # Optional columns the file lacks read the empty cell appended after the row's own.
    pick = itemgetter(*(positions.get(name, width) for name in RESPONSE_HEADER))
    line_no = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportError_(f"line {line_no}: {exc}") from None
        if row:
            if len(row) != width:
                if any(row[width:]):  # a shifted row, an unquoted comma: its cells are not what they seem
                    raise ImportError_(f"line {line_no}: {len(row)} cells where the header names {width}")
                row = (row + [""] * width)[:width]
            row.append("")
            cells = pick(row)
            joined = "\x1f".join(cells)
            if "'" in joined:
                cells = [unneutralise(cell) if cell[:1] == "'" else cell for cell in cells]
            try:
                yield line_no, _import_record(cells, units, "\x00" in joined, to_db)
            except ApiError as exc:
                raise ImportError_(f"line {line_no}: {exc.message} (field {exc.field})") from None
        line_no = reader.line_num + 1


class _ToDatabase(NamedTuple):
    """An import's values as the database takes them, converted by hand as SQLAlchemy would.

    SQLAlchemy's per-row parameter handling would cost more than the database's work.
    """

    time: Callable  # an answered_at cell
    segment: Callable  # a segment's dict
    received_at: object  # the time of the import
    null: object  # what stands for NULL in a column of NULLABLE (see _batch_writer)

    @classmethod
    def of(cls, dialect):
        segment = Response.__table__.c.segment.type.dialect_impl(dialect).bind_processor(dialect)
        # Times as SQLite stores them: PostgreSQL takes the same text, and the rollup's tally reads it.
        received_at = _time_text(utcnow().replace(tzinfo=None))
        return cls(_answered_at_text, segment, received_at, "" if dialect.name == "sqlite" else None)


# What the rollup counts of a row: unit_id, answered_at, channel, flags, scale, score, reason.
ROLLUP_FIELDS = itemgetter(*(IMPORT_COLUMNS.index(name) for name in (
    "unit_id", "answered_at", "channel", "flags", "scale", "score", "reason")))


class _Batches:
    """An import's rows, in batches, and the rollup's tally of every row of them."""

    def __init__(self, rows, size, tally):
        self.rows, self.size, self.tally = rows, size, tally  # rows: (line number, row) pairs

    def __iter__(self):
        """Yield a Batch of each size rows; raise ImportError_ for an id repeated in a batch with other content."""
        while batch := list(islice(self.rows, self.size)):
            fresh = {}
            duplicates = 0
            for line_no, row in batch:
                earlier = fresh.setdefault(row[0], (line_no, row))
                if earlier[1] is row:
                    continue
                if earlier[1][SAME] != row[SAME] and _content(earlier[1]) != _content(row):
                    raise ImportError_(
                        f"line {line_no}: the id {row[0]} appears earlier in the file with other content (field id)")
                duplicates += 1
            rows = [row for _, row in fresh.values()]
            if self.tally is not None:
                self.tally.count(map(ROLLUP_FIELDS, rows))
            yield Batch(rows, [line_no for line_no, _ in fresh.values()], duplicates)


@contextmanager
def _read_ahead(batches):
    """Make the _Batches in a forked process while this one stores the last: yield an iterator over them.

    Reading and checking a row costs about as much as storing it; on two cores the two overlap.
    The child runs only Python over what it inherited (the open file, the units); it never uses
    the database connection, and it ends with os._exit, as multiprocessing's fork does, so nothing
    inherited is closed or flushed twice. An exception it raises (ImportError_, a bad encoding)
    is raised here, after the batches made before it; leaving the block early stops the child.
    Once every batch has arrived, batches.tally holds the child's counts.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    # Room for a batch or two (on Linux), so that neither side waits on the other's every step.
    with suppress(OSError, AttributeError):
        fcntl.fcntl(sender.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    child = context.Process(target=_send_all, args=(batches, sender, receiver), daemon=True)
    child.start()
    sender.close()

    def received():
        while True:
            try:
                kind, value = receiver.recv()
            except EOFError:
                raise RuntimeError("the process reading the import ended without a word") from None
            if kind == "error":
                raise value
            if kind == "end":
                if value is not None:
                    batches.tally.counts = value  # what the child counted
                return
            yield value

    try:
        yield received()
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _send_all(batches, sender, receiver):
    """In the forked child: send each batch, then the end with the tally, or the exception that stopped it.

    The child closes its copy of the receiving end first: should the parent die, the pipe then
    breaks and the child ends, instead of waiting for good to write to a pipe nobody reads.
    """
    receiver.close()
    gc.disable()  # see _no_cycle_collection
    try:
        for batch in batches:
            sender.send(("batch", batch))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone, or stopped reading
    except BaseException as exc:
        if not isinstance(exc, ImportError_ | UnicodeDecodeError):  # a bug: say where it happened
            exc.add_note("in the process reading the import:\n" + traceback.format_exc())
        try:
            sender.send(("error", exc))
        except OSError:
            pass  # the parent is gone
        except Exception:  # an exception that cannot be pickled
            with suppress(OSError):
                sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    else:
        with suppress(OSError):
            sender.send(("end", batches.tally and batches.tally.counts))


def _batch_writer(connection):
    """Return store(batch, skipped): insert a batch's new rows (without committing) and return (stored, duplicates).

    On SQLite, one raw executemany per batch that skips ids already stored; only when some were
    skipped are those rows read back, to tell duplicates from conflicts, and counted in the tally
    skipped. On PostgreSQL, see _copy_writer.
    """
    if connection.dialect.name != "sqlite":
        return _copy_writer(connection)
    # The driver binds None several times slower than a string (it looks for an adapter first):
    # 2 of the 6 µs a row took to insert. The rows hold '' for NULL instead, a value no column of
    # NULLABLE can take, and NULLIF turns it back.
    marks = ", ".join("NULLIF(?, '')" if name in NULLABLE else "?" for name in IMPORT_COLUMNS)
    sql = f"INSERT OR IGNORE INTO response ({', '.join(IMPORT_COLUMNS)}) VALUES ({marks})"

    def store(batch, skipped=None):
        last = connection.exec_driver_sql("SELECT max(rowid) FROM response").scalar() if skipped is not None else None
        stored = connection.exec_driver_sql(sql, batch.rows).rowcount
        if stored != len(batch.rows):
            _check_skipped(connection, batch)
            if skipped is not None:  # SQLite gives new rows the rowids above the largest
                new = set(connection.exec_driver_sql("SELECT id FROM response WHERE rowid > ?", (last or 0,)).scalars())
                skipped.count(ROLLUP_FIELDS(row) for row in batch.rows if row[0] not in new)
        return stored, batch.duplicates + len(batch.rows) - stored

    return store


def _copy_writer(connection):
    """Return store(batch, skipped) for PostgreSQL: each batch by COPY into a temporary table, then one insert.

    A row at a time, each insert was a statement of its own, and so was each run of the rollup's
    statement trigger (server/rollup.py): about 9,000 rows a second. Here a batch is one
    statement; ids already stored are skipped as on SQLite, and counted in the tally skipped.
    The rollup counts the import's rows from its tally, once, before the commit (import_csv):
    counted batch by batch, a batch of 5,000 rows in time order updated about 3,900 of the
    rollup's rows, which took longer than storing the batch. The temporary table lives in the
    import's transaction: its commit or rollback drops it.
    """
    from psycopg.errors import UniqueViolation  # psycopg is installed only for PostgreSQL

    columns = ", ".join(IMPORT_COLUMNS)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE hymy_import ON COMMIT DROP AS SELECT {columns} FROM response WITH NO DATA")
    plain = f"INSERT INTO response ({columns}) SELECT {columns} FROM hymy_import"
    skipping = f"{plain} ON CONFLICT (id) DO NOTHING RETURNING id"
    driver = connection.connection.driver_connection  # psycopg's, in the session's transaction
    # A plain insert took 60 % of the time of one that skips stored ids: each batch is tried plain
    # first, behind a savepoint, until one holds an id stored already (a file imported again, in
    # part or whole, or an answer arriving meanwhile with an id of the file); from then on, every
    # batch skips them.
    none_stored = [True]

    def store(batch, skipped=None):
        new = None
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY hymy_import ({columns}) FROM STDIN") as copy:
                for row in batch.rows:
                    copy.write_row(row)
            if none_stored[0]:
                try:
                    with driver.transaction():  # a savepoint in the import's transaction
                        stored = cursor.execute(plain).rowcount
                except UniqueViolation:
                    none_stored[0] = False
            if not none_stored[0]:
                new = {id_ for (id_,) in cursor.execute(skipping)}
                stored = len(new)
            cursor.execute("TRUNCATE hymy_import")
        if stored != len(batch.rows):
            _check_skipped(connection, batch)
            if skipped is not None:
                skipped.count(ROLLUP_FIELDS(row) for row in batch.rows if row[0] not in new)
        return stored, batch.duplicates + len(batch.rows) - stored

    return store


def _content(row):
    """Return what makes a row the answer it is (SAME_FIELDS): segment as a dict, time as naive UTC."""
    content = [None if value == "" else value for value in row[SAME]]  # '' is NULL (see _ToDatabase)
    segment, answered_at = SAME_FIELDS.index("segment"), SAME_FIELDS.index("answered_at")
    if isinstance(content[segment], str):
        content[segment] = json.loads(content[segment])
    elif content[segment] is not None:
        content[segment] = getattr(content[segment], "obj", content[segment])  # psycopg's Json wrapper
    if isinstance(content[answered_at], str):
        content[answered_at] = datetime.fromisoformat(content[answered_at])
    return content


def _check_skipped(connection, batch):
    """Raise ImportError_ for a batch row whose id is stored with other content."""
    new = {row[0]: (line_no, row) for line_no, row in zip(batch.lines, batch.rows, strict=True)}
    found = connection.execute(
        db.select(Response.id, *(Response.__table__.c[f] for f in SAME_FIELDS)).where(Response.id.in_(list(new)))
    ).all()
    if len(found) != len(new):  # a row skipped for something other than its id: a bug, not a duplicate
        raise RuntimeError("an import batch was not stored whole")
    segment, answered_at = SAME_FIELDS.index("segment"), SAME_FIELDS.index("answered_at")
    for id_, *stored in found:
        line_no, row = new[id_]
        stored[segment] = stored[segment] or None  # an empty segment is no segment
        stored[answered_at] = stored[answered_at].replace(tzinfo=None)
        if stored != _content(row):
            raise ImportError_(f"line {line_no}: the id {id_} is already stored with other content (field id)")


def _import_record(cells, units, has_nul, to_db):
    """Check one row's cells and return its values for the database in IMPORT_COLUMNS order."""
    id_, code, channel, score_text, scale, reason, comment, segment_text, lang, answered_at, flags, kind = cells
    answer_id = id_ if CANONICAL_UUID.fullmatch(id_) else answers.parse_uuid(id_)
    unit = units.get(code)
    if unit is None:
        raise ApiError(404, f"no unit with code {code!r}", "unit")
    unit_id, unit_scale = unit
    if channel not in CHANNELS:
        raise ApiError(422, f"channel must be one of {', '.join(CHANNELS)}", "channel")
    scale = answers.validate_scale(scale or unit_scale)
    score = None
    if score_text != "":
        try:
            score = int(score_text)
        except ValueError:
            raise ApiError(422, f"score must be a whole number; got {score_text!r}", "score") from None
        if score not in SCORES[scale]:
            raise ApiError(422, f"score {score} is outside the scale {scale}", "score")
    reason = reason or None
    if reason is not None and not KEY.match(reason):
        raise ApiError(422, f"reason {reason!r} is not a reason key", "reason")
    if has_nul:
        field = RESPONSE_HEADER[next(i for i, cell in enumerate(cells) if "\x00" in cell)]
        raise ApiError(422, f"{field} contains a NUL character", field)
    comment = comment or None
    if comment and len(comment) > answers.MAX_COMMENT:
        raise ApiError(422, f"comment is longer than {answers.MAX_COMMENT} characters", "comment")
    if score is None and comment is None:
        raise ApiError(422, "a row needs a score, a comment or both", "score")
    lang = lang or None
    if lang is not None and lang not in LANGS:
        raise ApiError(422, "lang must be fi, sv or en", "lang")
    segment = None
    if segment_text:
        try:
            segment = answers.validate_segment(parse_segment(segment_text))
        except ValueError as exc:
            raise ApiError(422, str(exc), "segment") from None
    answered_at = to_db.time(answered_at)
    if not FLAGS.match(flags):
        raise ApiError(422, "flags must be words such as repeat", "flags")
    kind = kind or None
    if kind is not None and kind not in KINDS:
        raise ApiError(422, f"kind must be one of {', '.join(KINDS)}", "kind")
    # Imported comments go through the same scrubbing as every other way in.
    null = to_db.null
    return (answer_id, unit_id, channel, null if score is None else score, scale, reason or null,
            redact(comment) if comment else null, null if segment is None else to_db.segment(segment), lang or null,
            answered_at, kind or null, flags, to_db.received_at)


def _time_text(moment):
    """SQLAlchemy's own format for a UTC column on SQLite (zero-padded, always microseconds).

    Written by the C isoformat instead of a Python format string: a test holds them equal. An
    import gives PostgreSQL the same text, which its timestamp columns read as written.
    """
    return moment.isoformat(" ", "microseconds")


def _answered_at_text(text):
    """Check an answered_at cell; return the time as SQLite stores it (naive UTC, always microseconds)."""
    moment = _naive_utc(text)
    if (len(text) == 27 and text[26] == "Z" and text[4] == text[7] == "-" and text[10] == "T"
            and text[13] == text[16] == ":" and text[19] == "."):
        # The usual "YYYY-MM-DDTHH:MM:SS.ffffffZ", just parsed as that: its text is the stored
        # form already, three times faster than formatting the time again.
        return text[:10] + " " + text[11:26]
    return _time_text(moment)


def _naive_utc(text):
    """Parse an answered_at cell to naive UTC; the usual "...Z" without parse_time()'s zone arithmetic."""
    moment = None
    if text[-1:] == "Z" and "T" in text:  # a date alone is no time: parse_time() refuses it
        try:
            moment = datetime.fromisoformat(text[:-1])
        except ValueError:
            pass
        if moment is not None and moment.tzinfo is not None:
            moment = None
    if moment is None:
        moment = answers.parse_time(text, check_range=False).replace(tzinfo=None)
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ApiError(422, f"answered_at must fall in the years {FIRST_YEAR} to {LAST_YEAR}", "answered_at")
    return moment
