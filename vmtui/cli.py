"""The ``vmtui`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from vmtui import __version__
from vmtui.backends.config.pool import Config, load_config, load_configs, read_configs
from vmtui.backends.config.schema import ConfigError
from vmtui.remote.args import add_remote_commands

COMMANDS = ("argv", "attach", "check", "ctl", "demo", "guest",
            "report", "run", "schema", "screenshot", "serve")
EXIT_CONFIG = 2
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell shows for `yes | head`


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vmtui",
        description="Watch and handle pools of test VMs. "
                    "'vmtui CONFIG...' opens the pools of config files (several are shown "
                    "together).",
    )
    p.add_argument("--version", action="version", version=f"vmtui {__version__}")
    p.add_argument("--debug", action="store_true", help="log debug output to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="open the pools of CONFIG... (the same as "
                                     "'vmtui CONFIG...')")
    run.add_argument("config", nargs="+", help="pool configs (YAML): one pool each")
    check = sub.add_parser("check", help="validate CONFIG... without starting anything: "
                           "each file, and pools shown together (their names)")
    check.add_argument("config", nargs="+", help="pool configs (YAML): one pool each")
    argv = sub.add_parser("argv", help="print the QEMU command line of an instance of CONFIG, "
                          "one argument per line, without starting anything")
    argv.add_argument("config", help="pool config (YAML)")
    argv.add_argument("--instance", type=int, default=0, metavar="N",
                      help="which instance (0, the default)")
    sub.add_parser("schema", help="print a JSON Schema of the config, for editors")
    demo = sub.add_parser("demo", help="build the test guest if needed, open the demo pool")
    demo.add_argument("--count", type=int, default=None, choices=range(1, 5),
                      metavar="N", help="instances (1 to 4, default 3)")
    demo.add_argument("--fuzz", action="store_true",
                      help="run trinity (a system-call fuzzer) in every guest, round after "
                           "round, restarting crashed guests")
    demo.add_argument("--print", action="store_true", dest="print_config",
                      help="print the demo config as YAML and exit")
    shot = sub.add_parser("screenshot", help="boot a pool headless and save a screen as SVG")
    shot.add_argument("config", help="pool config (YAML), or 'demo' for the demo pool")
    shot.add_argument("--screen", default="pool", help="pool (default) or instance:NAME")
    shot.add_argument("--out", required=True, type=Path, help="the SVG file to write")
    shot.add_argument("--size", default="120x32", help="terminal COLUMNSxROWS (120x32)")
    shot.add_argument("--timeout", type=float, default=180.0,
                      help="seconds to wait for the pool to boot (180)")
    report = sub.add_parser("report", help="find the kernel reports in a console log "
                            "(exit status 1 when there is one)")
    report.add_argument("log", help="a console log (console.log, a syzkaller logN), "
                        "or - for standard input")
    report.add_argument("--os", default="linux", choices=("linux", "freebsd", "openbsd",
                                                           "netbsd"), help="guest OS (linux)")
    report.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    report.add_argument("--vmlinux", metavar="V", help="the kernel with debug info: frames "
                        "get file:line (inlined ones too) and the guilty file is named")
    report.add_argument("--module", action="append", default=[], metavar="KO",
                        help="a module's .ko with debug info, for its frames (repeatable)")
    serve = sub.add_parser("serve", help="run the pools of CONFIG... and their farm as a "
                           "daemon behind a JSON API (docs/api.md), with no terminal UI")
    serve.add_argument("config", nargs="+", help="pool configs (YAML): one pool each")
    serve.add_argument("--listen", action="append", metavar="ADDRESS",
                       help="unix:PATH or tcp:HOST:PORT (repeatable); default: the Unix "
                            "socket $XDG_RUNTIME_DIR/vmtui/NAME.sock, else "
                            "$TMPDIR/vmtui-UID/NAME.sock")
    serve.add_argument("--name", help="the daemon's name, for its default socket (default: "
                                      "the first pool's name)")
    guest = sub.add_parser("guest", help="the small Linux test guest")
    gsub = guest.add_subparsers(dest="guest_command", metavar="ACTION", required=True)
    gbuild = gsub.add_parser("build", help="build it into the cache (reused if unchanged)")
    gbuild.add_argument("--force", action="store_true", help="rebuild even if unchanged")
    gbuild.add_argument("--debug", action="store_true",
                        help="also fetch the kernel's debug symbols (the -dbg package, 283 MB "
                             "download) and keep its vmlinux and System.map (600 MB) in debug/")
    gsub.add_parser("info", help="show where it is and what it is made of")
    add_remote_commands(sub)
    return p


def _fail(message: str, status: int = 1) -> int:
    """Say ``message`` on standard error, each of its lines as ``vmtui: ...``."""
    print("".join(f"vmtui: {line}\n" for line in message.splitlines()), end="",
          file=sys.stderr)
    return status


def _check(paths: list[str]) -> int:
    """``vmtui check``: each valid file ``ok``, then every problem, one line each."""
    configs, errors = read_configs(paths)
    bad = {e.file for e in errors}
    for config in configs:
        if config.source not in bad:
            count = config.pool.count
            print(f"{config.source}: ok ({config.pool.type}, {count} "
                  f"instance{'s' if count != 1 else ''})")
    if errors:
        return _fail(ConfigError.combine(errors).args[0], EXIT_CONFIG)
    return 0


def _run_app(*configs: Config) -> int:
    from vmtui.app import VmtuiApp
    from vmtui.serve.pools import PoolsError, open_pools

    try:  # locked until the process ends: one vmtui (app or daemon) per workdir
        control, locks = open_pools(list(configs))  # as vmtui serve does
    except PoolsError as exc:
        return _fail(str(exc), exc.status)
    app = VmtuiApp(control, confirm_quit=True)  # q asks while VMs run
    app.run()
    locks.release()
    return app.return_code or 0


def _guest(args: argparse.Namespace) -> int:
    from vmtui.guest.build import GuestBuildError, build, default_guest

    if args.guest_command == "info":
        guest = default_guest()
        if not guest.ready():
            return _fail(f"no guest in {guest.dir}: run 'vmtui guest build'")
        print(f"folder: {guest.dir}")
        for key, value in guest.info().items():
            print(f"{key}: {value}")
        return 0
    try:
        build(force=args.force, debug=args.debug,
              log=lambda msg: print(f"guest: {msg}", flush=True))
    except GuestBuildError as exc:
        return _fail(str(exc))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from vmtui.demo import DEMO_COUNT, demo_config, demo_dict
    from vmtui.guest.build import GuestBuildError, build

    count = args.count or DEMO_COUNT
    if args.print_config:
        print(yaml.safe_dump(demo_dict(count=count, fuzz=args.fuzz), sort_keys=False), end="")
        return 0
    try:
        guest = build(log=lambda msg: print(f"guest: {msg}", flush=True))
    except GuestBuildError as exc:
        return _fail(str(exc))
    return _run_app(demo_config(guest, count, fuzz=args.fuzz))


def _argv(config: Config, index: int) -> int:
    from vmtui.argvcmd import ArgvError, print_argv

    try:
        print_argv(config, index)
    except ArgvError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    return 0


def _screenshot(args: argparse.Namespace) -> int:
    from vmtui.backends.fleet.fleet import Fleet
    from vmtui.backends.fleet.local import LocalControl
    from vmtui.screenshot import ScreenshotError, take

    try:
        cols, rows = (int(n) for n in args.size.lower().split("x"))
    except ValueError:
        return _fail(f"--size: {args.size!r} is not COLUMNSxROWS", EXIT_CONFIG)
    if args.config == "demo":
        from vmtui.demo import demo_config
        from vmtui.guest.build import GuestBuildError, build

        try:
            config = demo_config(build())
        except GuestBuildError as exc:
            return _fail(str(exc))
    else:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return _fail(str(exc), EXIT_CONFIG)
    try:
        take(LocalControl(Fleet(config)), args.screen, args.out, (cols, rows), args.timeout)
    except ScreenshotError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vmtui`` console script."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader gone shows here, not at exit
    except BrokenPipeError:
        # The reader left (vmtui schema | head): stop quietly, as a tool ended by
        # SIGPIPE would; devnull under stdout keeps Python's last flush quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and not args_list[0].startswith("-") and args_list[0] not in COMMANDS:
        args_list.insert(0, "run")
    args = _parser().parse_args(args_list)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(name)s: %(message)s")
    # asyncssh logs every connection attempt at INFO; keep boot polling quiet.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    if args.command is None:
        _parser().print_help()
        return EXIT_CONFIG
    if args.command == "guest":
        return _guest(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "screenshot":
        return _screenshot(args)
    if args.command == "serve":
        from vmtui.serve.daemon import serve_command

        return serve_command(args)
    if args.command == "report":
        from vmtui.reportcmd import report_command

        return report_command(args)
    if args.command in ("attach", "ctl"):
        from vmtui.remote.attach import attach_command
        from vmtui.remote.ctl import ctl_command

        return (attach_command if args.command == "attach" else ctl_command)(args)
    if args.command == "schema":
        import json

        from vmtui.backends.config.jsonschema import config_schema
        from vmtui.backends.config.pool import PoolConfig

        print(json.dumps(config_schema(PoolConfig), indent=2))
        return 0
    if args.command == "run":
        try:
            configs = load_configs(args.config)
        except ConfigError as exc:
            return _fail(str(exc), EXIT_CONFIG)
        return _run_app(*configs)
    if args.command == "check":
        return _check(args.config)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    if args.command == "argv":
        return _argv(config, args.instance)
    return EXIT_CONFIG
