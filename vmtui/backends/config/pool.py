"""The pool config: a YAML file in the style of syzkaller's manager config.

Top-level keys describe the pool (name, workdir, count, target, SSH, timeouts);
the ``vm:`` section belongs to the VM type named by ``type:`` and is validated
by that type's own config class.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncssh
import yaml

from vmtui.backends.config.schema import ConfigError, load_section, spec
from vmtui.backends.vm import contract

OSES = ("linux", "freebsd", "openbsd", "netbsd")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")



@dataclass(frozen=True)
class CopyItem:
    """A file or folder copied into each guest after every boot (SFTP)."""

    src: Path = spec(must_exist="any", help="on the host; relative to the config file")
    dst: str = spec("", help="in the guest (default: /tmp/ and the source's name)")

    def __post_init__(self) -> None:
        if self.dst and not self.dst.startswith("/"):
            raise ValueError(f"dst: {self.dst!r} must be an absolute path in the guest")

    @property
    def target(self) -> str:
        return self.dst or f"/tmp/{self.src.name}"


@dataclass(frozen=True)
class ConsoleConfig:
    """Console sources beside the VM's own (see consolesrc)."""

    command: str = spec("", help="a local command whose output is a console "
                                 "({name}, {index} filled in), restarted when it exits")
    serial: str = spec("", help="a serial device read as a console (/dev/ttyUSB{index}), "
                                "opened again when it goes away")
    baud: int = spec(115200, min=50, max=4000000, help="the serial device's speed")
    ssh: str = spec("", help="a command run over the instance's SSH whose output is a "
                             "console (dmesg -w), run again after a reboot; what a run "
                             "replays is dropped")
    break_bytes: str = spec("", help="bytes that stand for a serial BREAK on this line "
                                     "(~B for ipmitool SOL, \\x01b for a QEMU mux); "
                                     "empty: a real BREAK on the serial device")
    backoff: float = spec(1.0, min=0.0, max=3600.0, help="seconds before the first restart")
    max_backoff: float = spec(30.0, min=0.0, max=3600.0, help="the longest pause")

    def __post_init__(self) -> None:
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise ValueError(f"command: {exc}") from None
        if self.command and not words:
            raise ValueError("command: empty")
        if self.ssh and not self.ssh.strip():
            raise ValueError("ssh: empty")
        try:
            self.break_bytes.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"break_bytes: {self.break_bytes!r} holds characters beyond "
                             "one byte each") from None


