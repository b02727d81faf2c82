"""The fi, sv and en catalogues cover every message in the source, compiled and placeholder-safe."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = ROOT / "server" / "translations"
LANGS = ("fi", "sv", "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "_pl": ((1, "c"), 2), "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2)}
# Named placeholders (%(code)s) and escaped percent signs (%%): both must survive translation.
FORMAT_TOKEN = re.compile(r"%%|%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")
HOW_TO_FIX = "run `.venv/bin/python tools/translations.py` (or `make translations`) and translate what it lists"


@pytest.fixture(scope="module")
def source_messages():
    """Extract every msgid from templates/ and server/ with the method map of babel.cfg."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


def po(lang):
    with (CATALOGUES / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def mo(lang):
    with (CATALOGUES / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        return read_mo(f)


def strings(message):
    """Every msgstr of a message as a tuple (one, or one per plural form)."""
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def ids(message):
    """The msgid, and the msgid_plural if there is one, as a tuple."""
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def translated(catalog):
    """Map (msgid, context) to the translation, leaving out fuzzy and empty entries."""
    return {
        (ids(message), message.context): strings(message)
        for message in catalog
        if message.id and not message.fuzzy and any(strings(message))
    }


def test_the_source_has_messages_to_translate(source_messages):
    assert ("How did we do today?", None) in source_messages
    assert ("Waiting time", None) in source_messages, "lazy _l() strings in server/*.py were not extracted"
    assert ("Thank you for your feedback!", None) in source_messages, "template strings were not extracted"


@pytest.mark.parametrize("lang", LANGS)
def test_every_source_message_is_translated(lang, source_messages):
    catalog = po(lang)
    problems = []
    for (msgid, context), where in sorted(source_messages.items(), key=lambda item: item[1]):
        message = catalog.get(msgid, context)
        if message is None:
            problems.append(f"missing     {msgid!r} ({where})")
        elif message.fuzzy:
            problems.append(f"fuzzy       {msgid!r} ({where})")
        elif not all(strings(message)):
            problems.append(f"untranslated {msgid!r} ({where})")
    assert not problems, f"{lang}: {len(problems)} message(s) need work; {HOW_TO_FIX}:\n" + "\n".join(problems)


def test_english_translations_repeat_the_msgid():
    wrong = [m.id for m in po("en") if m.id and strings(m) != ids(m)]
    assert not wrong, f"en: msgstr differs from msgid for {wrong}"


@pytest.mark.parametrize("lang", LANGS)
def test_the_compiled_catalogue_matches_its_source(lang):
    stale = translated(po(lang)).items() ^ translated(mo(lang)).items()
    assert not stale, (
        f"{lang}: messages.mo is out of date with messages.po; compile it with `make translations` "
        f"(pybabel compile): {sorted(map(str, stale))[:10]}"
    )


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders_of_their_msgid(lang):
    broken = []
    for message in po(lang):
        if not message.id:
            continue
        sources = ids(message)
        for form, text in enumerate(strings(message)):
            # msgstr[0] follows the singular msgid, every other plural form the plural one.
            expected = sorted(FORMAT_TOKEN.findall(sources[min(form, len(sources) - 1)]))
            if text and sorted(FORMAT_TOKEN.findall(text)) != expected:
                broken.append(f"{message.id!r} -> {text!r}")
    assert not broken, f"{lang}: placeholders differ from the msgid:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("lang", "expected", "not_expected"),
    [
        ("fi", ["Miten onnistuimme tänään?", "Erittäin hyvä", "Ei hyvä eikä huono", "Kiitos palautteestasi!", "Ohita"],
         "How did we do today?"),
        ("sv", ["Hur lyckades vi i dag?", "Mycket bra", "Varken bra eller dålig", "Tack för din respons!", "Hoppa över"],
         "How did we do today?"),
        ("en", ["How did we do today?", "Very good", "Neither good nor poor", "Thank you for your feedback!", "Skip"],
         "Miten onnistuimme"),
    ],
)
def test_the_phone_page_speaks_the_chosen_language(client, make_unit, lang, expected, not_expected):
    unit = make_unit()
    response = client.get(f"/q/{unit.code}?lang={lang}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'lang="{lang}"' in page
    for text in expected:
        assert text in page, f"{text!r} missing from the {lang} page"
    assert not_expected not in page
