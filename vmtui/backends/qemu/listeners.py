"""Extra QEMU arguments that would open a TCP listener, refused.

Only the owner may reach a VM: a gdb stub, a monitor, a QMP socket, a VNC or
SPICE display or an incoming migration on a TCP port can be reached by every
local user (and by other hosts when bound to a routable address), with the
power to read and write guest memory or drive the VM. vmtui's own listeners are
Unix sockets in a 0700 folder; ``qemu_args`` must not add TCP ones behind its
back. A client connection out of QEMU (``-chardev socket,host=H,port=P`` without
``server``) listens on nothing and is let through.
"""

from __future__ import annotations

# Options whose value is a character device spec (QEMU's "-serial tcp:...,server").
_CHARDEV_SPEC = ("-qmp", "-qmp-pretty", "-monitor", "-serial", "-parallel", "-debugcon",
                 "-gdb")
_TCP_PREFIXES = ("tcp:", "telnet:", "websocket:")
_GDB_OK = ("unix:", "chardev:", "none", "stdio", "pty", "/dev/")
_WHY = "any local user could reach it: vmtui's listeners are Unix sockets in a 0700 folder"


def _options(arg: str) -> dict[str, str]:
    """``key=value`` parts of a comma-separated QEMU option string (bare words map to "")."""
    parts: dict[str, str] = {}
    for part in arg.split(","):
        key, _, value = part.partition("=")
        parts[key.strip()] = value
    return parts


def tcp_listeners(args: list[str]) -> list[str]:
    """Why each TCP listener in ``args`` (QEMU arguments as given) is refused; [] if none."""
    problems: list[str] = []
    for i, raw in enumerate(args):
        opt = "-" + raw.lstrip("-") if raw.startswith("-") else ""
        value = args[i + 1] if i + 1 < len(args) else ""
        where = f"qemu_args[{i}]: {raw!r}"
        if opt == "-s":
            problems.append(f"{where} opens a gdb stub on TCP port 1234 of every interface; "
                            f"{_WHY} (Hold opens a stub on a private Unix socket)")
        elif opt == "-gdb" and not value.startswith(_GDB_OK):
            problems.append(f"{where} {value!r} opens a gdb stub on a network port; {_WHY} "
                            "(use unix:PATH, or Hold)")
        elif opt in _CHARDEV_SPEC and value.startswith(_TCP_PREFIXES) and "server" in value:
            problems.append(f"{where} {value!r} listens on a TCP port; {_WHY} (use unix:PATH)")
        elif opt == "-chardev" and value.startswith("socket"):
            parts = _options(value)
            tcp = "host" in parts or "port" in parts
            if tcp and "server" in parts and parts["server"] != "off":
                problems.append(f"{where} {value!r} listens on a TCP port; {_WHY} (use path=)")
        elif opt == "-vnc" and not (value.startswith("unix:") or value == "none"):
            problems.append(f"{where} {value!r} serves the display and keyboard on a TCP "
                            f"port; {_WHY} (use unix:PATH)")
        elif opt == "-spice" and ({"port", "tls-port"} & set(_options(value))):
            problems.append(f"{where} {value!r} serves the display on a TCP port; {_WHY} "
                            "(use unix=on,addr=PATH)")
        elif opt == "-incoming" and value.startswith(("tcp:", "rdma:")):
            problems.append(f"{where} {value!r} takes a migration stream (the whole VM) from "
                            f"a TCP port; {_WHY} (use unix:PATH or fd:)")
    return problems