@dataclass(frozen=True)
class WorkloadConfig:
    """What every instance runs, round after round (syzkaller's fuzzer, or any command).

    ``{name}``, ``{index}`` and ``{round}`` in ``run`` and in ``env`` values
    become the instance's name, its index and the round's number; any other
    brace (a shell's ``${VAR}``) is left alone.
    """

    run: str = spec(help="the command run in each guest over SSH")
    copy: list[CopyItem] = spec(default_factory=list, help="copied in after each boot")
    env: dict[str, str] = spec(default_factory=dict, help="variables for the command")
    restart: Literal["always", "on-crash", "never"] = spec(
        "always", help="always: run again when the command ends; on-crash: restart "
        "the VM after a crash; never: leave a crashed VM as it is")
    recycle: Literal["reboot", "reset", "snapshot"] = spec(
        "reboot", help="how a crashed VM is restarted: a new VM process, a reset in place, "
        "or a restore of the snapshot taken once it first ran (needs a writable qcow2 disk)")
    max_restarts: int = spec(10, min=0, max=1_000_000,
                             help="restarts allowed within restart_window, then failed")
    restart_window: float = spec(600.0, min=1, max=86400 * 365,
                                 help="seconds over which max_restarts is counted")
    backoff: float = spec(1.0, min=0, max=3600, help="seconds between a crash and its restart")

    def __post_init__(self) -> None:
        if not self.run.strip():
            raise ValueError("run: the command is empty")
        for key in self.env:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"env.{key}: not a shell variable name")

    def command(self, name: str, index: int, round_: int) -> str:
        """The shell command for one round: the variables exported, placeholders filled."""
        values = {"{name}": name, "{index}": str(index), "{round}": str(round_)}

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace(key, value)
            return text

        exports = "".join(f"export {key}={shlex.quote(fill(value))}; "
                          for key, value in self.env.items())
        return exports + fill(self.run)


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
    stuck_vcpu_samples: int = spec(
        0, min=0, max=1000, help="K: a silent VM's vCPU in one kernel function for K "
        "samples in a row is stuck (a verdict); 0: off")
    stuck_vcpu_period: float = spec(1.0, min=0.1, max=60,
                                    help="seconds between samples of a silent VM's vCPUs")
    diagnose_pace: float = spec(1.0, min=0, max=60,
                                help="seconds between debugger commands typed by diagnose")
    vmlinux: Path | None = spec(None, must_exist=True, help="the guest kernel with its debug "
                                "info (like syzkaller's kernel_obj): report frames get "
                                "file:line and the guilty file; gdb loads it")
    kernel_modules: list[Path] = spec(default_factory=list, must_exist=True,
                                      help="modules' .ko files with debug info, for frames "
                                           "tagged [module] (needs vmlinux)")
    console_lines: int = spec(10000, min=100, max=1_000_000,
                              help="console lines kept in memory per instance")
    console: ConsoleConfig | None = spec(None, help="console sources beside the VM's own")
    workload: WorkloadConfig | None = spec(None, help="run a command in every VM, round "
                                           "after round, restarting crashed VMs")

    def __post_init__(self) -> None:
        if self.stuck_vcpu_samples == 1:
            raise ValueError("stuck_vcpu_samples: 1 would call any moment in the kernel "
                             "stuck: 0 (off) or at least 2")
        if not NAME_RE.match(self.name):
            raise ValueError(
                f"name: {self.name!r} must be letters, digits, '.', '_' or '-' (at most 63)")
        os_, _, arch = self.target.partition("/")
        if os_ not in OSES or not arch:
            raise ValueError(
                f"target: {self.target!r} must be OS/ARCH with OS one of {', '.join(OSES)}")
        if self.ssh_host_key is not None:
            try:
                asyncssh.read_public_key(str(self.ssh_host_key))
            except (asyncssh.KeyImportError, OSError, ValueError) as exc:
                raise ValueError(f"ssh_host_key: {self.ssh_host_key} is not an SSH public key "
                                 f"({exc})") from None
        if self.kernel_modules and self.vmlinux is None:
            raise ValueError("kernel_modules: needs vmlinux (the kernel they were built for)")
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
        ConfigError: naming ``file``, the field path and the problem; ``errors``
            holds every problem found (the pool settings and the vm section).
    """
    errors: list[ConfigError] = []
    pool = vm = None
    try:
        pool = load_section(PoolConfig, data, file=file, base_dir=base_dir)
    except ConfigError as exc:
        errors += exc.errors
    raw = data if isinstance(data, dict) else {}
    kind = pool.type if pool is not None else raw.get("type", "qemu")
    try:
        vm_type = contract.lookup(kind) if isinstance(kind, str) else None
    except KeyError:
        vm_type = None
    if not isinstance(data, dict):
        pass  # nothing more to read
    elif vm_type is None:
        if not any(e.path == "type" for e in errors):
            known = ", ".join(contract.type_names())
            errors.append(ConfigError(file, "type", f"unknown VM type {kind!r} (known: {known})"))
    else:
        try:
            vm = load_section(vm_type.config, raw.get("vm") if pool is None else pool.vm,
                              file=file, path="vm", base_dir=base_dir)
        except ConfigError as exc:
            errors += exc.errors
    if pool is not None and vm is not None and hasattr(vm, "instance_count"):
        # One instance per machine the vm section lists: count follows it.
        wanted = vm.instance_count()
        if "count" not in raw:
            pool = dataclasses.replace(pool, count=wanted)
        elif pool.count != wanted:
            errors.append(ConfigError(file, "count", f"{pool.count}, but vm.targets lists "
                                      f"{wanted} machine(s): leave count out or make it "
                                      f"{wanted}"))
    if pool is not None and vm is not None and hasattr(vm, "check_pool"):
        try:  # what the instances cannot share
            vm.check_pool([f"{pool.name}-{i}" for i in range(pool.count)])
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            errors.append(ConfigError(file, f"vm.{field}", problem))
    if pool is not None and pool.workdir.exists() and not pool.workdir.is_dir():
        errors.append(ConfigError(file, "workdir", f"{pool.workdir} is a file, not a folder"))
    if errors:
        raise ConfigError.combine(errors)
    assert pool is not None
    return Config(pool=pool, vm=vm, source=file)


class _StrictLoader(yaml.SafeLoader):
    """YAML where a key given twice in one mapping is an error, not a silent overwrite."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML config at ``path``.

    Raises:
        ConfigError: the file is missing, is not YAML, or a field is wrong.
    """
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(name, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(name, "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(name, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(name, "", f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(name, "", "invalid YAML: nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(name, "", f"invalid YAML: {exc}") from None
    if data is None:
        raise ConfigError(name, "", "the file is empty")
    return parse_config(data, file=name, base_dir=path.resolve().parent)


def read_configs(paths: Sequence[str | Path]) -> tuple[list[Config], list[ConfigError]]:
    """The configs of pools shown together that are valid, and every problem found:
    each file's own, and a pool name given in two files (the instances' names
    would clash; said of the later file)."""
    configs: list[Config] = []
    errors: list[ConfigError] = []
    for path in paths:
        try:
            configs.append(load_config(path))
        except ConfigError as exc:
            errors += exc.errors
    first: dict[str, Config] = {}
    for config in configs:
        name = config.pool.name
        if name in first:
            errors.append(ConfigError(config.source, "name", (
                f"pool {name!r} is named so in {first[name].source} too: pools shown "
                "together need names of their own")))
        first.setdefault(name, config)
    return configs, errors


def load_configs(paths: Sequence[str | Path]) -> list[Config]:
    """Read and validate the configs of pools shown together.

    Raises:
        ConfigError: every problem of :func:`read_configs`, one line each.
    """
    configs, errors = read_configs(paths)
    if errors:
        raise ConfigError.combine(errors)
    return configs
