"""The weekly digest: a unit's or an area's week, what changed and why, and what clients praised."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import click
from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _

from . import insight, kiosk_hours, mail, org, reports, stats
from .auth import get_area_for_user, get_unit_for_user, role_required
from .insight_models import DigestSent
from .models import HAS_COMMENT, LANGS, Area, Response, db, utcnow

bp = Blueprint("insight", __name__, url_prefix="/manage")

HIGHLIGHTS = 3


def week_window(monday, tz_name):
    """Return UTC [start, end) of the local ISO week that starts on the Monday."""
    return stats.day_range(monday, monday + timedelta(days=6), tz_name)


def build_digest(units, monday, tz_name):
    """Return the digest of the units' week as plain data (the --json shape, and more)."""
    start, end = week_window(monday, tz_name)
    explained = insight.explain(units, monday, tz_name)
    offline = kiosk_hours.offline_hours(units, start, end, tz_name)
    entries = []
    for unit, tally in reports.tallies_by_unit(units, start, end):
        _counts, changes = explained[unit]
        row = tally.row()
        entries.append({
            "unit": unit.code,
            "name": unit.name,
            "answers": tally.answers,
            "enough": tally.enough,
            "figures": {k: v for k, v in row.items() if k != "answers"} if tally.enough else None,
            "notable": [insight.as_json(change, unit) for change in changes],
            "highlights": highlights(unit, start, end),
            "praise_logged": praise_logged(unit, start, end),
            "notes": quality_notes(unit, tally, start, end, monday, tz_name, offline.get(unit.id, [])),
            "kiosk_offline": offline.get(unit.id, []),
        })
    return {
        "week": insight.week_name(monday),
        "from": monday.isoformat(),
        "to": (monday + timedelta(days=6)).isoformat(),
        "baseline_weeks": insight.BASELINE_WEEKS,
        "units": entries,
    }


def highlights(unit, start, end, limit=HIGHLIGHTS):
    """Return the week's latest positive comments and logged praise: text, day and source, never who logged it."""
    rows = db.session.execute(
        db.select(Response.scale, Response.score, Response.kind, Response.comment, Response.answered_at)
        .where(Response.unit_id == unit.id, *HAS_COMMENT,
               Response.flags == "", Response.answered_at >= start, Response.answered_at < end)
        .order_by(Response.answered_at.desc())
        .limit(500)
    ).all()
    chosen = []
    for scale, score, kind, comment, answered_at in rows:
        if stats.is_praise(scale, score, kind):
            chosen.append({
                "text": comment,
                "answered_at": answered_at.isoformat(),
                "source": "staff" if kind else "client",
            })
        if len(chosen) == limit:
            break
    return chosen


def praise_logged(unit, start, end):
    """Count the praise staff logged for the unit in the window."""
    return db.session.execute(
        db.select(db.func.count()).select_from(Response)
        .where(Response.unit_id == unit.id, Response.kind == "praise", Response.flags == "",
               Response.answered_at >= start, Response.answered_at < end)
    ).scalar_one()


def quality_notes(unit, tally, start, end, monday, tz_name, offline=()):
    """Return sentences on what weakens the week's figures: few answers, silent days, offline kiosks, repeat presses."""
    notes = []
    if not tally.enough:
        notes.append(_("Fewer than 5 answers this week: no figures are shown."))
    # A day without answers is worth a note only on a weekday that usually has some.
    days = _answer_days(unit, start, end, tz_name)
    usual = {day.weekday() for day in _answer_days(unit, start - timedelta(weeks=insight.BASELINE_WEEKS), start,
                                                   tz_name)}
    week = [monday + timedelta(days=i) for i in range(7)]
    silent = [day for day in week if day.weekday() in usual and day not in days]
    if silent:
        names = ", ".join(format_date(day, "cccc d.M.yyyy") for day in silent)
        notes.append(_("Days without answers: %(days)s", days=names))
    for kiosk in offline:
        if kiosk["offline_hours"]:
            notes.append(ngettext("The tablet “%(name)s” was offline for %(num)d opening hour this week.",
                                  "The tablet “%(name)s” was offline for %(num)d opening hours this week.",
                                  kiosk["offline_hours"], name=kiosk["device"]))
    flagged = db.session.execute(
        db.select(db.func.count()).select_from(Response)
        .where(Response.unit_id == unit.id, Response.flags != "",
               Response.answered_at >= start, Response.answered_at < end)
    ).scalar_one()
    if flagged:
        notes.append(ngettext("%(num)d repeated press was left out of the figures.",
                              "%(num)d repeated presses were left out of the figures.", flagged))
    return notes


