"""The interchange CSV, tally downloads and spreadsheet safety: one writer for every download."""

import csv
import io
import re
from datetime import UTC
from itertools import islice

from flask import Response as HttpResponse
from flask import stream_with_context
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from . import answers, reports, stats
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


def format_time(moment):
    """Write a moment as ISO 8601 in UTC with a Z."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


# The stored columns an interchange row is made of, read as plain tuples (no ORM objects: speed).
ROW_COLUMNS = (
    Response.id, Response.unit_id, Response.channel, Response.score, Response.scale, Response.reason,
    Response.comment, Response.segment, Response.lang, Response.answered_at, Response.flags, Response.kind,
)


def response_rows(query):
    """Yield interchange rows for a select of Response, streaming from the database."""
    codes = dict(db.session.execute(db.select(Unit.id, Unit.code)).all())
    query = query.with_only_columns(*ROW_COLUMNS).order_by(Response.answered_at, Response.id)
    # A Core result on the session's connection: plain tuples, fetched in batches, no ORM rows.
    # Options on the statement, not the connection: they must not outlive this export.
    result = db.session.connection().execute(query.execution_options(stream_results=True, yield_per=5000))
    for id_, unit_id, channel, score, scale, reason, comment, segment, lang, at, flags, kind in result:
        yield [
            id_, codes[unit_id], channel, "" if score is None else score, scale, reason or "", comment or "",
            format_segment(segment) if segment else "", lang or "", format_time(at), flags, kind or "",
        ]


def export_table(kind, units, bucket, first, last, tz_name):
    """Return (header, rows) of an export: "responses" (the interchange CSV) or "tally" per bucket."""
    if kind == "responses":
        query = reports.answers_query(units, first, last, tz_name, include_flagged=True)
        return RESPONSE_HEADER, response_rows(query)
    return stats.TALLY_COLUMNS, tally_rows(reports.tally_table(units, bucket, first, last, tz_name))


def tally_rows(table):
    """Turn reports.tally_table() mappings into rows in TALLY_COLUMNS order."""
    return ([row[c] for c in stats.TALLY_COLUMNS] for row in table)


def csv_lines(header, rows, rows_per_chunk=1000):
    """Yield RFC 4180 CSV text in chunks of rows, with formula cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    pending = 0
    for row in rows:
        # neutralise(), inlined: this runs once per cell of a million-row export.
        writer.writerow([
            "'" + cell if cell.__class__ is str and cell[:1] in FORMULA_STARTS and DANGEROUS.match(cell) else cell
            for cell in row
        ])
        pending += 1
        if pending == rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _xlsx_cell(value):
    value = neutralise(value)
    # XML cannot hold most control characters; a spreadsheet would refuse the whole file.
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def xlsx_bytes(header, rows, title="Hymy"):
    """Write rows to an XLSX workbook in write-only (streaming) mode."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(cell) for cell in row])
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


def import_csv(stream, batch_size=2000):
    """Store every new row of an interchange CSV in one transaction; return how many were stored.

    Rows are checked and written in batches. A row whose id is already stored (or appeared
    earlier in the file) with the same content is skipped; any bad row rolls the whole
    import back, so the database is left untouched. Open files with newline="".
    """
    reader = csv.DictReader(stream)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportError_(f"line 1: the header lacks the column {missing[0]!r}")
    units = {u.code: u for u in db.session.execute(db.select(Unit)).scalars()}
    records = _records(reader, units)
    stored = 0
    try:
        while batch := list(islice(records, batch_size)):
            stored += _store_batch(batch)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return stored


def _records(reader, units):
    """Yield (line number, record) for each row; raise ImportError_ naming the first bad one."""
    line_no = 2
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportError_(f"line {line_no}: {exc}") from None
        row = {k: unneutralise(v) if v and v[0] == "'" else (v or "") for k, v in raw.items() if k}
        try:
            record = _import_record(row, units)
        except ApiError as exc:
            raise ImportError_(f"line {line_no}: {exc.message} (field {exc.field})") from None
        yield line_no, record
        line_no = reader.line_num + 1


def _store_batch(batch):
    """Insert the batch's new rows (without committing); return how many there were."""
    fresh = {}
    for line_no, rec in batch:
        earlier = fresh.get(rec["id"])
        if earlier is not None and not _same_record(earlier, rec):
            raise ImportError_(f"line {line_no}: the id {rec['id']} appears earlier in the file with other content (field id)")
        fresh.setdefault(rec["id"], rec)
    existing = db.session.execute(db.select(Response).where(Response.id.in_(list(fresh)))).scalars()
    for stored in existing:
        rec = fresh.pop(stored.id)
        if not _same_record(_stored_record(stored), rec):
            line_no = next(n for n, r in batch if r["id"] == stored.id)
            raise ImportError_(f"line {line_no}: the id {stored.id} is already stored with other content (field id)")
    if fresh:
        # A Core executemany: the ORM's bulk path splits batches and costs several times more.
        db.session.execute(answers.RESPONSE_INSERT, list(fresh.values()))
    return len(fresh)


