"""The pool config: a YAML file in the style of syzkaller's manager config.

Top-level keys describe the pool (name, workdir, count, target, SSH, timeouts);
the ``vm:`` section belongs to the VM type named by ``type:`` and is validated
by that type's own config class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vmtui.backends import base
from vmtui.backends.schema import ConfigError, load_section, spec

OSES = ("linux", "freebsd", "openbsd", "netbsd")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class PoolConfig:
    """Pool settings (everything except the ``vm:`` section)."""

    name: str = spec(help="pool name, used in instance names and folders")
    type: str = spec("qemu", help="VM type: which backend runs the instances")
    vm: dict[str, Any] = spec(default_factory=dict, help="settings of the VM type")
    workdir: Path = spec(Path("workdir"), help="where instance folders and logs go")
    count: int = spec(1, min=1, max=128, help="number of instances")
    target: str = spec("linux/amd64", help="guest OS/ARCH")
    ssh_user: str = spec("root", help="user for SSH into the guests")
    ssh_key: Path | None = spec(None, must_exist=True, help="private key for SSH")
    ssh_host_key: Path | None = spec(
        None, must_exist=True, help="the guests' public host key, pinned")
    ssh_host_key_check: bool = spec(True, help="refuse guests whose host key differs")
    boot_timeout: float = spec(120.0, min=1, max=3600, help="seconds until SSH answers")
    no_output_timeout: float = spec(300.0, min=1, max=86400,
                                    help="seconds of silence before a VM counts as hung")
    diagnose_pace: float = spec(1.0, min=0, max=60,
                                help="seconds between debugger commands typed by diagnose")
    console_lines: int = spec(10000, min=100, max=1_000_000,
                              help="console lines kept in memory per instance")

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(
                f"name: {self.name!r} must be letters, digits, '.', '_' or '-' (at most 63)")
        os_, _, arch = self.target.partition("/")
        if os_ not in OSES or not arch:
            raise ValueError(
                f"target: {self.target!r} must be OS/ARCH with OS one of {', '.join(OSES)}")
        if self.ssh_host_key_check and self.ssh_key and not self.ssh_host_key:
            raise ValueError("ssh_host_key: required while ssh_host_key_check is true "
                             "(set ssh_host_key_check: false to skip checking, unsafe)")

    @property
    def os(self) -> str:
        return self.target.partition("/")[0]

    @property
    def arch(self) -> str:
        return self.target.partition("/")[2]


@dataclass(frozen=True)
class Config:
    """A validated config: the pool settings and the VM type's own section."""

    pool: PoolConfig
    vm: Any
    source: str


def parse_config(data: Any, *, file: str, base_dir: Path) -> Config:
    """Validate parsed YAML ``data`` as a pool config.

    Raises:
        ConfigError: naming ``file``, the field path and the problem.
    """
    pool = load_section(PoolConfig, data, file=file, base_dir=base_dir)
    try:
        vm_type = base.lookup(pool.type)
    except KeyError:
        known = ", ".join(base.type_names())
        raise ConfigError(file, "type",
                          f"unknown VM type {pool.type!r} (known: {known})") from None
    vm = load_section(vm_type.config, pool.vm, file=file, path="vm", base_dir=base_dir)
    return Config(pool=pool, vm=vm, source=file)


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML config at ``path``.

    Raises:
        ConfigError: the file is missing, is not YAML, or a field is wrong.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(name, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(name, "", f"invalid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(name, "", "the file is empty")
    return parse_config(data, file=name, base_dir=path.resolve().parent)
