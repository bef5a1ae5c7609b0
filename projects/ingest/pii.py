"""PII detection and redaction for dataset rows.

Detectors (each validated beyond its regex so that lookalikes are not flagged):

- email: ``local@domain.tld``. Addresses in code samples are flagged too (an address is personal data
  wherever it appears), but the documentation domains reserved by RFC 2606/6761 (example.com/.net/.org,
  *.example, *.test, *.invalid, *.localhost) are not.
- phone: international ``+CC ...`` (8-15 digits, E.164), North American ``(555) 123-4567`` /
  ``555-123-4567`` / ``555.123.4567`` (area code starting 2-9), national trunk-prefixed
  ``020 7946 0958`` / ``06 12 34 56 78`` (9-12 digits, separated groups), and a bare 9-15 digit run
  only right after a word like "phone", "tel", "call", "mobile". Never flagged: digits glued to a
  word, hyphen, slash or ``#`` (order ids like ``ORD-2024-555-0199``, SKUs, paths), numbers after
  "order", "invoice", "ticket", "ref", "id", "#", and unseparated digit runs without phone context.
- card: 13-19 digits, bare or in 4-4-4-4 / 4-6-5 / 4-6-4 groups (one consistent separator), starting
  with 2-6 (the major networks) and Luhn-valid.
- iban: country code + check digits + BBAN, length per country where known (15-34 otherwise),
  mod-97 checksum valid.
- ssn: US ``ddd-dd-dddd`` with area not 000/666/900-999, group not 00, serial not 0000.
- ip: IPv4 dotted quads with valid octets (no leading zeros) and IPv6 addresses (validated by
  ``ipaddress``). Loopback, unspecified and broadcast addresses are not personal and not flagged.
  Three-part versions (1.2.3) never match; a four-part dotted number is a version, not an IP, when
  glued to a letter (``v1.2.3.4``) or preceded by "version", "ver", "release", "build" or a
  requirement operator (``==``, ``>=``, ``~=``); otherwise a valid four-octet number is an IP.
- credentials: the ``user:password`` part of ``scheme://user:password@host``.

Overlapping matches are resolved by priority (credentials, email, iban, card, ssn, ip, phone).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

EMAIL, PHONE, CARD, IBAN, SSN, IP, CREDENTIALS = "email", "phone", "card", "iban", "ssn", "ip", "credentials"

DATA_CLASS: dict[str, str] = {
    EMAIL: "personal",
    PHONE: "personal",
    SSN: "personal",
    IP: "personal",
    CARD: "payment",
    IBAN: "payment",
    CREDENTIALS: "confidential",
}

PLACEHOLDER: dict[str, str] = {
    EMAIL: "<EMAIL>",
    PHONE: "<PHONE>",
    CARD: "<CARD>",
    IBAN: "<IBAN>",
    SSN: "<SSN>",
    IP: "<IP>",
    CREDENTIALS: "<CREDENTIALS>",
}

_PRIORITY = {CREDENTIALS: 0, EMAIL: 1, IBAN: 2, CARD: 3, SSN: 4, IP: 5, PHONE: 6}


@dataclass(frozen=True, slots=True)
class Match:
    type: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Finding:
    """One PII occurrence: `row` is the 1-based row number, `line` the source line when known."""

    row: int
    field: str
    type: str
    excerpt_masked: str
    data_class: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "line": self.line,
            "field": self.field,
            "type": self.type,
            "data_class": self.data_class,
            "excerpt_masked": self.excerpt_masked,
        }


# --- regexes (compiled once) ---------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![\w.+%/-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])"
)
_RESERVED_DOMAIN_RE = re.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)$", re.IGNORECASE
)

_CRED_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://([^\s/?#@:]+):([^\s/?#@]+)@[^\s/?#@]")

# Each pattern starts with a character class and only then checks its left context with a lookbehind:
# `re` can then skip ahead to candidate characters, which makes a search several times faster than a
# pattern that opens with a lookbehind.
_CARD_RE = re.compile(
    r"\d(?<![\w+-]\d)(?<!\d \d)"
    r"(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{4}|\d{3}([ -])\d{6}\2\d{4,5})(?![\w-])"
)

_IBAN_RE = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,31}")
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip

_SSN_RE = re.compile(r"(\d(?<![\w-]\d)\d{2})-(\d{2})-(\d{4})(?![\w-])")

_IPV4_RE = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w]|\.\d)")
_IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_CONTEXT_RE = re.compile(r"(?:\bversion|\bver\.?|\brelease|\bbuild|[=<>~!]=|[<>])\s*$", re.IGNORECASE)

# Phones never start glued to a word, hyphen, slash, '#', '.', '@' or '+', nor right after another
# digit group ("3704 0044 0532" inside an IBAN); X below is the first character of the match.
_LEFT_OF = r"(?<![\w+\-/#.@]{x})(?<!\d[ -]{x})"
_RIGHT = r"(?![\w\-/@]|[.,]\d)"
_PHONE_INTL_RE = re.compile(
    r"\+" + _LEFT_OF.format(x=r"\+") + r"\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}" + _RIGHT
)
_PHONE_NANP_RE = re.compile(
    r"[(2-9]"
    + _LEFT_OF.format(x="[(2-9]")
    + r"(?:(?<=\()[2-9]\d{2}\) ?|(?<=[2-9])\d{2}[ .-])\d{3}[ .-]\d{4}"
    + _RIGHT
    + r"(?![ -]\d)"
)
_PHONE_TRUNK_RE = re.compile(
    r"[(0]"
    + _LEFT_OF.format(x="[(0]")
    + r"(?:(?<=\()0\d{1,4}\)|(?<=0)\d{1,4})[ /-]\d{2,8}(?:[ -]\d{2,4}){0,3}"
    + _RIGHT
)
_PHONE_WORDS = r"\b(?:phone|tel|telephone|mobile|cell|call|whatsapp|fax|sms)\b"
_PHONE_KEYWORD_RE = re.compile(_PHONE_WORDS + r"[^\d\n]{0,15}(\+?\d{9,15})(?!\d)", re.IGNORECASE)
_NOT_PHONE_CONTEXT_RE = re.compile(
    r"(?:\border|\bord|\binvoice|\binv|\bticket|\bref|\breference|\bid|\bsku|\btracking|\baccount|#)"
    r"(?:\s*(?:no|number|nr|num)\.?)?\s*[:#]?\s*$",
    re.IGNORECASE,
)
_PHONE_CONTEXT_RE = re.compile(_PHONE_WORDS, re.IGNORECASE)

_SSN_SHAPE_RE = re.compile(r"\d{3}-\d{2}-\d{4}")
_DIGIT_RE = re.compile(r"\d")
_DROP_DIGITS = str.maketrans("", "", "0123456789")


# --- validators ----------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    parity = len(digits) % 2
    for index, char in enumerate(digits):
        value = ord(char) - 48
        if index % 2 == parity:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(char, 36)) for char in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _count_digits(text: str) -> int:
    return sum(1 for char in text if "0" <= char <= "9")


def _emails(text: str, out: list[Match]) -> None:
    for m in _EMAIL_RE.finditer(text):
        if not _RESERVED_DOMAIN_RE.search(m.group(1)):
            out.append(Match(EMAIL, m.start(), m.end()))


def _credentials(text: str, out: list[Match]) -> None:
    for m in _CRED_RE.finditer(text):
        out.append(Match(CREDENTIALS, m.start(1), m.end(2)))


def _cards(text: str, out: list[Match]) -> None:
    for m in _CARD_RE.finditer(text):
        digits = m.group(0).replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
            out.append(Match(CARD, m.start(), m.end()))


def _ibans(text: str, out: list[Match]) -> None:
    for m in _IBAN_RE.finditer(text):
        candidate = m.group(0)
        expected = _IBAN_LENGTHS.get(candidate[:2])
        # Walk the candidate to cut it at the expected length (a following word may have been swallowed).
        compact_chars: list[str] = []
        end = m.start()
        for offset, char in enumerate(candidate):
            if char == " ":
                continue
            compact_chars.append(char)
            end = m.start() + offset + 1
            if expected is not None and len(compact_chars) == expected:
                break
        compact = "".join(compact_chars)
        if expected is not None and len(compact) != expected:
            continue
        if not 15 <= len(compact) <= 34:
            continue
        if end < len(text) and text[end].isalnum():
            continue
        if iban_valid(compact):
            out.append(Match(IBAN, m.start(), end))


def _ssns(text: str, out: list[Match]) -> None:
    for m in _SSN_RE.finditer(text):
        area, group, serial = m.group(1), m.group(2), m.group(3)
        if area == "000" or area == "666" or area[0] == "9" or group == "00" or serial == "0000":
            continue
        out.append(Match(SSN, m.start(), m.end()))


def _ipv4s(text: str, out: list[Match]) -> None:
    if "." in text:
        for m in _IPV4_RE.finditer(text):
            try:
                address = ipaddress.IPv4Address(m.group(0))
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified or address == _BROADCAST:
                continue
            if _VERSION_CONTEXT_RE.search(text, max(0, m.start() - 12), m.start()):
                continue
            out.append(Match(IP, m.start(), m.end()))


def _ipv6s(text: str, out: list[Match]) -> None:
    if text.count(":") >= 2:
        for m in _IPV6_RE.finditer(text):
            candidate = m.group(0)
            if len(candidate) < 6 or not _DIGIT_RE.search(candidate):
                continue
            try:
                address = ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified:
                continue
            out.append(Match(IP, m.start(), m.end()))


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _phone_context_blocks(text: str, start: int) -> bool:
    window = text[max(0, start - 24) : start]
    return bool(_NOT_PHONE_CONTEXT_RE.search(window)) and not _PHONE_CONTEXT_RE.search(window)


def _trimmed_phone(text: str, start: int, end: int, low: int, high: int) -> int | None:
    """Return the end of the longest prefix of text[start:end] (cut at separators) with low..high digits."""
    while True:
        digits = _count_digits(text[start:end])
        if digits < low:
            return None
        if digits <= high:
            return end
        cut = max(text.rfind(" ", start, end), text.rfind("-", start, end), text.rfind(".", start, end))
        if cut <= start:
            return None
        end = cut


def _phones(text: str, out: list[Match]) -> None:
    if "+" in text:
        for m in _PHONE_INTL_RE.finditer(text):
            end = _trimmed_phone(text, m.start(), m.end(), 8, 15)
            if end is not None:
                out.append(Match(PHONE, m.start(), end))
    for m in _PHONE_NANP_RE.finditer(text):
        if not _phone_context_blocks(text, m.start()):
            out.append(Match(PHONE, m.start(), m.end()))
    if "0" in text:
        for m in _PHONE_TRUNK_RE.finditer(text):
            end = _trimmed_phone(text, m.start(), m.end(), 9, 12)
            if end is None or _SSN_SHAPE_RE.fullmatch(text, m.start(), end):
                continue
            if not _phone_context_blocks(text, m.start()):
                out.append(Match(PHONE, m.start(), end))
    for m in _PHONE_KEYWORD_RE.finditer(text):
        out.append(Match(PHONE, m.start(1), m.end(1)))


def scan_text(text: str) -> list[Match]:
    """All PII matches in `text`, non-overlapping, sorted by position."""
    found: list[Match] = []
    if "@" in text:
        if "://" in text:
            _credentials(text, found)
        _emails(text, found)
    # Cheap gate: every number-shaped detector needs digits, most need at least 7 of them.
    digits = len(text) - len(text.translate(_DROP_DIGITS))
    if digits and ":" in text:
        _ipv6s(text, found)
    if digits >= 4:
        _ipv4s(text, found)
        if digits >= 7:
            if digits >= 13:
                _cards(text, found)
            _ibans(text, found)
            if digits >= 9 and "-" in text:
                _ssns(text, found)
            _phones(text, found)
    if len(found) <= 1:
        return found
    found.sort(key=lambda match: (_PRIORITY[match.type], match.start))
    kept: list[Match] = []
    for match in found:
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    kept.sort(key=lambda match: match.start)
    return kept


# --- masking -------------------------------------------------------------------------------------


def _mask_digits(value: str, keep_last: int) -> str:
    total = _count_digits(value)
    seen = 0
    chars = []
    for char in value:
        if char.isdigit():
            seen += 1
            chars.append(char if seen > total - keep_last else "*")
        else:
            chars.append(char)
    return "".join(chars)


def mask_value(kind: str, value: str) -> str:
    """A masked rendering that shows the shape of the value and nothing that identifies it."""
    if kind == EMAIL:
        local, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    if kind in (CARD, PHONE):
        return _mask_digits(value, 4 if kind == CARD else 2)
    if kind == SSN:
        return "***-**-" + value[-4:]
    if kind == IBAN:
        compact_len = len(value.replace(" ", ""))
        chars, seen = [], 0
        for char in value:
            if char == " ":
                chars.append(char)
                continue
            seen += 1
            chars.append(char if seen <= 2 or seen > compact_len - 4 else "*")
        return "".join(chars)
    if kind == IP:
        if ":" in value:
            return value.split(":", 1)[0] + ":****"
        return value.split(".", 1)[0] + ".*.*.*"
    if kind == CREDENTIALS:
        user, _, _ = value.partition(":")
        return f"{user[:1]}***:****"
    return "****"


def masked_excerpt(text: str, match: Match, matches: list[Match] | None = None, context: int = 16) -> str:
    """The match masked with a little surrounding context in which every other match is masked too."""
    lo = max(0, match.start - context)
    hi = min(len(text), match.end + context)
    pieces: list[str] = []
    cursor = lo
    for other in matches or [match]:
        if other.end <= lo or other.start >= hi:
            continue
        start, end = max(other.start, lo), min(other.end, hi)
        pieces.append(text[cursor:start])
        if other.start >= lo and other.end <= hi:
            pieces.append(mask_value(other.type, text[other.start : other.end]))
        else:
            pieces.append("*" * (end - start))
        cursor = end
    pieces.append(text[cursor:hi])
    excerpt = "".join(pieces).replace("\n", " ")
    return ("…" if lo > 0 else "") + excerpt + ("…" if hi < len(text) else "")


# --- rows ----------------------------------------------------------------------------------------


def iter_text_fields(row: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, text) for every string in a normalised row, chat history included."""
    for key, value in row.items():
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    for sub_key, sub_value in item.items():
                        if isinstance(sub_value, str):
                            yield f"{key}[{index}].{sub_key}", sub_value


