"""The unit dashboard: a chosen period's figures with intervals, trend, heatmap, reasons, segments, comments."""

import re
from datetime import UTC, datetime

import pytest

from server.models import Response, db
from tests.conftest import new_id

# Week 2 of 2026 (Monday 5 January) and week 3; Helsinki is UTC+2 in winter.
MONDAY_NOON = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # Monday 12:00 in Helsinki
MONDAY_LATE = datetime(2026, 1, 5, 22, 30, tzinfo=UTC)  # already Tuesday 00:30 in Helsinki
WEDNESDAY = datetime(2026, 1, 14, 7, 15, tzinfo=UTC)  # Wednesday 9:15 in Helsinki
PERIOD = "from=2026-01-05&to=2026-01-18"
WHO = [{"key": "who", "labels": {"en": "Who answered", "fi": "Kuka vastasi"},
        "options": [{"value": "client", "labels": {"en": "Client", "fi": "Asiakas"}},
                    {"value": "relative", "labels": {"en": "Relative", "fi": "Omainen"}}]}]


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def add(unit, at, score, reason=None, channel="kiosk", segment=None, comment=None, flags="", kind=None, user=None):
    db.session.add(Response(
        id=new_id(), unit_id=unit.id, channel=channel, score=score, scale=unit.scale, reason=reason, comment=comment,
        segment=segment, answered_at=at, received_at=at, flags=flags, kind=kind, user_id=user.id if user else None,
    ))


@pytest.fixture
def unit(make_unit):
    """A unit with 13 counted answers over two weeks (hand count in the tests), one repeat press and staff remarks."""
    unit = make_unit("Vastaanotto", area="Etelä", segment_questions=WHO)
    client_seg, relative = {"who": "client"}, {"who": "relative"}
    add(unit, MONDAY_NOON, 5, "staff_attitude", segment=client_seg, comment="Ihana henkilökunta")
    add(unit, MONDAY_NOON, 5, "staff_attitude", segment=relative)
    add(unit, MONDAY_NOON, 4, segment=client_seg)
    add(unit, MONDAY_NOON, 3)
    add(unit, MONDAY_NOON, 1, "waiting_time", segment=relative, comment="Liian pitkä jono")
    add(unit, MONDAY_NOON, 2, "waiting_time", segment=relative)
    add(unit, MONDAY_NOON, 2, "information")
    add(unit, MONDAY_NOON, 1, flags="repeat")
    add(unit, MONDAY_LATE, 5, channel="qr")
    for score in (4, 4, 5):
        add(unit, WEDNESDAY, score, segment=client_seg)
    add(unit, WEDNESDAY, 1)
    add(unit, WEDNESDAY, 1, "waiting_time")
    db.session.commit()
    return unit


def text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def cells(html, marker):
    """Return the texts of the cells of the table row whose <tr> carries the marker."""
    start = html.index(f"<tr {marker}")
    row = html[start:html.index("</tr>", start)]
    return [text(cell) for cell in re.split(r"<t[hd][^>]*>", row)[1:]]


def figure(html, name):
    match = re.search(rf'data-figure="{name}">(.*?)</dd>', html, re.S)
    return text(match.group(1))


def heat(html, weekday, hour):
    return int(re.search(rf'data-weekday="{weekday}" data-hour="{hour}">(\d+)<', html).group(1))


