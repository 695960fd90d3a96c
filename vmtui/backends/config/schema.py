"""Typed configuration sections: YAML mappings checked against dataclasses.

Every section of a vmtui config (the pool settings, each VM type's ``vm:``
section) is a dataclass. :func:`load_section` turns a parsed YAML mapping into
that dataclass, checking unknown keys, types, ranges and files, and raises
:class:`ConfigError` naming the file, the dotted field path and the problem.

Field constraints live in the dataclass field metadata, built with
:func:`spec`, so each rule sits beside the field it governs.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$", re.I)


_FIELD_MSG = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.\w+)*): (.*)$", re.S)


class Size(int):
    """A size in bytes, written in a config as MiB (``256``) or with a unit (``2G``)."""

    @classmethod
    def parse(cls, raw: object) -> Size:
        """Bytes from an integer (MiB) or a string such as ``512M``; ValueError if neither."""
        if isinstance(raw, bool):
            raise ValueError(raw)
        if isinstance(raw, int):
            return cls(raw * _UNITS[""])
        if isinstance(raw, str) and (m := _SIZE_RE.match(raw)):
            return cls(int(m.group(1)) * _UNITS[m.group(2).upper()])
        raise ValueError(raw)

    def __str__(self) -> str:
        if not self:
            return "0"
        for unit in "TGMK":
            if self and self % _UNITS[unit] == 0:
                return f"{self // _UNITS[unit]}{unit}"
        return f"{int(self)}B"

    @property
    def mib(self) -> int:
        """Whole MiB (rounded up)."""
        return -(-int(self) // _UNITS["M"])


# A string or path of a section may differ per instance of a pool ({name}, {index}).
PLACEHOLDERS = ("{name}", "{index}")


def varies(value: object) -> bool:
    """Whether ``value`` holds a per-instance placeholder."""
    return any(p in str(value) for p in PLACEHOLDERS)


def fill(text: str, name: str, index: int) -> str:
    """``text`` with the instance's ``{name}`` and ``{index}`` filled in."""
    return text.replace("{name}", name).replace("{index}", str(index))


class ConfigError(Exception):
    """A config value is wrong; says where (file and field path) and what.

    ``errors`` lists every problem found in the file (this one first); the
    message has one line per problem.
    """

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        self.errors: list[ConfigError] = [self]
        super().__init__(self.line)

    @property
    def line(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.problem}"

    @classmethod
    def combine(cls, errors: list[ConfigError]) -> ConfigError:
        """One error that carries all of ``errors``."""
        unique = list({e.line: e for e in errors}.values())
        first = unique[0]
        out = cls(first.file, first.path, first.problem)
        out.errors = unique
        errors = unique
        out.args = ("\n".join(e.line for e in errors),)
        return out


class _Skip(Exception):
    """A value failed (already recorded): skip what depends on it."""


def spec(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    min: float | None = None,
    max: float | None = None,
    must_exist: bool | str = False,
    refuse: str = "",
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare a config field with its documentation and constraints.

    Args:
        default: the value when the key is absent; absent means required.
        help: one line shown by error messages and docs.
        min: smallest allowed number (inclusive).
        max: largest allowed number (inclusive).
        must_exist: for paths, True: an existing file; "folder": an existing
            folder; "any": either.
        refuse: why any value but the default is refused (an option vmtui cannot
            honour); said beside every other problem of the file.
        default_factory: as for dataclasses.field.
    """
    metadata = {"help": help, "min": min, "max": max, "must_exist": must_exist,
                "refuse": refuse}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe(value: Any) -> str:
    """Name a YAML value's type for an error message, with a short preview."""
    names = {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a mapping", type(None): "nothing (null)",
    }
    kind = names.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float, str)):
        text = repr(value)
        if len(text) > 40:
            text = text[:37] + "..."
        return f"{kind} {text}"
    return kind