def _answer_days(unit, start, end, tz_name):
    tz = ZoneInfo(tz_name)
    moments = db.session.execute(
        db.select(Response.answered_at)
        .where(Response.unit_id == unit.id, Response.score.is_not(None), Response.flags == "",
               Response.answered_at >= start, Response.answered_at < end)
    ).scalars()
    return {moment.astimezone(tz).date() for moment in moments}


def resolve_week(value, tz_name):
    """Return the Monday of the week given as YYYY-Www, or of the last complete week."""
    return insight.parse_week(value) if value else insight.last_complete_week(tz_name)


# --- The command -------------------------------------------------------------------------


def register_cli(group):
    """Add the `digest` command to a click group (the `hymy` command or app.cli)."""

    @group.command("digest")
    @click.option("--unit", "unit_code", help="A unit's code.")
    @click.option("--area", help="An area's name or code.")
    @click.option("--week", help="An ISO week such as 2026-W40; default: the last complete week.")
    @click.option("--lang", type=click.Choice(LANGS), help="The language of the sentences.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--send", is_flag=True,
                  help="E-mail the digests instead: units' to their managers, areas' to their directors "
                       "(all of them without --unit or --area), but to nobody who has had theirs for the week.")
    @click.option("--again", is_flag=True, help="With --send: e-mail also those who have had theirs for the week.")
    def digest_command(unit_code, area, week, lang, as_json, send, again):
        """Print a unit's or an area's weekly digest, or e-mail the digests."""
        if (unit_code and area) or not (unit_code or area or send):
            raise click.UsageError("give either --unit CODE or --area AREA (or --send alone: every digest)")
        if send and as_json:
            raise click.UsageError("--send mails the digests; --json only prints one")
        if again and not send:
            raise click.UsageError("--again goes with --send")
        tz_name = current_app.config["HYMY_TIMEZONE"]
        try:
            monday = resolve_week(week, tz_name)
            if send:
                sent, refused, skipped = send_digests(monday, tz_name, lang, unit_code, area, again)
            else:
                units = reports.select_units(unit_code, area)
        except (ValueError, reports.SelectionError, mail.MailError) as exc:
            raise click.ClickException(str(exc)) from None
        if send:
            for message in sent:
                click.echo(f"{message['To']}\t{message['Subject']}")
            if skipped:
                click.echo(f"{skipped} had theirs for {insight.week_name(monday)} already (--again sends them again)")
            if refused:
                raise click.ClickException(f"the mail server refused {len(refused)} of {len(sent)} e-mails: "
                                           + ", ".join(refused))
            click.echo(len(sent))
            return
        with force_locale(lang or current_app.config["HYMY_DEFAULT_LANG"]):
            data = build_digest(units, monday, tz_name)
            click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else digest_text(data))


def send_digests(monday, tz_name, lang=None, unit_code=None, area=None, again=False):
    """E-mail the week's digests, each unit's to its managers and each area's to its directors; return
    (the messages, the addresses refused, how many people were skipped as having had theirs).

    With a unit code, only that unit's digest goes; with an area, only the area's; with neither, all.
    Each person reads theirs in their own language, unless lang names one for everybody.
    Each digest the mail server takes is recorded at once (DigestSent): a run stopped halfway, say
    by the mail server going away, and run again sends nobody theirs twice, unless again is given.
    """
    settings = mail.smtp_settings()
    base = current_app.config["HYMY_BASE_URL"]
    week = insight.week_name(monday)
    had = set() if again else {(about, user_id) for about, user_id in db.session.execute(
        db.select(DigestSent.about, DigestSent.user_id).where(DigestSent.week == week))}
    recipients, messages, skipped = [], [], 0

    def add(key, digest_units, about, link, people):
        nonlocal skipped
        waiting = [person for person in people if (key, person.id) not in had]
        skipped += len(people) - len(waiting)
        for person, message in _digest_mails(digest_units, about, link, waiting, monday, tz_name, lang):
            recipients.append((key, person.id))
            messages.append(message)

    if not area:
        for unit in reports.select_units(unit_code):
            add(f"unit {unit.code}", [unit], unit, f"{base}/manage/units/{unit.code}/digest?week={week}",
                mail.unit_managers(unit))
    if not unit_code:
        for found in _areas(area):
            units = reports.select_units(area=found.code)
            if units:
                add(f"area {found.code}", units, found, f"{base}/manage/areas/{found.code}/digest?week={week}",
                    mail.area_directors(found))

    def record(index):
        about, user_id = recipients[index]
        db.session.merge(DigestSent(week=week, about=about, user_id=user_id, sent_at=utcnow()))
        db.session.commit()

    return messages, (mail.send(settings, messages, sent=record) if messages else []), skipped