def page(client, unit, query=PERIOD):
    response = client.get(f"/manage/units/{unit.code}?{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_it_counts_each_face_in_the_period_with_its_share_and_interval(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    assert re.search(r'data-figure="period-answers">(\d+)<', html).group(1) == "13"
    # 13 answers: very good 4, good 3, neither 1, poor 2, very poor 3.
    assert cells(html, 'data-face="5"')[:2] == ["Very good", "4"]
    assert cells(html, 'data-face="4"')[1] == "3"
    assert cells(html, 'data-face="1"')[1] == "3"
    assert cells(html, 'data-face="5"')[2] == "31 % (95 % interval 13–58 %)"  # 4 of 13
    assert figure(html, "period-positive") == "54 % (95 % interval 29–77 %)"  # 7 of 13
    assert figure(html, "period-negative") == "38 % (95 % interval 18–64 %)"  # 5 of 13
    # Index: (4×100 + 3×75 + 50 + 2×25 + 3×0) / 13 = 55.8
    assert figure(html, "period-index").startswith("56 / 100 (95 % interval")


def test_it_draws_a_weekly_trend_with_a_table_of_the_same_numbers(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    svg = re.search(r'<svg class="chart trend".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('class="bar"') == 2
    assert "style=" not in svg
    table = html[html.index('data-table="trend"'):]
    table = table[:table.index("</table>")]
    rows = [text(r) for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]
    assert rows[0].startswith("2026-W02") and " 8 " in rows[0]
    assert rows[1] == "2026-W03 (12.1.–18.1.2026) 5 60 % (95 % interval 23–88 %) 40 % (95 % interval 12–77 %)"


def test_the_heatmap_counts_answers_in_local_time(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    assert heat(html, 0, 12) == 7  # Monday 10:00 UTC is noon in Helsinki
    assert heat(html, 1, 0) == 1  # Monday 22:30 UTC is Tuesday 00:30 in Helsinki
    assert heat(html, 0, 22) == 0 and heat(html, 0, 10) == 0
    assert heat(html, 2, 9) == 5
    assert re.search(r'class="heat heat-4" data-weekday="0" data-hour="12"', html)
    assert re.search(r'class="heat heat-0" data-weekday="0" data-hour="10"', html)


def test_it_shows_the_reasons_for_positive_and_negative_answers(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    negative = html[html.index('data-reasons="negative"'):]
    assert cells(negative, 'data-reason="waiting_time"') == ["Waiting time", "3", "60 % (95 % interval 23–88 %)"]
    assert cells(negative, 'data-reason="information"')[1] == "1"
    positive = html[html.index('data-reasons="positive"'):html.index('data-reasons="negative"')]
    assert cells(positive, 'data-reason="staff_attitude"') == ["Staff attitude", "2", "29 % (95 % interval 8–64 %)"]
    assert "waiting_time" not in positive


def test_it_breaks_the_figures_down_by_segment(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    assert "Who answered" in html
    assert cells(html, 'data-segment="Client"')[:3] == ["Client", "5", "100 % (95 % interval 57–100 %)"]
    assert cells(html, 'data-segment="Relative"')[1:3] == ["3", "fewer than 5 answers"]


def test_a_unit_without_segment_answers_shows_no_segment_table(client, login_as, make_unit):
    other = make_unit("Hammashoitola")
    add(other, MONDAY_NOON, 5)
    db.session.commit()
    login_as("manager", [other.code])
    assert "Segments" not in page(client, other)


def test_staff_logged_remarks_show_beside_comments_without_who_logged_them(client, login_as, unit, make_user):
    staff = make_user("staff", [unit.code], email="sari.staff@example.org")
    staff.name = "Sari Staffinen"
    add(unit, MONDAY_NOON, None, channel="spoken", kind="suggestion", user=staff,
        comment="Toivoivat lisää tuoleja odotustilaan")
    add(unit, MONDAY_NOON, None, channel="phone", kind="praise", user=staff,
        comment="Omainen kiitti rauhallisesta kotiutuksesta")
    db.session.commit()
    login_as("manager", [unit.code])
    html = page(client, unit)
    remarks = html[html.index("What staff heard"):html.index('id="downloads-title"')]
    assert "Toivoivat lisää tuoleja odotustilaan" in remarks
    assert "Suggestion" in remarks and "Spoken" in remarks and "Logged by staff" in remarks
    praise = re.search(r'<li class="remark remark-praise praise">(.*?)</li>', remarks, re.S).group(1)
    assert "Praise" in text(praise) and "Phone call" in praise
    assert "Praise: 1 · Suggestions: 1 · Complaints: 0" in text(remarks)
    assert "sari.staff" not in html and "Staffinen" not in html


def test_positive_client_comments_are_marked_as_praise(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    clients = html[html.index("What clients wrote"):html.index("What staff heard")]
    items = re.findall(r"<li( class=\"praise\")?>(.*?)</li>", clients, re.S)
    by_text = {("Ihana" in body): (marked, text(body)) for marked, body in items}
    marked, body = by_text[True]
    assert marked and body.startswith("Praise Ihana henkilökunta")
    marked, body = by_text[False]
    assert not marked and "Praise" not in body and "Liian pitkä jono" in body


def test_the_channel_filter_counts_only_that_channel(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit, PERIOD + "&channel=qr")
    assert cells(html, 'data-face="5"')[1] == "1"
    assert cells(html, 'data-face="1"')[1] == "0"
    assert figure(html, "period-positive") == "fewer than 5 answers"
    assert heat(html, 1, 0) == 1 and heat(html, 0, 12) == 0
    assert '<option value="qr" selected>' in html
    assert "channel=qr" in re.search(r'data-refresh="([^"]+)"', html).group(1)


def test_the_period_filter_narrows_every_figure(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit, "from=2026-01-05&to=2026-01-11")
    assert cells(html, 'data-face="5"')[1] == "3"
    assert cells(html, 'data-face="4"')[1] == "1"
    assert heat(html, 2, 9) == 0
    assert figure(html, "period-positive").startswith("50 %")  # 4 of 8


def test_repeated_presses_count_only_when_asked_for(client, login_as, unit):
    login_as("manager", [unit.code])
    assert cells(page(client, unit), 'data-face="1"')[1] == "3"
    assert cells(page(client, unit, PERIOD + "&flagged=1"), 'data-face="1"')[1] == "4"


def test_figures_over_fewer_than_5_answers_are_never_shown_as_numbers(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit, "from=2026-01-05&to=2026-01-05&channel=qr")
    for name in ("period-positive", "period-negative", "period-index"):
        assert figure(html, name) == "fewer than 5 answers"
    assert cells(html, 'data-face="5"')[2] == "fewer than 5 answers"


def test_it_defaults_to_the_last_four_weeks(client, login_as, unit):
    login_as("manager", [unit.code])
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    first = re.search(r'name="from" value="([\d-]+)"', html).group(1)
    last = re.search(r'name="to" value="([\d-]+)"', html).group(1)
    assert datetime.fromisoformat(first).weekday() == 0
    assert 21 <= (datetime.fromisoformat(last) - datetime.fromisoformat(first)).days <= 27
    assert html.count('class="bar"') == 4


@pytest.mark.parametrize("query", ["from=2026-02-01&to=2026-01-01", "from=yesterday", "channel=pigeon",
                                   "from=2020-01-01&to=2026-01-01"])
def test_a_bad_period_is_explained_with_a_400(client, login_as, unit, query):
    login_as("manager", [unit.code])
    assert client.get(f"/manage/units/{unit.code}?{query}").status_code == 400


def test_it_links_the_digest_and_the_praise_wall(client, login_as, unit):
    login_as("manager", [unit.code])
    html = page(client, unit)
    assert f'href="/manage/units/{unit.code}/digest"' in html
    assert f'href="/manage/units/{unit.code}/walls"' in html


def test_it_says_what_changed_in_the_last_complete_week(client, login_as, make_unit, app):
    from datetime import timedelta

    from server import insight

    unit = make_unit("Neuvola")
    monday = insight.last_complete_week(app.config["HYMY_TIMEZONE"])
    noon = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for weeks_before in range(1, 5):
        for i in range(20):
            add(unit, noon - timedelta(weeks=weeks_before), 5 if i < 18 else 1)
    for i in range(20):
        add(unit, noon, 1 if i < 12 else 5, "waiting_time" if i < 12 else None)
    db.session.commit()
    login_as("manager", [unit.code])
    html = client.get(f"/manage/units/{unit.code}").get_data(as_text=True)
    changes = html[html.index('id="changes-title"'):html.index('id="period-title"')]
    assert insight.week_name(monday) in changes
    assert re.search(r'class="notable-worse"><span class="direction">Worse:</span> 40 % of answers were positive',
                     changes)
    assert f'href="/manage/units/{unit.code}/digest"' in changes


def test_a_week_of_noise_says_nothing_changed(client, login_as, unit):
    login_as("manager", [unit.code])
    assert "No change stood out from the weeks before." in page(client, unit)


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_it_renders_in_every_language(client, login_as, unit, lang):
    login_as("manager", [unit.code])
    html = page(client, unit, f"{PERIOD}&lang={lang}")
    day = {"fi": "maanantai", "sv": "måndag", "en": "Monday"}[lang]
    assert f'<th scope="row">{day}</th>' in html
