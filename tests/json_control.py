"""JsonControl: a Control that sends every call and its answer through JSON.

It wraps another Control (the in-process one) and, for each call of the
Control protocol, turns the arguments into JSON text and back (led by the
protocol's annotations), calls the inner Control with the copies, and does the
same with the result or the error. Whatever the front gets from it was rebuilt
from text: a live object handed across would fail in the codec, and a value the
front kept would share nothing with the backend's.
"""

from __future__ import annotations

import collections
import inspect
import json
import typing
from typing import Any

from vmtui.backends.fleet.control import Control
from vmtui.backends.fleet.wire import error_from_json, error_to_json, from_json, to_json


def control_methods() -> dict[str, Any]:
    """Every call of the Control protocol, by name."""
    return {name: fn for name, fn in vars(Control).items()
            if not name.startswith("_") and inspect.isfunction(fn)}


def across(value: object, tp: Any) -> Any:
    """``value`` of type ``tp`` sent as JSON text and read back."""
    return from_json(json.loads(json.dumps(to_json(value))), tp)


class JsonControl:
    """``inner`` behind a JSON wire; ``calls`` counts the calls by name."""

    def __init__(self, inner: Control) -> None:
        self.inner = inner
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        proto = control_methods().get(name)
        if proto is None:
            raise AttributeError(name)
        hints = typing.get_type_hints(proto)
        signature = inspect.signature(proto)
        method = getattr(self.inner, name)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            self.calls[name] += 1
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            return {key: across(value, hints[key])
                    for key, value in list(bound.arguments.items())[1:]}

        def error(exc: Exception) -> Exception:
            return error_from_json(json.loads(json.dumps(error_to_json(exc))))

        if inspect.iscoroutinefunction(proto):
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                sent = arguments(args, kwargs)
                try:
                    result = await method(**sent)
                except Exception as exc:
                    raise error(exc) from None
                return across(result, hints["return"])

            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            sent = arguments(args, kwargs)
            try:
                result = method(**sent)
            except Exception as exc:
                raise error(exc) from None
            return across(result, hints["return"])

        return call
