"""``vmtui attach``: the Textual front on a :class:`RemoteControl`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmtui.backends.vm.errors import VMError
from vmtui.remote.address import AddressError, read_token, resolve
from vmtui.remote.control import RemoteControl

if TYPE_CHECKING:
    from vmtui.app import VmtuiApp

EXIT_USAGE = 2
READ_ONLY = "read-only token: you can look, not act"


def attach_command(args: argparse.Namespace) -> int:
    """Run the app on the daemon ``args`` names; its exit status."""
    try:
        address = resolve(args.address, args.name)
        token = read_token(args.token_file)
    except AddressError as exc:
        print(f"vmtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_attach(RemoteControl(address, token)))


async def _attach(control: RemoteControl) -> int:
    try:
        await control.connect()
    except (VMError, KeyError) as exc:
        await control.close()
        print(f"vmtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    app = attached_app(control)
    try:
        await app.run_async()
    finally:
        await control.close()
    return app.return_code or 0


def attached_app(control: RemoteControl) -> VmtuiApp:
    """The front on ``control``; it says once when the token is read-only."""
    import vmtui.app  # the front, once there is something to show

    class Attached(vmtui.app.VmtuiApp):
        CSS_PATH = str(Path(vmtui.app.__file__).with_name("vmtui.tcss"))  # not beside this

        def on_ready(self) -> None:
            if control.read_only:
                self.notify(READ_ONLY, severity="warning", timeout=10)

    # Nothing to boot (the daemon runs the pools), and nothing stops when it
    # quits: closing a RemoteControl closes the connection only.
    return Attached(control, boot=False)
