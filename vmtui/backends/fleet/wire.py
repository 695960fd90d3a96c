"""JSON for the crossing's value types: what a :class:`Control` call takes and gives.

``to_json(value)`` makes plain JSON data (dicts, lists, strings, numbers, None)
of a value; ``from_json(data, type)`` builds the value back, led by the type
(a call's annotation): JSON has no tuple, path, enum or :class:`GuestText`, so
the type says what a list or a string was. Dataclasses go as objects of their
fields, enums as their value, paths and guest text as strings, bytes as
Latin-1 text (every byte one character), tuples as lists. Anything else is a
``TypeError``: a type that cannot be spoken over the wire has no place in
:class:`~vmtui.backends.fleet.control.Control`.

Errors cross too: ``error_to_json`` / ``error_from_json`` keep a
:class:`VMError`'s class (one of the contract's) and its message, and a
KeyError (the contract's "no such instance or pool") as a KeyError of its key.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vmtui.backends.inert import GuestText
from vmtui.backends.vm import errors

Json = Any  # what json.loads gives: dict, list, str, int, float, bool, None


def to_json(value: object) -> Json:
    """``value`` as plain JSON data (see the module's docstring).

    Raises:
        TypeError: a value of a type the wire does not carry.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    raise TypeError(f"{type(value).__name__} does not cross the wire")


def from_json(data: Json, tp: Any) -> Any:
    """The value of type ``tp`` that ``data`` (from :func:`to_json`) stands for.

    Raises:
        TypeError: ``tp`` is not a type the wire carries.
        ValueError: ``data`` does not fit ``tp``.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is None or tp is type(None):
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        return from_json(data, next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"{data!r} is not one of {args}")
        return data
    if origin in (list, Sequence):
        return [from_json(v, args[0]) for v in _list(data)]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(v, args[0]) for v in _list(data))
        items = _list(data)
        if len(items) != len(args):
            raise ValueError(f"{len(items)} items for a tuple of {len(args)}")
        return tuple(from_json(v, a) for v, a in zip(items, args, strict=True))
    if origin in (dict, Mapping):
        if not isinstance(data, dict):
            raise ValueError(f"an object was expected, not {data!r}")
        return {from_json(k, args[0]): from_json(v, args[1]) for k, v in data.items()}
    if not isinstance(tp, type):
        raise TypeError(f"{tp!r} does not cross the wire")
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"an object was expected for {tp.__name__}, not {data!r}")
        hints = _hints(tp)
        return tp(**{f.name: from_json(data[f.name], hints[f.name])
                     for f in dataclasses.fields(tp) if f.init and f.name in data})
    if issubclass(tp, enum.Enum):
        return tp(data)
    if tp is bytes:
        return str(data).encode("latin-1")
    if tp is bool or tp is int or tp is str:
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise ValueError(f"{tp.__name__} expected, not {data!r}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"float expected, not {data!r}")
        return float(data)
    if tp is GuestText or issubclass(tp, Path):
        return tp(data)
    raise TypeError(f"{tp.__name__} does not cross the wire")


def carried(tp: Any) -> bool:
    """Whether values of type ``tp`` cross the wire (checked from the type alone)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is None or tp is type(None):
        return True
    if origin in (typing.Union, types.UnionType, list, Sequence, tuple, dict, Mapping):
        return all(a is Ellipsis or carried(a) for a in args)
    if origin is typing.Literal:
        return all(isinstance(a, (str, int, bool)) for a in args)
    if not isinstance(tp, type):
        return False
    if dataclasses.is_dataclass(tp):
        return all(carried(h) for h in _hints(tp).values())
    return tp in (bool, int, float, str, bytes, GuestText, Path) or issubclass(tp, enum.Enum)


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return typing.get_type_hints(tp)


def _list(data: Json) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError(f"a list was expected, not {data!r}")
    return data


# The contract's errors, by name: an error crosses as its class and message.
_ERRORS: dict[str, type[errors.VMError]] = {cls.__name__: cls for cls in (
    errors.VMError, errors.BootError, errors.InfraError, errors.StateError)}


def error_to_json(exc: BaseException) -> Json:
    """``exc`` as JSON: its class when it is one of the contract's, and its message."""
    if isinstance(exc, KeyError):  # the key alone, not its repr
        return {"error": "KeyError", "message": str(exc.args[0]) if exc.args else ""}
    name = type(exc).__name__
    return {"error": name if name in _ERRORS else "VMError", "message": str(exc)}


def error_from_json(data: Json) -> Exception:
    """The error ``data`` (from :func:`error_to_json`) stands for, to raise."""
    if data.get("error") == "KeyError":
        return KeyError(str(data.get("message", "")))
    cls = _ERRORS.get(str(data.get("error")), errors.VMError)
    return cls(str(data.get("message", "")))
