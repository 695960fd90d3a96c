"""``vmtui argv CONFIG``: the QEMU command line of one instance, without starting it.

Some values exist only once an instance starts (its SSH port, its runtime
folder, the fds vmtui opens for tap devices); the command line shows them as
variables, in exactly the options that hold them. Everything else, the user's
own ``panic=-1`` or forward on port 65535, is printed as QEMU gets it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from vmtui.backends.config.pool import Config
from vmtui.backends.qemu import QemuConfig
from vmtui.backends.qemu.accel import resolve_for_argv as resolve_accel
from vmtui.backends.qemu.config import LaunchPlan, build_argv
from vmtui.backends.qemu.devices import OWN_PREFIX, Net
from vmtui.backends.qemu.layout import device_ids
from vmtui.backends.qemu.perinstance import for_instance

SSH_PORT = 65535  # stands for the port; replaced only in vmtui's own forward
FD_OPTIONS = {"fd": "$TAP_FD", "fds": "$TAP_FD", "vhostfd": "$VHOST_FD",
              "vhostfds": "$VHOST_FD"}


class ArgvError(Exception):
    """The instance has no QEMU command line (another VM type, no such instance)."""


def _fd_option(option: str) -> str:
    key, _, value = option.partition("=")
    name = FD_OPTIONS.get(key)
    if name is None:
        return option
    fds = value.split(":")
    if key.endswith("fds"):  # one a queue: $TAP_FD0:$TAP_FD1
        return f"{key}=" + ":".join(f"{name}{i}" for i in range(len(fds)))
    return f"{key}={name}"


def with_variables(argv: list[str], own: int, tap_ids: set[str]) -> list[str]:
    """``argv`` with the values chosen at start shown as variables.

    Only vmtui's own ``-netdev`` options change (among the first ``own``
    arguments; the user's ``qemu_args`` follow them): a tap device's
    ``fd``/``fds``/``vhostfd``/``vhostfds``, and the port of vmtui's SSH forward.
    """
    out = list(argv)
    ssh = f"user,id={OWN_PREFIX}ssh,"
    forward = f"hostfwd=tcp:127.0.0.1:{SSH_PORT}-:22"
    for i in range(1, own):
        if argv[i - 1] != "-netdev":
            continue
        options = argv[i].split(",")
        if options[0] == "tap" and options[1].removeprefix("id=") in tap_ids:
            out[i] = ",".join(options[:2] + [_fd_option(o) for o in options[2:]])
        elif argv[i].startswith(ssh):
            out[i] = ",".join("hostfwd=tcp:127.0.0.1:$SSH_PORT-:22" if o == forward else o
                              for o in options)
    return out


def instance_argv(config: Config, index: int) -> list[str]:
    """The argv instance ``index`` of ``config`` would get, with variables.

    Raises:
        ArgvError: not a QEMU pool, or no such instance.
    """
    if not isinstance(config.vm, QemuConfig):
        raise ArgvError(f"{config.source}: type: {config.pool.type} has no QEMU command line")
    if not 0 <= index < config.pool.count:
        raise ArgvError(f"--instance: {index} is not one of 0 to {config.pool.count - 1}")
    name = f"{config.pool.name}-{index}"
    cfg = for_instance(config.vm, name, index)
    taps = {dev_id: [-1] * (2 * d.queues)
            for d, dev_id in zip(cfg.devices, device_ids(cfg.devices), strict=True)
            if isinstance(d, Net) and d.backend != "user"}
    plan = LaunchPlan(name=name, qmp_socket=Path("$RUNTIME") / f"{name}.qmp",
                      ssh_port=SSH_PORT if cfg.network else None,
                      accel=resolve_accel(cfg.accel)[0], fds=taps,
                      uefi_vars=Path("$WORKDIR") / "uefi-vars.fd"
                      if cfg.firmware == "uefi" else None, index=index)
    argv = build_argv(cfg, plan)
    own = len(argv) - len(cfg.qemu_args)
    assert argv[own:] == list(cfg.qemu_args), "build_argv ends with the user's qemu_args"
    return with_variables(argv, own, set(taps))


def print_argv(config: Config, index: int) -> None:
    """Print instance ``index``'s argv, one shell-quoted argument a line.

    Raises:
        ArgvError: as :func:`instance_argv`.
    """
    for arg in instance_argv(config, index):
        print(shlex.quote(arg))
