"""The client's own guards: a default socket folder someone else could have
filled is refused, and ``vmtui ctl`` gives up on a daemon that never answers."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.remote_helpers import ctl
from vmtui.remote.address import AddressError, default_address
from vmtui.serve.addresses import default_socket


def test_the_default_folder_is_one_place_and_others_may_not_write_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    folder = tmp_path / f"vmtui-{os.getuid()}"
    folder.mkdir(mode=0o700)
    (folder / "p.sock").touch()
    assert default_address().path == folder / "p.sock"
    # the daemon's default, wherever either runs from
    assert default_socket("p").path == folder / "p.sock"
    folder.chmod(0o777)
    with pytest.raises(AddressError, match="others may write in it"):
        default_address()
    with pytest.raises(AddressError, match="others may write in it"):
        default_address("p")
    folder.chmod(0o700)
    real = os.getuid()
    other = tmp_path / f"vmtui-{real + 1}"  # where the other uid looks: made by this one
    other.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: real + 1)
    with pytest.raises(AddressError, match=f"belongs to uid {real}, not to you"):
        default_address()


def test_ctl_gives_up_on_a_daemon_that_never_answers(tmp_path: Path) -> None:
    path = tmp_path / "wedged.sock"
    with socket.socket(socket.AF_UNIX) as wedged:
        wedged.bind(str(path))
        wedged.listen(8)  # connections wait in the backlog: never accepted, never answered
        start = time.monotonic()
        got = ctl(f"unix:{path}", "kill", "x-0", "--timeout", "0.5", timeout=30)
        took = time.monotonic() - start
    assert got.returncode == 2, got.stderr
    assert "no answer in 0.5 s" in got.stderr and "--timeout" in got.stderr
    assert took < 20
    for bad in ("0", "-1", "soon"):
        refused = ctl(f"unix:{path}", "status", "--timeout", bad)
        assert refused.returncode == 2 and "positive number of seconds" in refused.stderr


def test_ctl_help_documents_the_timeout() -> None:
    shown = ctl("--help")
    assert "--timeout SECONDS" in shown.stdout and "(default 60;" in shown.stdout
