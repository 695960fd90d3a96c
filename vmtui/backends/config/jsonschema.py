"""A JSON Schema of the config, from the same dataclasses the loader checks against.

Editors with a YAML language server read it to complete keys, show each
field's help and flag wrong values as a config is typed. The schema says what
the file's structure allows (keys, types, ranges, choices); `vmtui check` still
does the rest (files that must exist, cross-field rules).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from vmtui.backends.config.schema import Size
from vmtui.backends.vm import contract

SIZE = {"anyOf": [{"type": "integer", "minimum": 0, "description": "MiB"},
                  {"type": "string", "pattern": r"^\s*\d+\s*[KMGTkmgt]?(i?[Bb])?\s*$"}]}


def _type(tp: Any, meta: typing.Mapping[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1 and all(dataclasses.is_dataclass(a) for a in inner):
            choice: dict[str, Any] = {"oneOf": [section(a) for a in inner]}
        else:
            choice = _type(inner[0], meta)
        return {"anyOf": [choice, {"type": "null"}]} if type(None) in args else choice
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple):
        return {"type": "array", "items": _type(args[0], meta)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(args[1], meta)}
    if dataclasses.is_dataclass(tp):
        return section(tp)  # type: ignore[arg-type]
    if tp is Size:
        return dict(SIZE)
    if tp is bool:
        return {"type": "boolean"}
    if tp in (int, float):
        out: dict[str, Any] = {"type": "integer" if tp is int else "number"}
        if meta.get("min") is not None:
            out["minimum"] = meta["min"]
        if meta.get("max") is not None:
            out["maximum"] = meta["max"]
        return out
    if tp in (str, Path) or tp is Any:
        return {"type": "string"} if tp is not Any else {}
    raise TypeError(f"no JSON Schema for {tp!r}")


def section(cls: type[Any]) -> dict[str, Any]:
    """The schema of one config section (a dataclass)."""
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        prop = _type(hints[f.name], f.metadata)
        if f.metadata.get("refuse"):  # only the default passes
            prop["const"] = f.default
        if f.metadata.get("help"):
            prop["description"] = f.metadata["help"]
        props[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": False}
    if required:
        out["required"] = required
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc and not doc.startswith(cls.__name__ + "("):
        out["description"] = " ".join(doc.split())
    return out


def config_schema(pool_cls: type[Any]) -> dict[str, Any]:
    """The whole file: the pool settings, and ``vm:`` by the pool's ``type``."""
    out = section(pool_cls)
    out["properties"]["vm"] = {"type": "object", "description": "the VM type's own settings"}
    default = next(f.default for f in dataclasses.fields(pool_cls) if f.name == "type")

    def chosen(name: str) -> dict[str, Any]:
        named = {"properties": {"type": {"const": name}}, "required": ["type"]}
        return {"anyOf": [named, {"not": {"required": ["type"]}}]} if name == default else named

    out["allOf"] = [{"if": chosen(name),
                     "then": {"properties": {"vm": section(contract.lookup(name).config)}}}
                    for name in contract.type_names()]
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "vmtui pool config"
    return out
