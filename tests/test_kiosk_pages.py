"""The kiosk and phone pages, the manifest, the service worker, the QR code and the poster."""

import io
import json
import re

import pytest
import zxingcpp
from PIL import Image


def scores(html):
    return [int(s) for s in re.findall(r'<button[^>]*data-score="(\d+)"', html)]


@pytest.mark.parametrize(
    ("scale", "expected"),
    [("smiley5", [1, 2, 3, 4, 5]), ("smiley4", [1, 2, 3, 4]), ("nps", list(range(11)))],
)
@pytest.mark.parametrize("prefix", ["/k/", "/q/"])
def test_it_renders_one_button_per_score_of_the_scale(client, make_unit, scale, expected, prefix):
    unit = make_unit(scale=scale)
    response = client.get(prefix + unit.code)
    assert response.status_code == 200
    assert scores(response.text) == expected


def test_it_labels_every_face_with_visible_text(client, make_unit):
    html = client.get(f"/k/{make_unit().code}?lang=en").text
    for label in ("Very poor", "Poor", "Neither good nor poor", "Good", "Very good"):
        assert f'<span class="face-label">{label}</span>' in html


def test_it_renders_the_answer_hooks(client, make_unit):
    html = client.get(f"/q/{make_unit().code}").text
    for hook in ('data-reason="waiting_time"', 'data-reason="other"', '<textarea id="comment" name="comment"',
                 'data-action="send"', 'data-action="skip"', 'data-screen="thanks"',
                 'data-lang="fi"', 'data-lang="sv"', 'data-lang="en"'):
        assert hook in html


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_it_speaks_the_language_asked_for(client, make_unit, lang):
    html = client.get(f"/q/{make_unit().code}?lang={lang}").text
    assert f'<html lang="{lang}">' in html
    assert f'data-lang="{lang}"' in html
    assert re.search(rf'data-lang="{lang}"[^>]*aria-current="true"', html)


def test_a_kiosk_speaks_its_units_default_language_whatever_the_browser_prefers(client, make_unit):
    unit = make_unit(default_lang="sv")
    html = client.get(f"/k/{unit.code}", headers={"Accept-Language": "en"}).text
    assert '<html lang="sv">' in html


def test_the_phone_page_follows_the_browsers_language(client, make_unit):
    html = client.get(f"/q/{make_unit().code}", headers={"Accept-Language": "en"}).text
    assert '<html lang="en">' in html


def test_only_an_unenrolled_kiosk_carries_the_staff_notices(client, make_unit):
    unit = make_unit()
    assert 'data-notice="not-enrolled"' in client.get(f"/k/{unit.code}").text
    assert 'data-notice="not-enrolled"' not in client.get(f"/q/{unit.code}").text


@pytest.mark.parametrize(
    "path", ["/k/nosuchunit", "/q/nosuchunit", "/q/nosuchunit/qr.svg", "/q/nosuchunit/qr.png",
             "/q/nosuchunit/poster", "/k/nosuchunit/manifest.webmanifest"],
)
def test_it_answers_404_for_an_unknown_unit(client, app, path):
    assert client.get(path).status_code == 404


def test_the_pages_need_no_inline_script_or_style(client, make_unit):
    unit = make_unit()
    for path in (f"/k/{unit.code}", f"/q/{unit.code}", f"/q/{unit.code}/poster"):
        html = client.get(path).text
        assert "<style" not in html
        assert " style=" not in html
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert re.search(r"\son[a-z]+=", html) is None


def test_the_manifest_starts_the_kiosk_full_screen(client, make_unit):
    unit = make_unit()
    response = client.get(f"/k/{unit.code}/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    assert manifest["start_url"] == f"/k/{unit.code}"
    assert manifest["display"] == "fullscreen"
    with client.get(manifest["icons"][0]["src"]) as icon:
        assert icon.status_code == 200


def test_the_kiosk_links_its_manifest(client, make_unit):
    unit = make_unit()
    assert f'href="/k/{unit.code}/manifest.webmanifest"' in client.get(f"/k/{unit.code}").text


def test_the_service_worker_is_served_from_the_root_as_javascript(client, make_unit):
    with client.get("/sw.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert "no-cache" in response.headers["Cache-Control"]
        assert "cache-page" in response.text


def test_the_page_registers_a_service_worker_versioned_by_its_files(client, make_unit):
    html = client.get(f"/k/{make_unit().code}").text
    match = re.search(r'data-sw="(/sw\.js\?v=[0-9a-f]{12})"', html)
    assert match


@pytest.mark.parametrize("name", ["kiosk.js", "outbox.js", "kiosk.css", "icon.svg"])
def test_the_files_the_service_worker_caches_exist(client, name):
    with client.get(f"/static/{name}") as response:
        assert response.status_code == 200


def decode(png_bytes):
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png_bytes)))
    return [r.text for r in results]


def test_the_qr_code_leads_to_the_phone_page(client, make_unit):
    unit = make_unit()
    response = client.get(f"/q/{unit.code}/qr.png")
    assert response.mimetype == "image/png"
    assert decode(response.data) == [f"http://hymy.test/q/{unit.code}"]


def test_the_qr_code_comes_as_svg_too(client, make_unit):
    response = client.get(f"/q/{make_unit().code}/qr.svg")
    assert response.mimetype == "image/svg+xml"
    assert response.data.lstrip().startswith(b"<?xml") or b"<svg" in response.data[:300]


def test_the_poster_shows_the_name_the_question_the_code_and_the_short_link(client, make_unit):
    unit = make_unit(name="Hammashoitola Keskusta", questions={"fi": "Miten onnistuimme tänään?"})
    html = client.get(f"/q/{unit.code}/poster").text
    assert "Hammashoitola Keskusta" in html
    assert "Miten onnistuimme tänään?" in html
    assert f'src="/q/{unit.code}/qr.svg"' in html
    assert f"hymy.test/q/{unit.code}" in html


def test_the_poster_speaks_each_of_the_units_languages(client, make_unit):
    unit = make_unit(names={"fi": "Sosiaalitoimisto", "sv": "Socialbyrån"},
                     questions={"fi": "Miten onnistuimme?", "sv": "Hur lyckades vi?"})
    html = client.get(f"/q/{unit.code}/poster").text
    for text in ("Sosiaalitoimisto", "Socialbyrån", "Miten onnistuimme?", "Hur lyckades vi?"):
        assert text in html
    assert 'lang="sv"' in html
