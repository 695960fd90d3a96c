"""One vm section, many instances: {name} and {index}, and what they cannot share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vmtui.backends.config.pool import parse_config
from vmtui.backends.config.schema import ConfigError
from vmtui.backends.qemu.config import LaunchPlan, build_argv
from vmtui.backends.qemu.perinstance import default_mac, default_uuid, for_instance


def config(tmp_path: Path, count: int = 3, **vm: Any) -> Any:
    (tmp_path / "vmlinuz").write_bytes(b"k")
    (tmp_path / "disk.img").write_bytes(b"d")
    data = {"name": "p", "count": count, "workdir": str(tmp_path / "w"),
            "vm": {"kernel": "vmlinuz", **vm}}
    return parse_config(data, file="pool.yaml", base_dir=tmp_path)


def refused(tmp_path: Path, **vm: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, **vm)
    return str(caught.value)


def test_placeholders_fill_every_string_and_path(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"d{i}.img").write_bytes(b"d")
    cfg = config(tmp_path, append="console=ttyS0 vmtui.who={name}",
                 devices=[{"kind": "block", "file": "d{index}.img"},
                          {"kind": "chardev", "path": "/run/{name}.sock"}]).vm
    mine = for_instance(cfg, "p-2", 2)
    assert mine.append == "console=ttyS0 vmtui.who=p-2"
    assert mine.devices[0].file == tmp_path / "d2.img"
    assert str(mine.devices[1].path) == "/run/p-2.sock"


def test_a_path_missing_for_one_instance_is_named(tmp_path: Path) -> None:
    (tmp_path / "d0.img").write_bytes(b"d")
    msg = refused(tmp_path, devices=[{"kind": "block", "file": "d{index}.img"}])
    assert msg == f"pool.yaml: vm.devices[0].file: file not found: {tmp_path}/d1.img " \
                  "(for instance p-1)"


def test_a_writable_image_cannot_serve_a_pool(tmp_path: Path) -> None:
    msg = refused(tmp_path, devices=[{"kind": "block", "file": "disk.img"}])
    assert msg.startswith("pool.yaml: vm.devices[0].file: a writable disk image cannot serve "
                          "3 instances (QEMU locks it for the first): set overlay: true")
    for ok in ({"overlay": True}, {"snapshot": True}, {"readonly": True}):
        config(tmp_path, devices=[{"kind": "block", "file": "disk.img", **ok}])
    config(tmp_path, count=1, devices=[{"kind": "block", "file": "disk.img"}])


@pytest.mark.parametrize(("vm", "field"), [
    ({"uuid": "12345678-1234-1234-1234-123456789abc"}, "vm.uuid"),
    ({"qmp_sockets": ["/run/extra.qmp"]}, "vm.qmp_sockets[0]"),
    ({"devices": [{"kind": "net", "mac": "52:54:00:12:34:56"}]}, "vm.devices[0].mac"),
    ({"devices": [{"kind": "chardev", "path": "/run/c.sock"}]}, "vm.devices[0].path"),
    ({"devices": [{"kind": "net", "backend": "tap", "ifname": "tap0"}]},
     "vm.devices[0].ifname"),
])
def test_fixed_identities_are_refused_for_a_pool(tmp_path: Path, vm: dict[str, Any],
                                                 field: str) -> None:
    assert refused(tmp_path, **vm).startswith(f"pool.yaml: {field}: ")


def test_identities_differ_per_instance_by_default(tmp_path: Path) -> None:
    cfg = config(tmp_path, devices=[{"kind": "net"}],
                 uuid="12345678-1234-1234-1234-12345678900{index}").vm
    argvs = [build_argv(for_instance(cfg, f"p-{i}", i),
                        LaunchPlan(f"p-{i}", Path(f"/run/p-{i}.qmp"), None, "tcg"))
             for i in range(3)]
    assert argvs[1][argvs[1].index("-uuid") + 1] == "12345678-1234-1234-1234-123456789001"
    macs = {a for argv in argvs for a in argv if ",mac=" in a}
    assert len(macs) == 3 and all(int(default_mac(f"p-{i}", "net0")[:2], 16) % 2 == 0
                                  for i in range(3))
    assert default_uuid("p-0") != default_uuid("p-1")
