"""The command lines of ``vmtui attach`` and ``vmtui ctl`` (argparse only:
the command line builds them without loading the client)."""

from __future__ import annotations

import argparse
from typing import Any

CTL_TIMEOUT = 60.0  # seconds vmtui ctl waits for the daemon's answer (--timeout)
LIFECYCLE = ("boot", "start", "kill", "restart", "reset", "pause", "resume", "powerdown")

EXIT_STATUSES = """\
exit status:
  0  done
  1  the daemon refused or failed the action (its message on stderr)
  2  usage error, bad address, daemon unreachable or not answering in time
     (ctl --timeout), or token refused

ADDRESS is unix:PATH or tcp:HOST:PORT; without one, the only socket in
$XDG_RUNTIME_DIR/vmtui (else ./.vmtui) is used, or NAME.sock with --name NAME.
Over TCP the token comes from --token-file F or $VMTUI_TOKEN."""

CTL_COMMANDS = """\
commands:
  status [--json]          every instance: pool, state, uptime, lines, title
  crashes [--json]         unique crash titles with their counts, newest first
  ACTION NAME              a lifecycle action on instance NAME; ACTION is one of
                           boot (or start), kill, restart, reset, pause, resume, powerdown
  diagnose NAME ACTION     a diagnose action: sysrq-X (t, w, l, m, ...), registers, nmi,
                           ddb (BSD debugger) or diagnose (the OS's default set)
  hold NAME / release NAME pin an instance and open its gdb stub / undo it
  start-all / stop-all     boot every instance not running / kill every live one"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-file", metavar="F",
                        help="the bearer token for a tcp: address (else $VMTUI_TOKEN)")
    parser.add_argument("--name", metavar="NAME",
                        help="the default socket of the daemon whose first pool is NAME")


def add_remote_commands(sub: Any) -> None:
    """Add ``attach`` and ``ctl`` to the ``vmtui`` subcommands ``sub``."""
    attach = sub.add_parser(
        "attach", help="the TUI on the pools of a running 'vmtui serve' (q quits the "
                       "client only; the VMs go on)",
        description="Open the TUI on a daemon's pools. Quitting (q) leaves the daemon and "
                    "its VMs running; when the daemon goes away the pool screen says so "
                    "and the client reconnects by itself.",
        epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    attach.add_argument("address", nargs="?", metavar="ADDRESS",
                        help="unix:PATH or tcp:HOST:PORT (default: the daemon's socket)")
    _common(attach)
    ctl = sub.add_parser(
        "ctl", help="ask a running 'vmtui serve' (status, crashes, actions) from scripts",
        usage="vmtui ctl [--token-file F] [--name NAME] [--timeout SECONDS] [ADDRESS] COMMAND "
              "[ARG...] [--json]",
        description="One request to a daemon, for scripts: plain text (guest text made "
                    "inert) or --json.",
        epilog=f"{CTL_COMMANDS}\n\n{EXIT_STATUSES}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl_options(ctl)
    # The rest is read again by ctl_options' parser, so options may follow the words.
    ctl.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def ctl_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``vmtui ctl``, wherever they stand."""
    parser.add_argument("--json", action="store_true", help="JSON output (status, crashes)")
    parser.add_argument("--timeout", metavar="SECONDS", type=seconds,
                        help=f"give up when the daemon has not answered in SECONDS "
                             f"(default {CTL_TIMEOUT:g}; then exit status 2)")
    _common(parser)


def seconds(text: str) -> float:
    """A --timeout value: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value