def _import_record(row, units):
    answer_id = answers.parse_uuid(row["id"])
    unit = units.get(row["unit"])
    if unit is None:
        raise ApiError(404, f"no unit with code {row['unit']!r}", "unit")
    if row["channel"] not in CHANNELS:
        raise ApiError(422, f"channel must be one of {', '.join(CHANNELS)}", "channel")
    scale = answers.validate_scale(row["scale"] or unit.scale)
    score = None
    if row["score"] != "":
        try:
            score = int(row["score"])
        except ValueError:
            raise ApiError(422, f"score must be a whole number; got {row['score']!r}", "score") from None
        if not stats.SCALES[scale].low <= score <= stats.SCALES[scale].high:
            raise ApiError(422, f"score {score} is outside the scale {scale}", "score")
    reason = row["reason"] or None
    if reason is not None and not KEY.match(reason):
        raise ApiError(422, f"reason {reason!r} is not a reason key", "reason")
    if any("\x00" in value for value in row.values()):
        field = next(key for key, value in row.items() if "\x00" in value)
        raise ApiError(422, f"{field} contains a NUL character", field)
    comment = row["comment"] or None
    if comment and len(comment) > answers.MAX_COMMENT:
        raise ApiError(422, f"comment is longer than {answers.MAX_COMMENT} characters", "comment")
    if score is None and comment is None:
        raise ApiError(422, "a row needs a score, a comment or both", "score")
    lang = row["lang"] or None
    if lang is not None and lang not in LANGS:
        raise ApiError(422, "lang must be fi, sv or en", "lang")
    try:
        segment = answers.validate_segment(parse_segment(row["segment"]))
    except ValueError as exc:
        raise ApiError(422, str(exc), "segment") from None
    answered_at = answers.parse_time(row["answered_at"], check_range=False)
    flags = row.get("flags", "")
    if not FLAGS.match(flags):
        raise ApiError(422, "flags must be words such as repeat", "flags")
    kind = row.get("kind", "") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(422, f"kind must be one of {', '.join(KINDS)}", "kind")
    return {
        "id": answer_id, "unit_id": unit.id, "channel": row["channel"], "score": score,
        "scale": scale, "reason": reason,
        # Imported comments go through the same scrubbing as every other way in.
        "comment": redact(comment) if comment else None,
        "segment": segment, "lang": lang, "answered_at": answered_at, "received_at": utcnow(),
        "flags": flags, "kind": kind, "device_id": None, "user_id": None,
    }


# What makes two rows "the same answer"; flags and received_at are the server's own.
SAME_FIELDS = ("unit_id", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at", "kind")


def _stored_record(stored):
    return {field: getattr(stored, field) for field in SAME_FIELDS} | {"segment": stored.segment or None}


def _same_record(a, b):
    return all(a[field] == b[field] for field in SAME_FIELDS)
