"""The ``vm:`` section of a libvirt pool: domains on a host libvirt manages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.config.schema import spec

PLACEHOLDERS = ("{name}", "{index}", "{uuid}", "{mac}", "{ssh_port}", "{disk}")


@dataclass(frozen=True)
class LibvirtConfig:
    """Where libvirt runs the domains, and which domains are the pool's."""

    uri: str = spec("qemu:///system", help="the libvirt connection URI (qemu:///system, "
                                           "qemu+ssh://user@host/system, ...)")
    domains: str | None = spec(
        None, help="a name pattern (fnmatch: fuzz-*) selecting existing domains to watch and "
                   "drive, in name order, one per instance; vmtui never destroys them")
    template: Path | None = spec(
        None, must_exist=True,
        help="a domain XML file: vmtui creates one transient domain per instance from it, "
             "filling in " + ", ".join(PLACEHOLDERS))
    disk: str | None = spec(
        None, help="a disk image on the libvirt host, in one of its storage pools: each "
                   "domain gets its own qcow2 overlay of it ({disk} in the template), made in "
                   "storage_pool and deleted with the domain")
    storage_pool: str = spec("default", help="the libvirt storage pool overlays are made in")
    ssh_host: str = spec("127.0.0.1", help="where the guests' forwarded SSH ports are "
                                           "reached ({ssh_port} in the template)")

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9+]*:", self.uri):
            raise ValueError(f"uri: {self.uri!r} is not a libvirt URI (qemu:///system)")
        if (self.template is None) == (self.domains is None):
            raise ValueError("domains: give either domains (a pattern naming existing "
                             "domains) or template (a domain XML vmtui creates domains "
                             "from), not both" if self.template else
                             "template: give the domain XML file the pool's domains are "
                             "made from, or domains: a pattern naming existing ones")
        if self.domains is not None:
            if not self.domains.strip():
                raise ValueError("domains: an empty pattern matches no domain")
            return
        assert self.template is not None
        text = self.template.read_text(errors="replace")
        if "{name}" not in text:
            raise ValueError(f"template: {self.template} has no {{name}}: every domain of "
                             "the pool needs its own name")
        if (self.disk is None) != ("{disk}" not in text):
            raise ValueError(f"disk: {self.disk!r} is given but the template has no {{disk}} "
                             "to put its overlay at" if self.disk else
                             f"template: {self.template} uses {{disk}}: give disk, the image "
                             "each domain gets an overlay of")
        if self.disk is not None and not self.disk.startswith("/"):
            raise ValueError(f"disk: {self.disk!r} must be an absolute path on the libvirt host")