class _Loader:
    """Checks a section; records every problem and goes on with the next field."""

    def __init__(self, file: str, base_dir: Path) -> None:
        self.file = file
        self.base_dir = base_dir
        self.errors: list[ConfigError] = []

    def note(self, path: str, problem: str) -> None:
        self.errors.append(ConfigError(self.file, path, problem))

    def fail(self, path: str, problem: str) -> typing.NoReturn:
        self.note(path, problem)
        raise _Skip

    def section(self, cls: type[T], data: Any, path: str) -> T:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.fail(path, f"expected a mapping, got {describe(data)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        hints = typing.get_type_hints(cls)
        broken = False
        for key in data:
            if key not in fields or not fields[key].init:
                self.note(_join(path, str(key)), _unknown(str(key), [
                    n for n, f in fields.items() if f.init]))
                broken = True
        values: dict[str, Any] = {}
        for name, field in fields.items():
            if not field.init:
                continue
            sub = _join(path, name)
            if name in data:
                try:
                    values[name] = self.value(hints[name], data[name], sub, field.metadata)
                except _Skip:
                    broken = True
                    continue
                if field.metadata.get("refuse") and values[name] != field.default:
                    self.note(sub, f"refused: {field.metadata['refuse']}")
                    broken = True
            elif (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                self.note(sub, "missing required key")
                broken = True
        if broken:
            raise _Skip
        try:
            return cls(**values)
        except ValueError as exc:  # cross-field checks in __post_init__
            # "field: problem" or "field[2].sub: problem" names a field of this
            # section: report it at that field's path.
            m = _FIELD_MSG.match(str(exc))
            if m and m.group(1).split("[")[0].split(".")[0] in fields:
                self.fail(_join(path, m.group(1)), m.group(2))
            self.fail(path, str(exc))

    def value(self, tp: Any, raw: Any, path: str, meta: Mapping[str, Any]) -> Any:
        if tp is Any:
            return raw
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            if raw is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) > 1 and all(dataclasses.is_dataclass(a) for a in inner):
                return self.tagged(inner, raw, path)
            return self.value(inner[0], raw, path, meta)
        if origin is typing.Literal:
            if raw not in args:
                choices = ", ".join(repr(a) for a in args)
                self.fail(path, f"{describe(raw)} is not one of {choices}")
            return raw
        if origin in (list, tuple):
            if not isinstance(raw, list):
                self.fail(path, f"expected a list, got {describe(raw)}")
            items, broken = [], False
            for i, v in enumerate(raw):
                try:
                    items.append(self.value(args[0], v, f"{path}[{i}]", meta))
                except _Skip:
                    broken = True
            if broken:
                raise _Skip
            return tuple(items) if origin is tuple else items
        if origin is dict:
            if not isinstance(raw, Mapping):
                self.fail(path, f"expected a mapping, got {describe(raw)}")
            return {str(k): self.value(args[1], v, _join(path, str(k)), meta)
                    for k, v in raw.items()}
        if dataclasses.is_dataclass(tp):
            return self.section(tp, raw, path)  # type: ignore[arg-type]
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            try:
                return tp(raw)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in tp)
                self.fail(path, f"{describe(raw)} is not one of {choices}")
        return self.scalar(tp, raw, path, meta)

    def tagged(self, classes: list[Any], raw: Any, path: str) -> Any:
        """One of several dataclasses, chosen by the mapping's ``kind`` key."""
        by_kind: dict[str, Any] = {}
        for cls in classes:
            kind_type = typing.get_type_hints(cls)["kind"]
            for kind in typing.get_args(kind_type):
                by_kind[kind] = cls
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a mapping, got {describe(raw)}")
        if "kind" not in raw:
            self.fail(_join(path, "kind"), f"missing required key (one of {', '.join(by_kind)})")
        if not isinstance(raw["kind"], str) or raw["kind"] not in by_kind:
            self.fail(_join(path, "kind"),
                      f"{describe(raw['kind'])} is not one of {', '.join(by_kind)}")
        return self.section(by_kind[raw["kind"]], raw, path)

    def scalar(self, tp: Any, raw: Any, path: str, meta: Mapping[str, Any]) -> Any:
        if tp is Size:
            try:
                size = Size.parse(raw)
            except ValueError:
                self.fail(path, f"expected a size such as 512M or 2G, got {describe(raw)}")
            lo, hi = meta.get("min"), meta.get("max")
            if (lo is not None and size < lo) or (hi is not None and size > hi):
                allowed = _range(lo, hi, lambda n: str(Size(int(n))))
                self.fail(path, f"{size} is out of range (allowed: {allowed})")
            return size
        if tp is bool:
            if not isinstance(raw, bool):
                self.fail(path, f"expected true or false, got {describe(raw)}")
            return raw
        if tp is int or tp is float:
            ok = isinstance(raw, int) or (tp is float and isinstance(raw, float))
            if isinstance(raw, bool) or not ok:
                want = "an integer" if tp is int else "a number"
                self.fail(path, f"expected {want}, got {describe(raw)}")
            if isinstance(raw, float) and not math.isfinite(raw):
                self.fail(path, f"{raw} is not a finite number")
            lo, hi = meta.get("min"), meta.get("max")
            if (lo is not None and raw < lo) or (hi is not None and raw > hi):
                self.fail(path, f"{describe(raw).split(' ', 2)[-1]} is out of range "
                                f"(allowed: {_range(lo, hi)})")
            return tp(raw)
        if tp is str:
            if not isinstance(raw, str):
                self.fail(path, f"expected a string, got {describe(raw)}")
            return raw
        if tp is Path:
            return self.path(raw, path, meta)
        raise TypeError(f"unsupported config field type {tp!r} at {path}")

    def path(self, raw: Any, path: str, meta: Mapping[str, Any]) -> Path:
        if not isinstance(raw, str) or not raw:
            self.fail(path, f"expected a file path, got {describe(raw)}")
        if "\0" in raw:
            self.fail(path, "contains a NUL byte")
        try:
            resolved = Path(raw).expanduser()
        except RuntimeError:  # ~nosuchuser/...
            self.fail(path, f"cannot expand {raw.split('/')[0]!r}: no such user")
        if not resolved.is_absolute():
            resolved = self.base_dir / resolved
        want = meta.get("must_exist")
        if not want or varies(raw):
            return resolved
        try:
            exists, folder = resolved.exists(), resolved.is_dir()
        except OSError as exc:  # a name too long, say
            self.fail(path, f"cannot use {str(resolved)[:60]!r}...: {exc.strerror}")
        if not exists:
            self.fail(path, f"file not found: {resolved}")
        if want == "folder" and not folder:
            self.fail(path, f"{resolved} is not a folder")
        if want is True and folder:
            self.fail(path, f"{resolved} is a folder, not a file")
        return resolved


