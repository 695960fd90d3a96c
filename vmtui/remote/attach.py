"""``vmtui attach``: the Textual front on a :class:`RemoteControl`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from vmtui.backends.vm.errors import VMError
from vmtui.remote.address import AddressError, read_token, resolve
from vmtui.remote.control import RemoteControl

EXIT_USAGE = 2


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
    from vmtui.app import VmtuiApp  # the front, once there is something to show

    # Nothing to boot (the daemon runs the pools), and nothing stops when it
    # quits: closing a RemoteControl closes the connection only.
    app = VmtuiApp(control, boot=False)
    try:
        await app.run_async()
    finally:
        await control.close()
    return app.return_code or 0
