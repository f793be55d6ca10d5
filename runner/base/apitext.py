"""What a server sends, made safe: parsed strictly, redacted, checked, made printable.

Nothing a server sends is trusted. It may echo the key back (in an error
message, a hint, a signed URL), send NaN or 1e999 where a number belongs, a URL
with a line break in it, or terminal control sequences. So:

- ``parse`` reads a JSON body once, where the client receives it: NaN,
  Infinity and numbers too large for a float read as null, and the key is
  replaced in every string (with or without ``Bearer``, so in everything kept
  or shown after it: lockfile, journal, events, logs and reports);
- ``url``, ``task_id`` and ``text`` decide whether a value can be used at all
  (a value that cannot is ignored, or fails only its job);
- ``printable`` strips escape sequences and control characters where API text
  meets a terminal; the lockfile keeps the text as the API sent it (redacted).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"
MAX_TEXT = 2000  # characters of API text kept in a message
MAX_URL = 16384  # signed URLs run long; longer than this is no URL anyone serves
_TASK_ID = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces: it goes into a URL path
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# The common case, decided without httpx's parser (tens of microseconds a URL, too
# slow for a lockfile of 100,000 outputs): scheme, a plain host, a port, the rest.
_PLAIN_URL = re.compile(
    r"https?://((?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-))"
    r"(?::([0-9]{1,5}))?(?:[/?#][!-~]*)?",
    re.ASCII,
)
# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ST), other ESC pairs, 8-bit CSI.
_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")


def parse(content: bytes, key: str) -> Any:
    """The JSON body with the key redacted, or None when it is not JSON."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # a UTF-8 BOM, which some gateways add and json refuses
    try:
        body = json.loads(content, parse_constant=_null, parse_float=_finite)
    except (ValueError, RecursionError):  # UnicodeDecodeError and 4300+ digit ints too
        return None
    forms = _forms(key)
    # Without an escape in the body, a key in it is in its bytes as they are.
    if not forms or (b"\\" not in content and not any(f.encode() in content for f in forms)):
        return body  # nothing to redact: the common case, without a walk
    try:
        return _walk(body, forms)
    except RecursionError:  # nested deeper than a walk can go: not an answer to read
        return None


def redact(value: Any, key: str) -> Any:
    """``value`` with ``key`` (and its URL-encoded form) replaced in every string."""
    return _walk(value, _forms(key))


def _forms(key: str) -> tuple[str, ...]:
    """How the key may be written in a string: as it is, and URL-encoded."""
    if not key:
        return ()
    encoded = quote(key, safe="")
    return (key,) if encoded == key else (key, encoded)


def _walk(value: Any, forms: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _redact_text(value, forms)
    if isinstance(value, dict):
        return {_redact_text(str(k), forms): _walk(v, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, forms) for v in value]
    return value


def _redact_text(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string the API sent, cut to ``limit`` characters; None for anything else."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[: limit - 3] + "..."


def shown(value: Any, limit: int = 200) -> str:
    """``value`` described for a message, whatever it is (never a deep repr)."""
    if isinstance(value, str):
        return repr(text(value, limit))
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**30 else "a huge number"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def task_id(value: Any) -> str | None:
    """A task id that can be kept and polled: a short printable string (or integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        value = str(value)
    if not isinstance(value, str) or value in (".", "..") or not _TASK_ID.fullmatch(value):
        return None
    return value


def url(value: Any, *, relative: bool = False) -> str | None:
    """An http(s) URL that can be requested as it is (``relative``: or an absolute path)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return None
    if _UNSAFE_URL.search(value):
        return None
    if relative and value.startswith("/") and not value.startswith("//"):
        return value
    plain = _PLAIN_URL.fullmatch(value)
    if plain is not None and len(plain[1]) <= 253:
        return value if plain[2] is None or 0 < int(plain[2]) < 65536 else None
    import httpx  # here: plan and validate read URLs without importing httpx

    try:
        parsed = httpx.URL(value)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return None
    if parsed.scheme not in ("http", "https") or not _host_ok(parsed.raw_host):
        return None
    if port is not None and not 0 < port < 65536:
        return None
    return value


def printable(value: str) -> str:
    """``value`` safe for a terminal line: escapes removed, controls made spaces."""
    if value.isprintable():
        return value
    return _CONTROL.sub(" ", _ESCAPE.sub("", value))


def number(value: Any) -> float | None:
    """A finite number (a numeric string too); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= 40:
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int):
        value = float(value) if abs(value) < 2**63 else math.inf
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _host_ok(raw: bytes) -> bool:
    try:
        host = raw.decode("ascii").strip("[]")
    except UnicodeDecodeError:
        return False
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return all(_LABEL.fullmatch(label) for label in host.removesuffix(".").split("."))


def _null(_constant: str) -> None:
    """NaN, Infinity and -Infinity are not JSON: read them as null."""
    return None


def _finite(literal: str) -> float | None:
    value = float(literal)
    return value if math.isfinite(value) else None  # 1e999 would read as inf
