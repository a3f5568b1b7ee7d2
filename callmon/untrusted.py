"""Reading untrusted JSON (provider responses, webhook bodies) into values that cannot hurt what reads them.

What comes out is plain JSON data in which no number is NaN or infinite, no integer is big enough to slow
down or break what converts it (too many digits: kept as its digits, a string), nothing is nested deeper than
`MAX_DEPTH`, no string holds a lone surrogate (it could not be written as UTF-8), no string or number holds
any secret callmon knows (such a number becomes its masked text), and no string is longer than `MAX_STRING`.
Control and invisible characters are left in place: the raw view escapes them visibly and record fields are
cleaned when a record is built (`callmon.model`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from callmon.redact import contains_secret, scrub
from callmon.text import cut

MAX_DEPTH = 32
MAX_STRING = 64 * 1024
MAX_CUT_TOKENS = 250_000  # strings and brackets: past this, a text nested too deeply is not worth cutting
MAX_INT_DIGITS = 18  # past this an integer is no count or duration any provider sends: keep its digits
TOO_DEEP = "… (nested too deeply)"
_MAX_INT_BITS = 4096  # about 1,233 digits
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string (skipped whole), an opening bracket (group 1) or a closing one (group 2). The string's loop is
# unrolled: `(?:[^"\\]|\\.)*` would keep backtracking state for every character of a long string.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|([\[{])|([\]}])')


class Malformed(ValueError):
    """Untrusted input that cannot be read at all; the message is one line saying why."""


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _integer(text: str) -> int | str:
    return int(text) if len(text) <= MAX_INT_DIGITS + (text[0] == "-") else text


def _constant(name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not JSON, and no value callmon can use


def loads(data: bytes | str) -> Any:
    """JSON text as safe values (see the module's docstring); Malformed when it cannot be read."""
    try:
        try:
            value = _parse(data)
        except RecursionError:
            # Deeper than the parser can go. One deep field must not cost the whole response (every record on
            # the page): containers past MAX_DEPTH are cut out of the text, and what is left is read.
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = _parse(_cut_deep(text, MAX_DEPTH))
    except RecursionError:
        raise Malformed("JSON nested too deeply to read") from None
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8 text") from None
    except ValueError as exc:
        raise Malformed(f"malformed JSON: {str(exc).splitlines()[0][:120]}") from None
    return sanitize(value)


def _parse(data: bytes | str) -> Any:
    return json.loads(data, parse_float=_finite, parse_int=_integer, parse_constant=_constant)


def _cut_deep(text: str, limit: int) -> str:
    """JSON text with every array or object nested more than `limit` deep replaced by TOO_DEEP, as a string
    (what sanitize() makes of it). Brackets inside strings are skipped; text that is not JSON stays not JSON.
    RecursionError when the text has more than MAX_CUT_TOKENS tokens: the cut costs CPU time for each."""
    out: list[str] = []
    depth = 0
    kept = 0  # text before this has been copied to `out`
    cut_from = -1  # where the container being cut out began
    tokens = _TOKEN.finditer(text)
    for token in itertools.islice(tokens, MAX_CUT_TOKENS + 1):
        kind = token.lastindex  # an attribute, not a method call: this loop runs for every token
        if kind == 1:
            depth += 1
            if depth == limit + 1:
                cut_from = token.start()
        elif kind == 2:
            if depth == limit + 1 and cut_from >= 0:
                out += (text[kept:cut_from], json.dumps(TOO_DEEP))
                kept, cut_from = token.end(), -1
            depth -= 1
    if next(tokens, None) is not None:
        raise RecursionError("too many tokens to cut")
    out.append(text[kept:])
    return "".join(out)


def sanitize(value: Any, depth: int = MAX_DEPTH) -> Any:
    """Already-parsed untrusted data (a form, query parameters, JSON from elsewhere) made safe the same way."""
    kind = type(value)
    if kind is str:
        return text(value)
    if kind is dict:
        if depth <= 0:
            return TOO_DEEP
        return {text(str(k)): sanitize(v, depth - 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        if depth <= 0:
            return TOO_DEEP
        return [sanitize(v, depth - 1) for v in value]
    if kind is float:
        return _number(value) if math.isfinite(value) else None
    if kind is int:
        if -(10**MAX_INT_DIGITS) < value < 10**MAX_INT_DIGITS:
            return _number(value)
        # str() refuses an int of more than 4,300 digits (ValueError); none is data worth its digits.
        return text(str(value)) if value.bit_length() <= _MAX_INT_BITS else None
    if value is None or kind is bool:
        return value
    return text(str(value))


def _number(value: int | float) -> int | float | str:
    # A digits-only key echoed as a JSON number is a secret all the same. Masked it can only be text: masking
    # the number in serialized JSON would leave the JSON invalid.
    digits = str(value)
    return scrub(digits) if contains_secret(digits) else value


def text(value: str) -> str:
    if not value.isascii() and _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    value = scrub(value)
    return cut(value, MAX_STRING) if len(value) > MAX_STRING else value
