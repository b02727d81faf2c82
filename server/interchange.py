"""The interchange CSV, tally downloads and spreadsheet safety: one writer for every download."""

import csv
import io
import re
from datetime import UTC

from flask import Response as HttpResponse
from flask import stream_with_context

from . import answers
from .errors import ApiError
from .models import CHANNELS, Response, Unit, db

COLUMNS = ["id", "unit", "channel", "score", "scale", "reason", "comment", "segment", "lang", "answered_at"]
# Beyond the contract's columns: flags keep the round trip lossless for repeat presses.
EXTRA_COLUMNS = ["flags"]
DANGEROUS = re.compile(r"^'*[=+\-@]")


def neutralise(value):
    """Prefix a cell a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and DANGEROUS.match(value):
        return "'" + value
    return value


def unneutralise(value):
    """Remove exactly the apostrophe neutralise() added."""
    if value.startswith("'") and DANGEROUS.match(value[1:]):
        return value[1:]
    return value


def format_segment(segment):
    return ";".join(f"{k}={v}" for k, v in (segment or {}).items())


def parse_segment(text):
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
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def response_row(r, unit_code):
    return [
        r.id, unit_code, r.channel, "" if r.score is None else r.score, r.scale, r.reason or "",
        r.comment or "", format_segment(r.segment), r.lang or "", format_time(r.answered_at), r.flags,
    ]


def response_rows(query):
    """Yield interchange rows for a select of Response, streaming from the database."""
    codes = dict(db.session.execute(db.select(Unit.id, Unit.code)).all())
    for r in db.session.execute(query.order_by(Response.answered_at, Response.id)).scalars().yield_per(2000):
        yield response_row(r, codes[r.unit_id])


def csv_lines(header, rows):
    """Yield RFC 4180 CSV text, a line at a time, with formula cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(cell) for cell in row])
        yield buffer.getvalue()


def xlsx_bytes(header, rows, title="Hymy"):
    """Write rows to an XLSX workbook in write-only (streaming) mode."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([neutralise(cell) for cell in row])
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
    if fmt == "xlsx":
        data = xlsx_bytes(header, rows)
        if hasattr(path_or_stream, "buffer"):
            path_or_stream.buffer.write(data)
        else:
            with open(path_or_stream, "wb") as out:
                out.write(data)
        return
    if hasattr(path_or_stream, "write"):
        for line in csv_lines(header, rows):
            path_or_stream.write(line)
        return
    with open(path_or_stream, "w", encoding="utf-8", newline="") as out:
        for line in csv_lines(header, rows):
            out.write(line)


class ImportError_(ValueError):
    """A row of an imported CSV is invalid; the message names the line and field."""


def import_csv(stream, batch_size=5000):
    """Store every new row of an interchange CSV; return how many were stored.

    Rows whose id is already stored with the same content are skipped; the whole file is
    checked before anything is written, so a bad row leaves the database untouched.
    """
    reader = csv.DictReader(stream)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportError_(f"the header lacks the column {missing[0]!r}")
    units = {u.code: u for u in db.session.execute(db.select(Unit)).scalars()}
    pending, seen = [], set()
    for line_no, raw in enumerate(reader, start=2):
        row = {k: unneutralise(v or "") for k, v in raw.items() if k}
        try:
            record = _import_record(row, units)
        except (ApiError, ValueError) as exc:
            field = getattr(exc, "field", None)
            message = getattr(exc, "message", str(exc))
            raise ImportError_(f"line {line_no}: {message}" + (f" (field {field})" if field else "")) from None
        if record["id"] in seen:
            raise ImportError_(f"line {line_no}: the id {record['id']} appears twice in the file")
        seen.add(record["id"])
        pending.append(record)
    stored = 0
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        existing = {
            r.id: r for r in db.session.execute(
                db.select(Response).where(Response.id.in_([rec["id"] for rec in batch]))
            ).scalars()
        }
        for rec in batch:
            if rec["id"] in existing and not _same_row(existing[rec["id"]], rec):
                db.session.rollback()
                raise ImportError_(f"the id {rec['id']} is already stored with other content")
        new = [rec for rec in batch if rec["id"] not in existing]
        if new:
            db.session.execute(db.insert(Response), new)
        stored += len(new)
    db.session.commit()
    return stored


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
            raise ApiError(422, "score must be a whole number", "score") from None
        from .stats import SCALES

        if not SCALES[scale].low <= score <= SCALES[scale].high:
            raise ApiError(422, f"score {score} is outside the scale {scale}", "score")
    comment = row["comment"] or None
    if comment and len(comment) > answers.MAX_COMMENT:
        raise ApiError(422, "comment is too long", "comment")
    if score is None and comment is None:
        raise ApiError(422, "a row needs a score, a comment or both", "score")
    lang = row["lang"] or None
    if lang not in (None, "fi", "sv", "en"):
        raise ApiError(422, "lang must be fi, sv or en", "lang")
    try:
        segment = answers.validate_segment(parse_segment(row["segment"]))
    except ValueError as exc:
        raise ApiError(422, str(exc), "segment") from None
    answered_at = answers.parse_time(row["answered_at"], check_range=False)
    from .models import utcnow

    return {
        "id": answer_id, "unit_id": unit.id, "channel": row["channel"], "score": score,
        "scale": scale, "reason": row["reason"] or None,
        # Imported comments go through the same scrubbing as every other way in.
        "comment": answers.redact(comment) if comment else None,
        "segment": segment, "lang": lang, "answered_at": answered_at, "received_at": utcnow(),
        "flags": row.get("flags", "") or "", "device_id": None, "user_id": None,
    }


def _same_row(stored, rec):
    return (
        stored.unit_id == rec["unit_id"] and stored.score == rec["score"] and stored.scale == rec["scale"]
        and stored.reason == rec["reason"] and stored.comment == rec["comment"]
        and (stored.segment or None) == rec["segment"] and stored.lang == rec["lang"]
        and stored.answered_at == rec["answered_at"] and stored.channel == rec["channel"]
    )
