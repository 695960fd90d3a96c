"""Libvirt pools: transient domains made from a template, or existing domains
picked by a name pattern.

A template pool creates one transient domain per instance, paused, so its
console stream and lifecycle events are attached before its first instruction,
and destroys it when the instance closes. A ``domains:`` pool adopts the
index-th domain (in name order) matching the pattern: it attaches to a running
one as it is (no reboot: what it printed before is not replayed), starts a
defined one that is off, and leaves it as it is when vmtui quits.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import re
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from vmtui.backends.libvirt.config import LibvirtConfig
from vmtui.backends.libvirt.connection import Host, binding, call
from vmtui.backends.libvirt.instance import STATE_PAUSED, STATE_SHUTOFF, LibvirtInstance
from vmtui.backends.qemu.instance import _taken_ports, free_port
from vmtui.backends.ssh.target import SSHTarget, wait_for_ssh
from vmtui.backends.vm import BootError, InfraError, Pool
from vmtui.backends.vm.merger import OutputMerger

# A domain tells vmtui where its SSH server is reached in its metadata:
#   <metadata><vmtui:ssh xmlns:vmtui="urn:vmtui:1">10.0.0.5:22</vmtui:ssh></metadata>
METADATA_NS = "urn:vmtui:1"
_FORMAT = re.compile(r"<target>.*?<format type=['\"](\w+)['\"]", re.S)
_ADDRESS = re.compile(r">\s*\[?([^\]<>\s]+?)\]?:(\d+)\s*<")


def render(template: str, name: str, index: int, pool: str, ssh_port: int,
           disk: str = "") -> str:
    """The template with this instance's name, index, UUID, MAC, SSH port and disk."""
    digest = hashlib.sha256(f"{pool}/{name}".encode()).digest()
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])
    values = {"{name}": name, "{index}": str(index), "{uuid}": str(uuid.UUID(bytes=digest[:16])),
              "{mac}": mac, "{ssh_port}": str(ssh_port), "{disk}": disk}
    for key, value in values.items():
        template = template.replace(key, value)
    return template


