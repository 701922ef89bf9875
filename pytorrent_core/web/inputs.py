"""Reading what a client sent: JSON bodies, ids in routes, ids in Socket.IO payloads.

Every view reads its JSON body through :func:`json_object`, so each way a body
can be malformed (not JSON, not UTF-8, nested too deep, the wrong type at the
top, a lone surrogate that no database or encoder accepts) is refused here, once,
with a 400 that names the problem, before any view code sees the data.
Ids in routes go through :class:`IdConverter`, ids in Socket.IO payloads through
:func:`payload_id`: both refuse what no database row can have.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, jsonify, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

INT64_MAX = 2**63 - 1  # SQLite and PostgreSQL integer ids are signed 64-bit
MAX_JSON_DEPTH = 32  # the deepest body any route takes is three levels
MAX_DIGITS = 100
TOO_DEEP = f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"


class BadInput(Exception):
    """A request the server cannot read; answered 400 with ``error`` and ``field``."""

    def __init__(self, message: str, field: str | None = "body", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: an id as the database keeps it, ASCII digits up to 2**63 - 1.

    Werkzeug's own converter takes any Unicode digit and any size, and an id past the
    signed 64-bit range overflows in the database driver. A larger id is answered 404
    here, whatever the method: no row can have it. (A plain validation failure would
    make Werkzeug answer 405 when the same path has routes for other methods.)
    """

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        digits = value.lstrip("0") or "0"
        if len(digits) > len(str(INT64_MAX)) or int(digits) > INT64_MAX:
            raise NotFound()
        return int(digits)


def install(app: Quart) -> None:
    """Use :class:`IdConverter` for every ``int`` route argument, answer :class:`BadInput`.

    Call before any route is registered: a rule picks its converter when added.
    """
    app.url_map.converters["int"] = IdConverter

    @app.errorhandler(BadInput)
    async def bad_input(error: BadInput) -> Any:
        return jsonify(error=str(error), field=error.field), error.status


async def json_object(expected: str = "a JSON object") -> dict[str, Any]:
    """The request's JSON body, which must be an object; :class:`BadInput` otherwise.

    ``expected`` completes "expected ..." in the answer, e.g. "a JSON object with
    username and password".
    """
    if not request.is_json:
        raise BadInput(f"expected {expected}, sent with Content-Type: application/json")
    data = parse_json(await request.get_data(cache=True, as_text=False, parse_form_data=False))
    if not isinstance(data, dict):
        raise BadInput(f"expected {expected}, not a JSON {_kind(data)}")
    return data


def parse_json(raw: bytes) -> Any:
    """Decode a JSON document strictly; :class:`BadInput` names what is wrong with it."""
    if not raw.strip():
        raise BadInput("the body is empty; expected JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInput(f"the body is not valid UTF-8 (byte {error.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_int=_whole_number)
    except RecursionError:
        raise BadInput(TOO_DEEP) from None
    except ValueError as error:
        raise BadInput(f"the body is not valid JSON: {_reason(error)}") from None
    problem = check_json_value(data)
    if problem is not None:
        raise problem
    return data


def check_json_value(data: Any) -> BadInput | None:
    """What makes decoded JSON unusable: nesting past MAX_JSON_DEPTH, or a lone surrogate
    (an escape like ``\\ud800``, which no encoder or database accepts) in a string or key.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return BadInput(TOO_DEEP)
        if isinstance(value, str):
            if _has_surrogate(value):
                return _surrogate(path)
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1)
                         for index, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if _has_surrogate(key):
                    return _surrogate(path)
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
    return None


def _surrogate(path: str) -> BadInput:
    field = path.split(".")[0].split("[")[0][:100] or "body"
    return BadInput(f"{path[:100] or 'the body'} contains a lone surrogate (an escape from "
                    "\\ud800 to \\udfff without its pair), which is not text", field=field)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _whole_number(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise ValueError(f"a number has more than {MAX_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return str(error)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def payload_id(data: Any, key: str = "profile_id") -> int | None:
    """``data[key]`` when it is a whole number within the id range, else ``None``."""
    raw = data.get(key) if isinstance(data, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= INT64_MAX:
        return raw
    return None
