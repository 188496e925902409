"""schemas.quantity and schemas.gotext: Go's Quantity, RFC 3339 and base64 behaviour."""

from __future__ import annotations

import pytest

from schemas.gotext import GoError, decode_base64, go_quote, parse_time
from schemas.quantity import FORMAT_WRONG, SUFFIX, QuantityError, canonical, round_up


@pytest.mark.parametrize(("given", "served"), [
    ("0.5", "500m"), ("1024Mi", "1Gi"), ("1000m", "1"), ("1.5Gi", "1536Mi"), ("100m", "100m"), ("1e3", "1e3"),
    ("1000", "1k"), ("2000000", "2M"), ("0.1", "100m"), ("1536Ki", "1536Ki"), ("1.5", "1500m"),
    ("0.0001", "100u"), ("512Mi", "512Mi"), ("3Gi", "3Gi"), ("0", "0"), ("-0.5", "-500m"), ("12e2", "1200"),
    ("1000k", "1M"), ("0.5Gi", "512Mi"), ("1.0", "1"), ("128974848", "128974848"), ("129e6", "129e6"),
    ("0.5Ki", "512"), ("1n", "1n"), ("0.0000000001", "1n"),
])
def test_canonical(given: str, served: str) -> None:
    assert canonical(given) == served


def test_canonical_keeps_already_canonical_spelling() -> None:
    assert canonical("+1") == "+1"  # upstream caches the input when it is canonical
    assert canonical(" 2Gi ") == "2Gi"


@pytest.mark.parametrize(("bad", "message"), [
    ("abc", FORMAT_WRONG), ("1Xi", FORMAT_WRONG), ("", FORMAT_WRONG), ("1.2.3", FORMAT_WRONG), ("1ki", SUFFIX),
    ("5 Gi", FORMAT_WRONG),
])
def test_parse_errors(bad: str, message: str) -> None:
    with pytest.raises(QuantityError) as err:
        canonical(bad)
    assert str(err.value) == message


def test_format_wrong_text() -> None:
    assert FORMAT_WRONG == "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def test_round_up_to_milli() -> None:
    assert round_up("0.0001") == "1m"
    assert round_up("1.0005") == "1001m"
    assert round_up("100m") == "100m"
    assert round_up("1Gi") == "1Gi"


@pytest.mark.parametrize(("text", "served"), [
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
    ("2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05Z"),
    ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05Z"),
    ("2024-12-31T23:30:00-01:30", "2025-01-01T01:00:00Z"),
])
def test_time_canonical(text: str, served: str) -> None:
    assert parse_time(text) == served


@pytest.mark.parametrize(("text", "message"), [
    ("abc", 'parsing time "abc" as "2006-01-02T15:04:05Z07:00": cannot parse "abc" as "2006"'),
    ("2024-01-02T03:04:05", 'parsing time "2024-01-02T03:04:05" as "2006-01-02T15:04:05Z07:00": cannot parse "" '
                            'as "Z07:00"'),
    ("2024-01-02 03:04:05Z", 'parsing time "2024-01-02 03:04:05Z" as "2006-01-02T15:04:05Z07:00": cannot parse '
                             '" 03:04:05Z" as "T"'),
    ("2024-1-02T03:04:05Z", 'parsing time "2024-1-02T03:04:05Z" as "2006-01-02T15:04:05Z07:00": cannot parse '
                            '"1-02T03:04:05Z" as "01"'),
    ("2024-13-01T00:00:00Z", 'parsing time "2024-13-01T00:00:00Z": month out of range'),
    ("2024-02-30T00:00:00Z", 'parsing time "2024-02-30T00:00:00Z": day out of range'),
    ("2024-01-02T03:04:05Zx", 'parsing time "2024-01-02T03:04:05Zx": extra text: "x"'),
])
def test_time_errors(text: str, message: str) -> None:
    with pytest.raises(GoError) as err:
        parse_time(text)
    assert str(err.value) == message


def test_micro_time() -> None:
    assert parse_time("2024-01-02T03:04:05.123456+01:00", micro=True) == "2024-01-02T02:04:05.123456Z"
    with pytest.raises(GoError) as err:
        parse_time("2024-01-02T03:04:05Z", micro=True)
    assert str(err.value) == ('parsing time "2024-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": '
                              'cannot parse "Z" as ".000000"')


def test_go_quote() -> None:
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("é\n") == '"\\xc3\\xa9\\x0a"'


@pytest.mark.parametrize(("text", "offset"), [
    ("aGVsbG8", 4), ("aGVs*G8=", 4), ("aGVsbA=", 7), ("aGVsbA==x", 8), ("a===", 1), ("not base64", 3),
])
def test_base64_errors(text: str, offset: int) -> None:
    with pytest.raises(GoError) as err:
        decode_base64(text)
    assert str(err.value) == f"illegal base64 data at input byte {offset}"


def test_base64_ok() -> None:
    assert decode_base64("aGVsbG8=") == b"hello"
    assert decode_base64("aGVs\r\nbG8=") == b"hello"
    assert decode_base64("") == b""