class LibvirtPool(Pool):
    """Instances on the host of the config's URI, from a template or existing domains."""

    _host: Host | None = None

    @property
    def config(self) -> LibvirtConfig:
        cfg: LibvirtConfig = self.env.config
        return cfg

    @property
    def libvirt_host(self) -> Host:
        if self._host is None:
            self._host = Host(self.config.uri)
        return self._host

    async def create(self, name: str, workdir: Path, index: int,
                     output: OutputMerger) -> LibvirtInstance:
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.config.domains is not None:
            return await self._adopt(name, index, output)
        return await self._create(name, workdir, index, output)

    async def _create(self, name: str, workdir: Path, index: int,
                      output: OutputMerger) -> LibvirtInstance:
        lv = binding()
        cfg, env = self.config, self.env
        conn = await self.libvirt_host.connection()
        assert cfg.template is not None
        overlay = await self._overlay(conn, name) if cfg.disk else None
        port = free_port()
        xml = render(cfg.template.read_text(), name, index, env.name, port,
                     overlay.path() if overlay is not None else "")
        (workdir / "domain.xml").write_text(xml)
        try:
            # Paused: the console and events are attached before it runs.
            dom = await call(conn.createXML, xml, lv.VIR_DOMAIN_START_PAUSED)
        except lv.libvirtError as exc:
            _taken_ports.discard(port)
            if overlay is not None:
                await call(overlay.delete, 0)
            raise InfraError(f"{name}: libvirt refused the domain: "
                             f"{exc.get_error_message()}") from exc
        inst = LibvirtInstance(name, self.libvirt_host, dom, self._ssh(cfg.ssh_host, port),
                               output, env.boot_timeout, owned=True, overlay=overlay)
        await self._start(inst, output, resume=True)
        return inst

    async def _overlay(self, conn: Any, name: str) -> Any:
        """A new qcow2 overlay of the config's disk in its storage pool (the volume)."""
        lv = binding()
        cfg = self.config
        try:
            base = await call(conn.storageVolLookupByPath, cfg.disk)
            capacity = (await call(base.info))[1]
            fmt = _FORMAT.search(await call(base.XMLDesc, 0))
            pool = await call(conn.storagePoolLookupByName, cfg.storage_pool)
            xml = (f"<volume><name>{name}-{uuid.uuid4().hex[:8]}.qcow2</name>"
                   f"<capacity unit='bytes'>{capacity}</capacity>"
                   "<target><format type='qcow2'/></target>"
                   f"<backingStore><path>{cfg.disk}</path>"
                   f"<format type='{fmt.group(1) if fmt else 'raw'}'/></backingStore></volume>")
            return await call(pool.createXML, xml, 0)
        except lv.libvirtError as exc:
            raise InfraError(f"{name}: an overlay of disk {cfg.disk} in storage pool "
                             f"{cfg.storage_pool!r} on {self.libvirt_host.label}: "
                             f"{exc.get_error_message()} (the image must be a volume of a "
                             "storage pool there)") from exc

    async def _adopt(self, name: str, index: int, output: OutputMerger) -> LibvirtInstance:
        lv = binding()
        cfg, env = self.config, self.env
        conn = await self.libvirt_host.connection()
        pattern = cfg.domains or "*"
        try:
            names = sorted(n for n in await call(_all_domain_names, conn)
                           if fnmatch.fnmatchcase(n, pattern))
        except lv.libvirtError as exc:
            raise InfraError(f"{name}: listing domains on {self.libvirt_host.label}: "
                             f"{exc.get_error_message()}") from exc
        if index >= len(names):
            raise InfraError(f"{name}: domains: {pattern!r} matches {len(names)} domain(s) on "
                             f"{self.libvirt_host.label}, not enough for instance {index} (count: "
                             f"{len(names) or 'none'})")
        dom = await call(conn.lookupByName, names[index])
        state = (await call(dom.state))[0]
        ssh = await self._address(dom)
        inst = LibvirtInstance(name, self.libvirt_host, dom, ssh, output, env.boot_timeout,
                               owned=False)
        if state == STATE_SHUTOFF:
            await self._start(inst, output, start=True)
        else:
            await inst.attach()
            inst.attached = True
            output.feed("vmtui", f"[vmtui] attached to the running domain {names[index]} on "
                                 f"{self.libvirt_host.label}: what it printed before is not "
                                 "replayed\n".encode())
            if state != STATE_PAUSED:
                await self._wait_ssh(inst, output)
        return inst

    async def _address(self, dom: Any) -> SSHTarget | None:
        """Where a domain's SSH server is: its vmtui metadata, else its addresses."""
        lv = binding()
        try:
            meta = await call(dom.metadata, lv.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS, 0)
        except lv.libvirtError:
            meta = ""
        found = _ADDRESS.search(meta or "")
        if found:
            return self._ssh(found.group(1), int(found.group(2)))
        for source in (lv.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                       lv.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP):
            try:
                ifaces = await call(dom.interfaceAddresses, source, 0)
            except lv.libvirtError:
                continue
            for iface in ifaces.values():
                for addr in iface.get("addrs") or []:
                    if addr.get("type") == lv.VIR_IP_ADDR_TYPE_IPV4:
                        return self._ssh(addr["addr"], 22)
        return None

    def _ssh(self, host: str, port: int) -> SSHTarget | None:
        env = self.env
        if env.ssh_key is None:
            return None
        return SSHTarget(host, port, env.ssh_user, env.ssh_key, env.ssh_host_key,
                         env.ssh_host_key_check)

    async def _start(self, inst: LibvirtInstance, output: OutputMerger, *,
                     resume: bool = False, start: bool = False) -> None:
        try:
            await inst.attach()
            if resume:
                await inst.resume()
            if start:
                await inst.start()
            await self._wait_ssh(inst, output)
        except BaseException:
            await inst.close()
            raise

    async def _wait_ssh(self, inst: LibvirtInstance, output: OutputMerger) -> None:
        ssh, name, limit = inst.ssh, inst.name, self.env.boot_timeout
        if ssh is None:
            return
        ready = asyncio.ensure_future(wait_for_ssh(ssh, limit, nudge=output.activity))
        died = asyncio.ensure_future(inst.wait_exit())
        await asyncio.wait({ready, died}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise BootError(f"{name}: the domain stopped during boot", output.tail())
        died.cancel()
        try:
            ready.result()
        except TimeoutError as exc:
            raise BootError(f"{name}: no SSH at {ssh.host}:{ssh.port} within {limit:g}s of "
                            f"boot: {exc}", output.tail()) from exc

    async def close(self) -> None:
        if self._host is not None:
            await self._host.close()

    def host(self) -> str:
        where = urllib.parse.urlsplit(self.config.uri).hostname
        return where or "local"


def _all_domain_names(conn: Any) -> list[str]:
    return [dom.name() for dom in conn.listAllDomains(0)]