def _areas(name_or_code):
    """Return the area named (by name or code), or every area without a name."""
    if not name_or_code:
        return list(db.session.execute(db.select(Area).order_by(Area.id)).scalars())
    area = org.find_area(name_or_code)
    if area is None:
        raise reports.SelectionError(f"no area named {name_or_code!r}")
    return [area]


def _digest_mails(units, about, link, people, monday, tz_name, lang=None):
    """Return (person, message) for each person: the digest as text and as HTML, with a link to the printable page.

    The digest is written once per language the people read (lang, if given, for everybody).
    """
    messages = []
    for language, readers in mail.by_language(people, lang).items():
        with force_locale(language):
            data = build_digest(units, monday, tz_name)
            title = about.name  # the unit or the area, named in the reader's language
            subject = _("Weekly digest %(week)s: %(name)s", week=data["week"], name=title)
            text = "\n\n".join([digest_text(data), _("The printable digest: %(link)s", link=link)])
            html = render_template("insight/digest_mail.html", data=data, title=title, link=link, monday=monday,
                                   sunday=monday + timedelta(days=6), lang=language)
        messages += [(person, mail.compose(person.email, subject, text, html, language)) for person in readers]
    return messages


def digest_text(data):
    """Render the digest as plain text for a terminal or an e-mail."""
    lines = [_("Weekly digest %(week)s (%(first)s to %(last)s)", week=data["week"], first=data["from"],
               last=data["to"])]
    for entry in data["units"]:
        lines += ["", f"{entry['name']} ({entry['unit']})",
                  ngettext("%(num)d answer", "%(num)d answers", entry["answers"])]
        figures = entry["figures"]
        if figures:
            for label, key in ((_("Positive"), "pct_positive"), (_("Negative"), "pct_negative")):
                lines.append(_("%(label)s: %(value)s %% (95 %% interval %(low)s–%(high)s %%)", label=label,
                               value=round(figures[key]), low=round(figures[f"{key}_low"]),
                               high=round(figures[f"{key}_high"])))
        lines += [f"  {'▲' if n['direction'] == 'better' else '▼'} {n['text']}" for n in entry["notable"]]
        if not entry["notable"]:
            lines.append(_("No change stood out from the weeks before."))
        lines += [f"  “{h['text']}”" for h in entry["highlights"]]
        lines.append(_("Praise logged by staff: %(count)s", count=entry["praise_logged"]))
        lines += [f"  ! {note}" for note in entry["notes"]]
    return "\n".join(lines)


# --- The printable pages -----------------------------------------------------------------


def _page(units, title):
    tz_name = current_app.config["HYMY_TIMEZONE"]
    try:
        monday = resolve_week(request.args.get("week"), tz_name)
    except ValueError:
        abort(400)
    data = build_digest(units, monday, tz_name)
    return render_template(
        "insight/digest.html", data=data, title=title, monday=monday, sunday=monday + timedelta(days=6),
        previous_week=insight.week_name(monday - timedelta(weeks=1)),
        next_week=insight.week_name(monday + timedelta(weeks=1)),
        has_next=monday < insight.last_complete_week(tz_name),
    )


@bp.get("/units/<code>/digest")
@role_required("view")
def unit_digest(code):
    unit = get_unit_for_user(code, "view")
    return _page([unit], unit.name)


@bp.get("/areas/<code>/digest")
@role_required("view")
def area_digest(code):
    area = get_area_for_user(code)
    units = reports.select_units(area=area.code)
    if not units:
        abort(404)
    return _page(units, area.name)
