"""Internal VM snapshots (savevm/loadvm) of a running QEMU, over QMP.

QEMU 6.0 and later run them as jobs (``snapshot-save``, ``snapshot-load``,
``snapshot-delete``); older ones only have the human monitor's ``savevm``,
``loadvm`` and ``delvm``. The RAM and device state goes into the first
writable qcow2 disk, and every writable qcow2 disk gets the snapshot too; a
VM with no such disk cannot have one (say ``overlay: true`` on a disk).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

from vmtui.backends.qemu.domain import Domain, DomainError
from vmtui.backends.vm.qmp_types import VMSnapshot

TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_jobs = itertools.count()


def _check_tag(tag: str) -> None:
    if not TAG_RE.match(tag):
        raise DomainError(f"snapshot tag {tag!r}: letters, digits, '.', '_' or '-' "
                          "(at most 64, starting with a letter or digit)")


async def _writable_qcow2(domain: Domain) -> list[dict[str, Any]]:
    found = []
    for dev in await domain.execute("query-block"):
        inserted = dev.get("inserted")
        if inserted and inserted.get("drv") == "qcow2" and not inserted.get("ro"):
            found.append(inserted)
    if not found:
        raise DomainError(f"{domain.name}: snapshots need a writable qcow2 disk to hold the "
                          "VM state (a disk with overlay: true, or format: qcow2)")
    return found


def _listed(disks: list[dict[str, Any]]) -> list[VMSnapshot]:
    raw = disks[0].get("image", {}).get("snapshots", [])
    return sorted((VMSnapshot.parse(s) for s in raw), key=lambda s: s.date)


async def snapshots(domain: Domain) -> list[VMSnapshot]:
    """The snapshots the VM-state disk holds, oldest first."""
    return _listed(await _writable_qcow2(domain))


async def _run_job(domain: Domain, command: str, args: dict[str, Any], timeout: float) -> None:
    job = f"vmtui-{command}-{next(_jobs)}"
    await domain.execute(command, {"job-id": job, **args})
    async with asyncio.timeout(timeout):
        while True:
            mine = [j for j in await domain.execute("query-jobs") if j.get("id") == job]
            if mine and mine[0].get("status") == "concluded":
                await domain.execute("job-dismiss", {"id": job})
                if error := mine[0].get("error"):
                    raise DomainError(f"{domain.name}: {command} failed: {error}")
                return
            await asyncio.sleep(0.05)


async def _hmp(domain: Domain, line: str) -> None:
    out = (await domain.hmp(line)).strip()
    if out:  # the human monitor says nothing when it worked
        raise DomainError(f"{domain.name}: {line} failed: {out}")


async def _act(domain: Domain, command: str, hmp_verb: str, tag: str, timeout: float,
               *, must_exist: bool = False, vmstate: bool = True) -> None:
    """Run snapshot ``command`` (a QMP job) on every writable qcow2 disk, the
    VM state in the first; the human monitor's ``hmp_verb`` where QEMU lacks it."""
    _check_tag(tag)
    disks = await _writable_qcow2(domain)
    if must_exist and tag not in {s.tag for s in _listed(disks)}:
        raise DomainError(f"{domain.name}: no snapshot {tag!r}")
    nodes = [d["node-name"] for d in disks]
    if await domain.supported(command):
        args: dict[str, Any] = {"tag": tag, "devices": nodes}
        if vmstate:
            args["vmstate"] = nodes[0]
        await _run_job(domain, command, args, timeout)
    else:
        await _hmp(domain, f"{hmp_verb} {tag}")


async def save(domain: Domain, tag: str, timeout: float = 300.0) -> None:
    await _act(domain, "snapshot-save", "savevm", tag, timeout)


async def load(domain: Domain, tag: str, timeout: float = 300.0) -> None:
    await _act(domain, "snapshot-load", "loadvm", tag, timeout, must_exist=True)


async def delete(domain: Domain, tag: str, timeout: float = 60.0) -> None:
    await _act(domain, "snapshot-delete", "delvm", tag, timeout, vmstate=False)
