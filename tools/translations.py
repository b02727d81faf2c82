"""Refresh the catalogues: extract, update, fill English, list what needs translating, compile.

Run from the repository root: `.venv/bin/python tools/translations.py`. It does what
`make translations` does, and also copies each English msgid into the `en` catalogue
(English is the source language) and prints every fi/sv message still waiting for a
translator. Exit status 1 while any remain.
"""

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = ROOT / "server" / "translations"
TEMPLATE = CATALOGUES / "messages.pot"
LANGS = ("fi", "sv", "en")
# The Makefile's `-k _l`, plus the unaliased lazy names, so that no call is missed.
KEYWORDS = ("_l", "_pl:1c,2", "lazy_gettext", "lazy_ngettext:1,2", "lazy_pgettext:1c,2")


def pybabel(*args):
    """Run one pybabel command in-process."""
    CommandLineInterface().run(["pybabel", *args])


def po_path(lang):
    return CATALOGUES / lang / "LC_MESSAGES" / "messages.po"


def extract_and_update():
    """Extract the msgids from the source and merge them into every catalogue."""
    keywords = [arg for kw in KEYWORDS for arg in ("-k", kw)]
    pybabel("extract", "-F", str(ROOT / "babel.cfg"), *keywords, "-o", str(TEMPLATE),
            "--no-location", "--sort-output", str(ROOT))
    for lang in LANGS:
        if not po_path(lang).exists():
            pybabel("init", "-i", str(TEMPLATE), "-d", str(CATALOGUES), "-l", lang)
    pybabel("update", "-i", str(TEMPLATE), "-d", str(CATALOGUES), "--no-fuzzy-matching", "--ignore-obsolete")


def fill_english():
    """Make every English msgstr equal to its msgid; return how many were filled."""
    path = po_path("en")
    with path.open("rb") as f:
        catalog = read_po(f, locale="en")
    filled = 0
    for message in catalog:
        if not message.id or (message.string and not message.fuzzy and _complete(message)):
            continue
        message.string = message.id
        message.flags.discard("fuzzy")
        filled += 1
    if filled:
        with path.open("wb") as f:
            write_po(f, catalog, ignore_obsolete=True)
    return filled


def _complete(message):
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def untranslated(lang):
    """The msgids of a catalogue that are empty or fuzzy."""
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    return [m.id for m in catalog if m.id and (m.fuzzy or not _complete(m))]


def main():
    extract_and_update()
    print(f"en: filled {fill_english()} message(s) with their msgid")
    pybabel("compile", "-d", str(CATALOGUES), "--statistics")
    waiting = {lang: untranslated(lang) for lang in LANGS}
    for lang, ids in waiting.items():
        for msgid in ids:
            print(f"{lang}: untranslated: {msgid if isinstance(msgid, str) else msgid[0]!r}")
    if any(waiting.values()):
        print("Translate these in server/translations/<lang>/LC_MESSAGES/messages.po, then run this again.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