def scan_fields(fields: Iterable[tuple[str, str]], row: int, line: int | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for field, text in fields:
        matches = scan_text(text)
        for match in matches:
            findings.append(
                Finding(
                    row=row,
                    field=field,
                    type=match.type,
                    excerpt_masked=masked_excerpt(text, match, matches),
                    data_class=DATA_CLASS[match.type],
                    line=line,
                )
            )
    return findings


def scan_rows(rows_iter: Iterable[dict[str, Any]]) -> list[Finding]:
    """Scan normalised rows (dicts); `Finding.row` counts rows from 1."""
    findings: list[Finding] = []
    for number, row in enumerate(rows_iter, start=1):
        findings.extend(scan_fields(iter_text_fields(row), number))
    return findings


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """Finding counts by type (email, phone, card…)."""
    return dict(Counter(finding.type for finding in findings))


# --- redaction -----------------------------------------------------------------------------------


def redact_text(text: str) -> str:
    matches = scan_text(text)
    if not matches:
        return text
    pieces: list[str] = []
    cursor = 0
    for match in matches:
        pieces.append(text[cursor : match.start])
        pieces.append(PLACEHOLDER[match.type])
        cursor = match.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    return value


def _redact_field(text: str) -> str:
    """Redact a field; a field that holds a JSON object (extraction output) is redacted value by value
    so that it stays valid JSON, and re-serialised canonically only when something changed."""
    if text[:1] == "{":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            redacted = _redact_value(parsed)
            if redacted == parsed:
                return text
            return json.dumps(redacted, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return redact_text(text)


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def redact_row(row: dict[str, Any]) -> dict[str, Any]:
    redacted: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str):
            redacted[key] = _redact_field(value)
        else:
            redacted[key] = _redact_value(value)
    return redacted


def redact_rows(src: BinaryIO, dest: BinaryIO) -> tuple[int, str]:
    """Stream normalised JSONL rows from `src` to `dest` with PII replaced by typed placeholders.

    Returns (row_count, sha256 of what was written). Blank lines are dropped.
    """
    digest = hashlib.sha256()
    count = 0
    buffer: list[bytes] = []
    for raw in src:
        if not raw.strip():
            continue
        row = json.loads(raw)
        buffer.append((_ROW_ENCODER.encode(redact_row(row)) + "\n").encode("utf-8"))
        count += 1
        if len(buffer) >= 1024:
            chunk = b"".join(buffer)
            digest.update(chunk)
            dest.write(chunk)
            buffer.clear()
    if buffer:
        chunk = b"".join(buffer)
        digest.update(chunk)
        dest.write(chunk)
    return count, digest.hexdigest()
