"""Scrub personal data from free text before it is stored."""

import re

MARKER = "[•••]"
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# Day, month, year, century sign (including the 2023 additions), individual number, check.
HETU = re.compile(r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+ABCDEFUVWXY])(\d{3})([0-9A-Ya-y])(?![0-9A-Za-z])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# +358 40 123 4567, 00358 40 1234567, 040-123 4567, (09) 1234 567, 0401234567: a leading
# +, 00 or 0, then digits in groups split by single spaces or dashes. Dots are left out so
# that dates such as 12.11.2026 stay.
PHONE = re.compile(r"(?<![\w+])(?:\+|\(?0)\d*\)?(?:[ -]?\d){5,}(?!\w)")


def valid_hetu(match):
    day, month, year, _sign, individual, check = match.groups()
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        return False
    return HETU_CHECK[int(day + month + year + individual) % 31] == check.upper()


def _phone(match):
    digits = re.sub(r"\D", "", match.group(0))
    return MARKER if 7 <= len(digits) <= 15 else match.group(0)


def redact(text):
    """Replace identity codes, e-mail addresses and phone numbers with a visible marker."""
    if not text:
        return text
    text = HETU.sub(lambda m: MARKER if valid_hetu(m) else m.group(0), text)
    text = EMAIL.sub(MARKER, text)
    return PHONE.sub(_phone, text)