def _unknown(key: str, known: list[str]) -> str:
    """The problem of an unknown key: the likeliest key meant, else every key."""
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    if not close:
        return f"unknown key (known keys: {', '.join(sorted(known))})"

    def shared(name: str) -> int:  # memsize: mem before daemonize
        return next((i for i, (a, b) in enumerate(zip(key, name, strict=False)) if a != b),
                    min(len(key), len(name)))

    best = max(close, key=shared)  # ties keep difflib's order, the closest first
    return f"unknown key (did you mean {best!r}?)"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _range(lo: float | None, hi: float | None,
           fmt: typing.Callable[[float], str] = _num) -> str:
    if lo is not None and hi is not None:
        return f"{fmt(lo)} to {fmt(hi)}"
    if lo is not None:
        return f"at least {fmt(lo)}"
    assert hi is not None
    return f"at most {fmt(hi)}"


def load_section(
    cls: type[T], data: Any, *, file: str, path: str = "", base_dir: Path | None = None
) -> T:
    """Check ``data`` (parsed YAML) against the dataclass ``cls`` and build it.

    Args:
        cls: the dataclass describing the section.
        data: the parsed mapping (None counts as empty).
        file: the config file's name, for error messages.
        path: the dotted path of this section inside the file ("vm").
        base_dir: relative paths are resolved against it (the file's folder).

    Raises:
        ConfigError: naming the file, the field path and the problem.
    """
    loader = _Loader(file, base_dir or Path.cwd())
    try:
        return loader.section(cls, data, path)
    except _Skip:
        raise ConfigError.combine(loader.errors) from None
    except RecursionError:
        raise ConfigError(file, path, "nested too deeply") from None
