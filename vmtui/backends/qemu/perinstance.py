"""One ``vm:`` section, many instances: the values that must differ between them.

Every string and path of the section may say ``{name}`` (the instance's name,
``pool-2``) or ``{index}`` (its number, ``2``); :func:`for_instance` fills them
in. :func:`check_pool` refuses, before anything starts, what a pool of more than
one instance cannot share: a writable disk image (QEMU's image lock would stop
the second instance), a fixed UUID, MAC or socket path; and it checks that the
files a path names per instance exist. MACs and UUIDs left unset differ per
instance by default (:func:`default_mac`, :func:`default_uuid`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any, TypeVar

from vmtui.backends.config.schema import fill, varies
from vmtui.backends.qemu.devices import Block, Chardev, Net
from vmtui.backends.qemu.layout import device_ids
from vmtui.backends.vm import InfraError

T = TypeVar("T")


def _walk(value: Any, name: str, index: int) -> Any:
    if isinstance(value, str):
        return fill(value, name, index)
    if isinstance(value, Path):
        return Path(fill(str(value), name, index)) if varies(value) else value
    if isinstance(value, list):
        return [_walk(v, name, index) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return for_instance(value, name, index)
    return value


def for_instance(cfg: T, name: str, index: int) -> T:
    """``cfg`` (the vm section or a device) with ``{name}`` and ``{index}`` filled in."""
    assert dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)
    changes = {f.name: _walk(getattr(cfg, f.name), name, index)
               for f in dataclasses.fields(cfg) if not f.name.startswith("_")}
    return dataclasses.replace(cfg, **changes)


def default_mac(instance: str, device: str) -> str:
    """A locally administered unicast MAC, the same for an instance's NIC each boot."""
    digest = hashlib.sha1(f"{instance}/{device}".encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def default_uuid(instance: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vmtui:{instance}"))


def _must_exist(cfg: Any, path: str, names: list[str], original: Any) -> None:
    """Paths that vary per instance were not checked at load: check each one."""
    for f in dataclasses.fields(cfg):
        value, raw = getattr(cfg, f.name), getattr(original, f.name)
        here = f"{path}{f.name}"
        if isinstance(raw, Path) and varies(raw) and f.metadata.get("must_exist") \
                and not value.exists():
            raise ValueError(f"{here}: file not found: {value} (for instance {names[0]})")
        if isinstance(raw, list):
            for i, (item, raw_item) in enumerate(zip(value, raw, strict=True)):
                if dataclasses.is_dataclass(item):
                    _must_exist(item, f"{here}[{i}].", names, raw_item)


def check_pool(cfg: Any, names: list[str]) -> None:
    """Refuse what the pool's instances cannot share.

    Raises:
        ValueError: "field: problem", the field relative to the vm section.
    """
    for index, name in enumerate(names):
        _must_exist(for_instance(cfg, name, index), "", [name], cfg)
    if len(names) < 2:
        return
    many = f"the {len(names)} instances would share it"
    if cfg.uuid and not varies(cfg.uuid):
        raise ValueError(f"uuid: {many}; put {{index}} in it or leave it empty (each "
                         "instance then gets its own)")
    for i, sock in enumerate(cfg.qmp_sockets):
        if not varies(sock):
            raise ValueError(f"qmp_sockets[{i}]: {many}; put {{name}} in the path")
    for i, (dev, dev_id) in enumerate(zip(cfg.devices, device_ids(cfg.devices), strict=True)):
        where = f"devices[{i}]"
        if isinstance(dev, Block) and not (dev.readonly or dev.snapshot or dev.overlay
                                           or varies(dev.file)):
            raise ValueError(f"{where}.file: a writable disk image cannot serve "
                             f"{len(names)} instances (QEMU locks it for the first): set "
                             "overlay: true (a qcow2 overlay per instance), snapshot: true, "
                             "readonly: true, or put {index} in the path")
        if isinstance(dev, Net) and dev.backend == "tap" and dev.ifname \
                and not varies(dev.ifname):
            raise ValueError(f"{where}.ifname: {many}; put {{index}} in it, or leave it "
                             "empty (each instance gets its own tap, vt-NAME)")
        if isinstance(dev, Net) and dev.mac and not varies(dev.mac):
            raise ValueError(f"{where}.mac: {many}; leave it empty (each instance gets "
                             "its own) or put {index} in it")
        if isinstance(dev, Chardev) and dev.path is not None and dev.backend in (
                "socket", "pipe", "file") and not varies(dev.path):
            raise ValueError(f"{where}.path: {many} ({dev_id}); put {{name}} in the path")


async def make_overlays(cfg: T, workdir: Path) -> T:
    """``cfg`` with each ``overlay: true`` disk replaced by a fresh qcow2 overlay in
    ``workdir`` whose backing file is the shared image.

    Raises:
        InfraError: qemu-img is missing or fails.
    """
    devices = list(cfg.devices)  # type: ignore[attr-defined]
    if not any(isinstance(d, Block) and d.overlay for d in devices):
        return cfg
    tool = shutil.which("qemu-img")
    if tool is None:
        raise InfraError("overlay: qemu-img not found: install the qemu-utils package")
    for i, (dev, dev_id) in enumerate(zip(devices, device_ids(devices), strict=True)):
        if not (isinstance(dev, Block) and dev.overlay):
            continue
        target = workdir / f"{dev_id}.overlay.qcow2"
        target.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            tool, "create", "-q", "-f", "qcow2", "-b", str(dev.file.resolve()),
            "-F", dev.format, str(target),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise InfraError(f"devices[{i}].overlay: qemu-img create failed: "
                             f"{err.decode(errors='replace').strip()}")
        devices[i] = dataclasses.replace(dev, file=target, format="qcow2", overlay=False)
    return dataclasses.replace(cfg, devices=devices)  # type: ignore[type-var]
