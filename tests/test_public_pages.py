"""The accessibility statement and the privacy notice: open to all, in three languages, accessible."""

import pytest

from tests.test_accessibility import audit

PAGES = ["/accessibility", "/privacy"]
TITLES = {"/accessibility": "Accessibility statement", "/privacy": "Privacy notice"}


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_the_page_opens_without_signing_in_in_each_language(client, path, lang):
    response = client.get(f"{path}?lang={lang}")
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    assert response.text.count("<h1") == 1
    assert "Sign out" not in response.text


@pytest.mark.parametrize("path", PAGES)
def test_the_page_is_titled_for_what_it_is(client, path):
    assert f">{TITLES[path]}</h1>" in client.get(f"{path}?lang=en").text


def test_the_accessibility_statement_is_honest_about_conformance_and_says_what_is_tested(client):
    html = client.get("/accessibility?lang=en").text
    assert "partially meets the WCAG 2.1 level AA requirements" in html
    for tested in ("axe-core", "44 by 44 pixels", "keyboard", "Screen readers announce", "reduced motion"):
        assert tested in html
    assert "Known gaps" in html
    assert "Traficom" in html and "saavutettavuus@traficom.fi" in html
    assert "Date of this statement" in html


@pytest.mark.parametrize(("lang", "site"), [("fi", "www.saavutettavuusvaatimukset.fi"),
                                            ("sv", "www.tillganglighetskrav.fi"), ("en", "www.webaccessibility.fi")])
def test_the_supervisory_authority_is_linked_in_the_readers_language(client, lang, site):
    assert f'<a href="https://{site}">{site}</a>' in client.get(f"/accessibility?lang={lang}").text


def test_the_accessibility_statement_shows_the_configured_contact(app, client):
    app.config["HYMY_ACCESSIBILITY_CONTACT"] = "saavutettavuus@hyvinvointialue.example.fi"
    html = client.get("/accessibility?lang=en").text
    assert '<a href="mailto:saavutettavuus@hyvinvointialue.example.fi">' in html


def test_without_a_contact_the_statement_says_where_to_ask(client):
    html = client.get("/accessibility?lang=en").text
    assert "for its accessibility contact" in html


def test_the_privacy_notice_names_the_controller_and_its_contact(app, client):
    app.config["HYMY_CONTROLLER_NAME"] = "Länsi-Uudenmaan hyvinvointialue"
    app.config["HYMY_PRIVACY_CONTACT"] = "tietosuoja@hyvinvointialue.example.fi"
    html = client.get("/privacy?lang=en").text
    assert "Länsi-Uudenmaan hyvinvointialue" in html
    assert '<a href="mailto:tietosuoja@hyvinvointialue.example.fi">' in html


def test_the_privacy_notice_says_what_is_and_is_not_stored(app, client):
    app.config["HYMY_RETENTION_DAYS"] = 730
    html = client.get("/privacy?lang=en").text
    assert "No IP address" in html and "user agent" in html
    assert "personal identity codes, phone numbers and e-mail addresses are replaced" in html
    assert "Answers are deleted after 730 days." in html


def test_the_phone_page_links_to_both_statements_and_the_kiosk_does_not(client, make_unit):
    unit = make_unit()
    phone = client.get(f"/q/{unit.code}?lang=sv").text
    assert 'href="/privacy?lang=sv"' in phone
    assert 'href="/accessibility?lang=sv"' in phone
    kiosk = client.get(f"/k/{unit.code}").text
    assert "/privacy" not in kiosk and "/accessibility" not in kiosk


def test_the_answer_pages_set_no_cookies(client, make_unit):
    unit = make_unit()
    for path in (f"/q/{unit.code}", f"/k/{unit.code}", "/privacy", "/accessibility"):
        assert "Set-Cookie" not in client.get(path).headers


@pytest.fixture
def context(browser):
    # axe is injected as a script; the pages' CSP would refuse it, so this context bypasses CSP.
    context = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True)
    yield context
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", [*PAGES, "/accessibility?lang=sv", "/privacy?lang=en"])
def test_the_statements_have_no_wcag_violations(live_server, context, path):
    page = context.new_page()
    page.goto(live_server + path)
    assert audit(page) == []


@pytest.mark.browser
def test_the_settings_page_and_the_segment_question_have_no_wcag_violations(live_server, context, make_unit, make_user):
    from tests.conftest import PASSWORD
    from tests.test_segments import WHO

    unit = make_unit("Vastaanotto", segment_questions=[WHO], easy_read=True)
    admin = make_user("admin")
    page = context.new_page()
    page.goto(f"{live_server}/q/{unit.code}")
    page.click("[data-score='2']")
    page.click("[data-reveal=reasons]")
    page.wait_for_selector("[data-segment-key]:visible")
    assert audit(page) == []

    page.goto(f"{live_server}/login")
    page.fill("#email", admin.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/manage/**")
    page.goto(f"{live_server}/manage/units/{unit.code}/segments")
    assert audit(page) == []
