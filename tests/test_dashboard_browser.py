"""The dashboard and the area view render with data in a real browser, under the real CSP, without WCAG violations."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from server.models import Response, db
from tests.conftest import PASSWORD, new_id
from tests.test_accessibility import audit

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, make_unit, make_user):
    """Two units of an area with four weeks of answers, reasons, comments and a logged remark; a director."""
    now = datetime.now(UTC)
    units = [make_unit("Terveysasema", area="Etelä"), make_unit("Hammashoitola", area="Etelä")]
    for u, unit in enumerate(units):
        for i in range(120):
            score = 1 + (i * (3 + u)) % 5
            db.session.add(Response(
                id=new_id(), unit_id=unit.id, channel="kiosk" if i % 4 else "qr", score=score, scale="smiley5",
                reason=("waiting_time" if score < 3 else "staff_attitude") if i % 3 else None,
                comment="Kiitos ystävällisestä palvelusta" if i % 17 == 0 else None,
                answered_at=now - timedelta(hours=5 * i + 1), received_at=now, flags="",
            ))
    db.session.add(Response(id=new_id(), unit_id=units[0].id, channel="spoken", score=None, scale="smiley5",
                            kind="praise", comment="Omainen kiitti rauhallisesta kotiutuksesta",
                            answered_at=now - timedelta(hours=2), received_at=now, flags=""))
    db.session.commit()
    director = make_user("director", ["Etelä"])
    return {"units": units, "director": director, "area": units[0].area}


def open_as(browser, base, email, bypass_csp=False):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=bypass_csp)
    page = context.new_page()
    page.goto(f"{base}/login?lang=en")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/manage/**")
    return context, page


def csp_violations(page):
    messages = []
    page.on("console", lambda message: messages.append(message.text) if "Content Security Policy" in message.text
            else None)
    return messages


def test_the_dashboard_renders_its_charts_with_text_alternatives(live_server, browser, site, tmp_path):
    context, page = open_as(browser, live_server, site["director"].email)
    try:
        violations = csp_violations(page)
        page.goto(f"{live_server}/manage/units/{site['units'][0].code}")
        for name in ("Today", "Yesterday", "Chosen period", "Weekly trend", "Answers by hour and weekday",
                     "Reasons", "Latest comments", "What changed last week", "Alerts"):
            expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        chart = page.locator("svg.chart.trend")
        expect(chart).to_be_visible()
        assert chart.get_attribute("role") == "img"
        labelled_by = chart.get_attribute("aria-labelledby").split()
        assert page.locator(f"#{labelled_by[0]}").text_content() == "Weekly trend"
        assert chart.bounding_box()["height"] > 100
        chart.screenshot(path=str(tmp_path / "trend.png"))
        assert page.locator("svg.chart .bar").count() == 4
        # The text alternative: a table of the same weeks, one click away.
        page.get_by_text("The weekly trend as a table").click()
        expect(page.locator('[data-table="trend"] tbody tr')).to_have_count(4)
        expect(page.locator("table.heatmap td.heat-4").first).to_be_visible()
        expect(page.locator(".remarks .praise-label")).to_have_text("Praise")
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 20_000
        assert violations == []
    finally:
        context.close()


def test_the_area_view_renders_units_side_by_side(live_server, browser, site, tmp_path):
    context, page = open_as(browser, live_server, site["director"].email)
    try:
        violations = csp_violations(page)
        page.goto(f"{live_server}/manage/")
        page.get_by_role("link", name="Etelä").click()
        expect(page.get_by_role("heading", name="Etelä", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name="Units, what needs attention first")).to_be_visible()
        expect(page.locator("table.area-units tbody tr")).to_have_count(2)
        expect(page.locator("table.area-units svg.interval").first).to_be_visible()
        expect(page.locator(".small-multiples svg.sparkline")).to_have_count(2)
        label = page.locator(".small-multiples svg.sparkline").first.get_attribute("aria-label")
        assert label.startswith("% positive per week:")
        page.locator("table.area-units").screenshot(path=str(tmp_path / "area-table.png"))
        page.screenshot(path=str(tmp_path / "area.png"), full_page=True)
        assert (tmp_path / "area.png").stat().st_size > 10_000
        assert violations == []
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/manage/units/{unit}", "/manage/areas/{area}"])
def test_the_dashboard_pages_have_no_wcag_violations(live_server, browser, site, path):
    # axe is injected as a script, which the CSP would refuse: this context bypasses it.
    context, page = open_as(browser, live_server, site["director"].email, bypass_csp=True)
    try:
        page.goto(live_server + path.format(unit=site["units"][0].code, area=site["area"].code))
        assert audit(page) == []
    finally:
        context.close()
