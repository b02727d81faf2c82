"""WCAG 2.1 AA: axe-core in Debian's Chromium finds no violations on any page type."""

from pathlib import Path

import pytest

from server.insight_models import WallLink
from server.models import Response, db
from tests.conftest import PASSWORD, new_id

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = pytest.mark.browser


@pytest.fixture
def site(app, make_unit, make_user):
    """A unit with a week of answers and a manager of it."""
    from datetime import datetime, timedelta, timezone

    unit = make_unit("Terveysasema", area="Etelä")
    now = datetime.now(timezone.utc)
    for i in range(30):
        db.session.add(Response(
            id=new_id(), unit_id=unit.id, channel="kiosk", score=1 + i % 5, scale="smiley5",
            reason="waiting_time" if i % 5 < 2 else "staff_attitude", comment="Kiitos hyvästä palvelusta" if i % 7 == 0 else None,
            lang="fi", answered_at=now - timedelta(hours=i * 3), received_at=now, flags="",
        ))
    db.session.commit()
    manager = make_user("admin", email="admin@example.org")
    wall = WallLink(unit_id=unit.id, name="Taukotila")
    db.session.add(wall)
    db.session.commit()
    return {"unit": unit, "manager": manager, "wall": wall.code, "area": unit.area.code}


def audit(page):
    """Run axe-core on the page; return violations of the WCAG 2.0/2.1 A and AA rules."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


@pytest.fixture
def context(browser):
    # axe is injected as a script; the pages' CSP would refuse it, so this context bypasses CSP.
    # Reduced motion: the praise wall's fade would otherwise be caught half-way, at half contrast.
    context = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True, reduced_motion="reduce")
    yield context
    context.close()


def sign_in(page, base, email):
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/manage/**")


CLIENT_PAGES = ["/k/{code}", "/k/{code}?lang=sv", "/q/{code}", "/q/{code}?lang=en", "/q/{code}/poster", "/login",
                "/wall/{wall}", "/privacy", "/accessibility"]
STAFF_PAGES = ["/manage/", "/manage/units/{code}", "/manage/units/{code}/edit", "/manage/units/new",
               "/manage/units/{code}/digest", "/manage/areas/{area}", "/manage/areas/{area}/digest",
               "/manage/units/{code}/walls", "/manage/units/{code}/segments", "/staff/log", "/admin/users"]


@pytest.mark.parametrize("path", CLIENT_PAGES)
def test_client_pages_have_no_wcag_violations(live_server, context, site, path):
    page = context.new_page()
    page.goto(live_server + path.format(code=site["unit"].code, wall=site["wall"]))
    assert audit(page) == []


def test_the_details_and_thanks_screens_have_no_wcag_violations(live_server, context, site):
    page = context.new_page()
    page.goto(f"{live_server}/q/{site['unit'].code}")
    page.click("[data-score='2']")
    page.wait_for_selector("[data-screen='details']:not([hidden])")
    assert audit(page) == []


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_have_no_wcag_violations(live_server, context, site, path):
    page = context.new_page()
    sign_in(page, live_server, site["manager"].email)
    page.goto(live_server + path.format(code=site["unit"].code, area=site["area"]))
    assert page.locator("h1").count() == 1
    assert audit(page) == []


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 768}, {"width": 360, "height": 740}])
def test_answer_targets_are_at_least_44_pixels(browser, live_server, site, viewport):
    context = browser.new_context(viewport=viewport, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server}/q/{site['unit'].code}")
    sizes = page.eval_on_selector_all(
        "[data-score], [data-lang]", "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    page.click("[data-score='4']")
    page.wait_for_selector("[data-screen='details']:not([hidden])")
    sizes += page.eval_on_selector_all(
        "[data-reason], [data-action]", "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    context.close()
    small = [s for s in sizes if s[0] and (s[0] < 44 or s[1] < 44)]
    assert sizes and not small, f"targets under 44x44 px: {small}"
