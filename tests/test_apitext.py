"""What a server sends, made safe: strict parsing, redaction, checks, printable text."""

from __future__ import annotations

import pytest

from runner.base import apitext

KEY = "sk-live-0123456789abcdef"


def test_nan_infinity_and_overflowing_numbers_read_as_null() -> None:
    body = b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999, "e": 1.5, "f": 7}'
    expected = {"a": None, "b": None, "c": None, "d": None, "e": 1.5, "f": 7}
    assert apitext.parse(body, KEY) == expected


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b'{"task_id": ' + b"9" * 5000 + b"}",  # int() refuses 4300+ digits
        b"[" * 100_000,  # the parser's recursion limit
        b'{"a": "\xff\xfe"}',  # not UTF-8
    ],
)
def test_what_is_not_json_reads_as_none(content: bytes) -> None:
    assert apitext.parse(content, KEY) is None


def test_the_key_is_redacted_from_every_string_however_it_is_written() -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    body = (
        '{"error": {"message": "Bearer ' + KEY + '", "hint": "' + escaped + '"},'
        ' "' + KEY + '": ["x' + KEY + 'y", {"url": "https://h/v?k=' + KEY + '"}]}'
    )
    assert apitext.parse(body.encode(), KEY) == {
        "error": {"message": "Bearer [redacted]", "hint": "[redacted]"},
        "[redacted]": ["x[redacted]y", {"url": "https://h/v?k=[redacted]"}],
    }


def test_a_url_encoded_key_is_redacted_too() -> None:
    key = "sk-a/b+c"
    assert apitext.redact("https://h/?k=sk-a%2Fb%2Bc", key) == "https://h/?k=[redacted]"


def test_without_a_key_nothing_is_replaced() -> None:
    assert apitext.parse(b'{"a": "[x]"}', "") == {"a": "[x]"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ldtask_0123", "ldtask_0123"),
        (12345, "12345"),
        ("", None),
        (".", None),
        ("..", None),
        ("a b", None),
        ("a\nb", None),
        ("abc\x1b[2J", None),
        ("x" * 201, None),
        (10**40, None),
        (True, None),
        (None, None),
        (["t"], None),
        ("täsk", None),
    ],
)
def test_a_task_id_is_a_short_printable_string(value: object, expected: str | None) -> None:
    assert apitext.task_id(value) == expected


@pytest.mark.parametrize(
    ("value", "relative", "usable"),
    [
        ("https://cdn.example.com/v.mp4?sig=a%2Fb", False, True),
        ("http://127.0.0.1:8080/files/t.mp4", False, True),
        ("http://[::1]:8080/x", False, True),
        ("/v1/tasks/t1", True, True),
        ("/v1/tasks/t1", False, False),
        ("//evil.example/x", True, False),
        ("https://cdn\r\n.example/x", False, False),
        ("https://cdn.example/x\r\nX-Injected: 1", False, False),
        ("https://cdn.example/a b", False, False),
        ("ftp://cdn.example/x", False, False),
        ("javascript:alert(1)", False, False),
        ("file:///etc/passwd", False, False),
        ("https://-bad-.example/x", False, False),
        ("https://a..b/x", False, False),
        ("https://exa_mple.com:99999/x", False, False),
        ("https://[::1/x", False, False),
        ("https:///x", False, False),
        ("https://" + "a" * 64 + ".com/", False, False),
        ("https://h/" + "a" * 20000, False, False),
        (42, False, False),
        ("", False, False),
    ],
)
def test_only_urls_that_can_be_requested_as_they_are_are_usable(
    value: object, relative: bool, usable: bool
) -> None:
    assert (apitext.url(value, relative=relative) is not None) is usable


def test_printable_strips_escapes_and_controls_and_keeps_the_words() -> None:
    text = "\x1b[2J\x1b]0;title\x07red \x1b[31malert\x1b[0m\rover\x08 \u202eevil\x9b1m"
    shown = apitext.printable(text)
    assert shown.split() == ["red", "alert", "over", "evil"]
    assert shown.isprintable()
    assert apitext.printable("plain: ünïcode ok") == "plain: ünïcode ok"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5.0), ("2.5", 2.5), (float("nan"), None), ("inf", None), ("1e999", None), (True, None),
     (10**400, None), ("x", None), (None, None), ([1], None)],
)  # fmt: skip
def test_numbers_are_finite_or_none(value: object, expected: float | None) -> None:
    assert apitext.number(value) == expected


def test_text_is_cut_to_its_limit() -> None:
    assert apitext.text("x" * 5000) == "x" * (apitext.MAX_TEXT - 3) + "..."
    assert apitext.text(5) is None


def test_a_body_too_deep_to_redact_reads_as_none() -> None:
    body = b"[" * 3000 + b'"' + KEY.encode() + b'"' + b"]" * 3000
    assert apitext.parse(body, KEY) is None


@pytest.mark.parametrize(
    "written",
    ["sk-a\\/b+c", "sk-a%2Fb%2Bc", "\\u0073k-a/b+c"],  # JSON-escaped "/", URL-encoded, \\u
)
def test_a_key_written_in_any_form_json_allows_is_redacted(written: str) -> None:
    body = ('{"error": {"message": "key ' + written + ' refused"}}').encode()
    assert apitext.parse(body, "sk-a/b+c") == {"error": {"message": "key [redacted] refused"}}


def test_a_utf8_bom_before_the_json_is_tolerated() -> None:
    assert apitext.parse(b'\xef\xbb\xbf{"task_id": "t1"}', KEY) == {"task_id": "t1"}
