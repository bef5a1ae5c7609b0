"""studio.jsonbounds: what every JSON document from outside may hold (no Django needed)."""

import json

import pytest

from studio import jsonbounds
from studio.jsonbounds import MAX_DEPTH, JSONRefused


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_ordinary_documents_decode_as_the_standard_library_does():
    text = '{"name": "Olivia 😀 \\ud83d\\ude00", "tags": ["a", "b"], "n": 1.5, "ok": true, "none": null}'
    assert jsonbounds.loads(text) == json.loads(text)


def test_nesting_up_to_the_limit_is_accepted_and_one_level_more_is_refused_with_its_path():
    assert jsonbounds.loads(nested(MAX_DEPTH)) is not None
    with pytest.raises(JSONRefused) as refused:
        jsonbounds.loads('{"schema": {"items": ' + nested(MAX_DEPTH - 1) + "}}")
    assert refused.value.code == "nesting_too_deep"
    assert refused.value.path.startswith("schema.items.0")


def test_a_hundred_thousand_levels_are_refused_not_a_recursion_error():
    with pytest.raises(JSONRefused) as refused:
        jsonbounds.loads(nested(100_000))
    assert refused.value.code == "nesting_too_deep"


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ('{"role": "\\ud800"}', "role", "U+D800"),
        ('{"a": ["ok", "x\\udfffy"]}', "a.1", "U+DFFF"),
        ('{"note": "\\u0000"}', "note", "Null characters"),
        ('{"k": {"\\ud83d": 1}}', "k", "U+D83D"),
    ],
)
def test_text_that_cannot_be_stored_is_refused_naming_the_field(text, path, reason):
    with pytest.raises(JSONRefused) as refused:
        jsonbounds.loads(text)
    assert refused.value.code == "invalid_text"
    assert refused.value.path == path
    assert reason in refused.value.message


@pytest.mark.parametrize("text", ['{"x": NaN}', "[Infinity]", "[-Infinity]", '{"x": 1e400}', "[-1e999]"])
def test_numbers_that_are_not_finite_are_refused(text):
    with pytest.raises(JSONRefused) as refused:
        jsonbounds.loads(text)
    assert refused.value.code == "number_out_of_range"


def test_malformed_json_is_still_a_plain_value_error():
    with pytest.raises(ValueError) as refused:
        jsonbounds.loads("{not json")
    assert not isinstance(refused.value, JSONRefused)
