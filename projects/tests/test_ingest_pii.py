"""PII detection, masking and redaction: true positives and lookalikes that must not be flagged."""

import io
import json

import pytest

from projects.ingest import pii


def found(text: str) -> list[tuple[str, str]]:
    return [(match.type, text[match.start : match.end]) for match in pii.scan_text(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("mail jane.doe@corp.com today", "email", "jane.doe@corp.com"),
        ('`git config user.email "dev@acme.io"`', "email", "dev@acme.io"),
        ("call +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
        ("phone +1 (415) 555-0199.", "phone", "+1 (415) 555-0199"),
        ("ring +4915112345678", "phone", "+4915112345678"),
        ("office (415) 555-0199", "phone", "(415) 555-0199"),
        ("cell 415-555-0199 evenings", "phone", "415-555-0199"),
        ("London 020 7946 0958", "phone", "020 7946 0958"),
        ("Paris 06 12 34 56 78", "phone", "06 12 34 56 78"),
        ("tel: 4155550199", "phone", "4155550199"),
        ("card 4242 4242 4242 4242 exp 12/27", "card", "4242 4242 4242 4242"),
        ("card 5555-5555-5555-4444", "card", "5555-5555-5555-4444"),
        ("amex 378282246310005", "card", "378282246310005"),
        ("iban DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432.", "iban", "GB82WEST12345698765432"),
        ("ssn 123-45-6789", "ssn", "123-45-6789"),
        ("from 192.168.1.10 at night", "ip", "192.168.1.10"),
        ("host 10.0.0.1:8080", "ip", "10.0.0.1"),
        ("v6 2001:db8::8a2e:370:7334 here", "ip", "2001:db8::8a2e:370:7334"),
        ("db postgres://bob:s3cret@db.internal/app", "credentials", "bob:s3cret"),
    ],
)
def test_true_positives(text, kind, value):
    assert (kind, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4242 4242 4242 4241",  # 16 digits, fails Luhn
        "4242424242424241",
        "order ORD-2024-555-0199 shipped",  # order id shaped like a phone number
        "order ORD-555-123-4567",
        "Order #555-123-4567",
        "ticket no. 415-555-0199",
        "serial 41555501991234",  # a long digit run without phone structure or context
        "DE89 3704 0044 0532 0130 01",  # IBAN with a bad checksum
        "GB82WEST12345698765431",
        "000-12-3456",  # invalid SSN area
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
        "released 1.2.3",
        "version 1.2.3.4",
        "pip install lib==2.0.1.3",
        "build v1.2.3.4",
        "Chrome 120.0.6099.109",
        "999.1.1.1",
        "127.0.0.1 and 0.0.0.0",
        "meet at 12:30:45",
        "std::vector<int>",
        "MAC 00:1A:2B:3C:4D:5E",
        "see user@example.com or admin@app.test",  # reserved documentation domains
        "on 2024-05-12 at 10:30",
        "dated 05/12/2024",
        "price 1 500 000",
        "https://user@host.com/path",  # a user name without a password is not a credential
    ],
)
def test_lookalikes_are_not_flagged(text):
    assert found(text) == []


def test_email_in_code_sample_is_flagged_unless_reserved_domain():
    code = 'send_mail(to="ops@acme-corp.com", cc="noreply@example.com")'
    assert found(code) == [("email", "ops@acme-corp.com")]


def test_credentials_win_over_the_email_lookalike_inside_the_url():
    assert found("redis://admin:hunter2@cache.acme.io:6379") == [("credentials", "admin:hunter2")]


def test_data_class_table_covers_every_type():
    assert pii.DATA_CLASS == {
        "email": "personal",
        "phone": "personal",
        "ssn": "personal",
        "ip": "personal",
        "card": "payment",
        "iban": "payment",
        "credentials": "confidential",
    }
    assert set(pii.PLACEHOLDER) == set(pii.DATA_CLASS)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("jane.doe@example-mail.com", "j***@e***.com"),
        ("4242 4242 4242 4242", "**** **** **** 4242"),
        ("123-45-6789", "***-**-6789"),
        ("DE89 3704 0044 0532 0130 00", "DE** **** **** **** **30 00"),
        ("192.168.1.10", "192.*.*.*"),
    ],
)
def test_masking(text, masked):
    (match,) = pii.scan_text(text)
    assert pii.mask_value(match.type, text[match.start : match.end]) == masked


def test_scan_rows_gives_masked_excerpts_with_context():
    rows = [
        {"input": "hello", "output": "a"},
        {"input": "Refund to card 4242 4242 4242 4242 please, mail jane@corp.com", "output": "refund"},
    ]
    findings = pii.scan_rows(rows)
    assert [(f.row, f.field, f.type, f.data_class) for f in findings] == [
        (2, "input", "card", "payment"),
        (2, "input", "email", "personal"),
    ]
    card = findings[0].excerpt_masked
    assert "**** **** **** 4242" in card and "to card" in card and "4242 4242 4242 4242" not in card
    assert "jane@corp.com" not in "".join(f.excerpt_masked for f in findings)
    assert pii.summary(findings) == {"card": 1, "email": 1}


def test_redact_text_uses_typed_placeholders():
    text = (
        "Mail jane@corp.com, call +44 20 7946 0958, card 4242-4242-4242-4242, "
        "IBAN DE89370400440532013000, SSN 123-45-6789, ip 10.1.2.3, db postgres://u:pw@db/x"
    )
    redacted = pii.redact_text(text)
    assert redacted == (
        "Mail <EMAIL>, call <PHONE>, card <CARD>, IBAN <IBAN>, SSN <SSN>, ip <IP>, db postgres://<CREDENTIALS>@db/x"
    )
    assert pii.scan_text(redacted) == []


def test_redact_rows_streams_and_scans_clean_afterwards():
    rows = [
        {"input": "I am jane@corp.com, phone 415-555-0199", "output": "contact"},
        {"input": "nothing here", "output": "other"},
        {"input": "extract", "output": json.dumps({"email": "bob@corp.com", "n": 1}, sort_keys=True)},
        {"input": "hi", "output": "ok", "system": "admin ip 10.9.8.7", "history": [
            {"role": "user", "content": "card 4242 4242 4242 4242"}, {"role": "assistant", "content": "ok"}]},
    ]  # fmt: skip
    src = io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    dest = io.BytesIO()
    count, digest = pii.redact_rows(src, dest)
    assert count == 4
    import hashlib

    assert digest == hashlib.sha256(dest.getvalue()).hexdigest()
    redacted = [json.loads(line) for line in dest.getvalue().splitlines()]
    assert redacted[0]["input"] == "I am <EMAIL>, phone <PHONE>"
    assert redacted[1] == rows[1]
    assert json.loads(redacted[2]["output"]) == {"email": "<EMAIL>", "n": 1}
    assert redacted[3]["history"][0]["content"] == "card <CARD>"
    assert pii.scan_rows(redacted) == []
