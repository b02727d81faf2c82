"""A nurse logs spoken praise on her phone, in a real browser."""

import pytest
from playwright.sync_api import expect

from server.models import Response, db
from tests.conftest import PASSWORD
from tests.test_accessibility import audit

pytestmark = pytest.mark.browser

PRAISE = "Omainen kiitti rauhallisesta kotiutuksesta"


def sign_in(page, base, email):
    """Sign in through the real form, in English, and wait until signed in."""
    page.goto(f"{base}/login?lang=en")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_nurse_logs_spoken_praise_on_her_phone(live_server, phone, make_unit, make_user):
    unit = make_unit("Osasto 3")
    nurse = make_user("staff", scope=[unit.code], email="hoitaja@example.org")

    sign_in(phone, live_server, nurse.email)

    phone.goto(f"{live_server}/staff/log")
    phone.locator("label.chip", has_text="Praise").tap()
    expect(phone.get_by_role("radio", name="Praise")).to_be_checked()
    expect(phone.get_by_role("radio", name="Spoken")).to_be_checked()
    phone.get_by_label("What was said").fill(PRAISE)
    phone.get_by_role("button", name="Save", exact=True).tap()

    expect(phone.get_by_role("status")).to_have_text("Saved.")
    recent = phone.get_by_role("region", name="Your recent entries")
    expect(recent.locator(".entry").first).to_contain_text(PRAISE)
    expect(recent.locator(".entry").first).to_contain_text("Praise")
    expect(phone.get_by_label("What was said")).to_have_value("")

    db.session.expire_all()
    [entry] = db.session.execute(db.select(Response)).scalars()
    assert (entry.channel, entry.kind, entry.user_id) == ("spoken", "praise", nurse.id)


def test_the_quick_log_targets_are_large_enough_to_tap(live_server, phone, make_unit, make_user):
    unit = make_unit("Osasto 3")
    nurse = make_user("staff", scope=[unit.code])
    sign_in(phone, live_server, nurse.email)
    phone.goto(f"{live_server}/staff/log")
    for target in [*phone.locator("label.chip").all(), phone.get_by_role("button", name="Save", exact=True)]:
        box = target.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, target.inner_text()


@pytest.fixture
def audited_phone(browser):
    """A phone-sized page that lets axe-core in (the pages' CSP would refuse the injected script)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, bypass_csp=True)
    yield context.new_page()
    context.close()


def test_the_quick_log_pages_have_no_wcag_violations(live_server, audited_phone, make_unit, make_user):
    page = audited_phone
    unit = make_unit("Osasto 3")
    nurse = make_user("staff", scope=[unit.code])
    sign_in(page, live_server, nurse.email)
    page.goto(f"{live_server}/staff/log")
    page.get_by_role("button", name="Save", exact=True).tap()  # nothing typed: the form shows its errors
    expect(page.get_by_role("alert")).to_contain_text("What was said")
    assert audit(page) == []
    page.get_by_label("What was said").fill(PRAISE)
    page.get_by_role("button", name="Save", exact=True).tap()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert audit(page) == []
    page.get_by_role("link", name="Correct").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Correct an entry")
    assert audit(page) == []
