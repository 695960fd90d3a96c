"""The floors stay apart: the bridge is the only crossing between front and backends.

Read from the source (every import, also inside functions and under
TYPE_CHECKING), so a late import cannot slip past; and proved once more by
importing the backends in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vmtui"

# Where each module of vmtui/ lives. Top-level modules are entry points or front.
FRONT = ("vmtui.app", "vmtui.commands", "vmtui.messages", "vmtui.screenshot", "vmtui.screens",
         "vmtui.widgets")
BRIDGE = ("vmtui.bridge",)
ENTRY = ("vmtui", "vmtui.__main__", "vmtui.cli", "vmtui.demo", "vmtui.guest")
BACKEND = ("vmtui.backends",)
# The daemon: a skin on Control over HTTP. It may import the backends; the front
# never imports it, and it imports no UI library and nothing of the front.
SERVE = ("vmtui.serve",)
# The client of a daemon: a Control over its API. Only the body of `vmtui
# attach` builds the app; the front never imports the client.
REMOTE = ("vmtui.remote",)
REMOTE_ENTRY = ("vmtui.remote.attach",)
UI_LIBRARIES = ("textual", "rich")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source``, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"line {node.lineno}: relative import; name the module")
            base = node.module or ""
            found.append((node.lineno, base))
            # "from vmtui import bridge" imports vmtui.bridge.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if base in ("vmtui", "vmtui.backends")]
    return found


def violations(module: str, source: str) -> list[str]:
    """What ``module`` (with ``source``) imports across the floors' rules."""
    out = []
    for line, imported in imports(source):
        if _within(module, BACKEND):
            if _within(imported, UI_LIBRARIES):
                out.append(f"{module}:{line}: backends import {imported}")
            elif _within(imported, ("vmtui",)) and not _within(imported, BACKEND) \
                    and imported != "vmtui":
                out.append(f"{module}:{line}: backends import {imported} (outside backends)")
        elif _within(module, FRONT) and _within(imported, BACKEND):
            out.append(f"{module}:{line}: the front imports {imported} "
                       "(take it from vmtui.bridge)")
        elif _within(module, FRONT) and _within(imported, SERVE):
            out.append(f"{module}:{line}: the front imports the daemon ({imported})")
        elif _within(module, SERVE) and (_within(imported, UI_LIBRARIES + FRONT + BRIDGE)):
            out.append(f"{module}:{line}: the daemon imports {imported} (no UI in it)")
        elif _within(module, FRONT) and _within(imported, REMOTE):
            out.append(f"{module}:{line}: the front imports the client ({imported}): "
                       "the command line builds the app from a Control")
        elif _within(module, REMOTE) and not _within(module, REMOTE_ENTRY) \
                and _within(imported, UI_LIBRARIES + FRONT + BRIDGE):
            out.append(f"{module}:{line}: the client imports {imported} "
                       "(only vmtui.remote.attach builds the app)")
    return out


def all_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_floor() -> None:
    homeless = [m for m, _ in all_modules()
                if not _within(m, FRONT + BRIDGE + ENTRY + BACKEND + SERVE + REMOTE)]
    assert homeless == []


def test_the_floors_only_meet_in_the_bridge() -> None:
    found = [v for m, path in all_modules() for v in violations(m, path.read_text())]
    assert found == []


@pytest.mark.parametrize(("module", "source"), [
    ("vmtui.backends.fleet.fleet", "def f():\n    from textual.app import App\n"),
    ("vmtui.backends.fleet.fleet", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from vmtui.bridge import Bridge\n"),
    ("vmtui.backends.qemu.instance", "import rich.text\n"),
    ("vmtui.backends.fleet.fleet", "from vmtui import config\n"),
    ("vmtui.screens.pool", "from vmtui.backends.vm.state import InstanceState\n"),
    ("vmtui.widgets.console_view", "def f():\n    import vmtui.backends.console.ring\n"),
    ("vmtui.app", "from vmtui import backends\n"),
    ("vmtui.screens.pool", "from vmtui.remote.control import RemoteControl\n"),
    ("vmtui.remote.control", "from textual.app import App\n"),
    ("vmtui.remote.ctl", "from vmtui.bridge import Bridge\n"),
    ("vmtui.screens.pool", "from vmtui.serve.api import routes\n"),
    ("vmtui.serve.api", "from textual.app import App\n"),
    ("vmtui.serve.daemon", "from vmtui.bridge import Bridge\n"),
])
def test_the_rule_catches_a_crossing(module: str, source: str) -> None:
    assert violations(module, source)


@pytest.mark.parametrize(("module", "source"), [
    ("vmtui.backends.fleet.fleet", "from vmtui.backends.vm.contract import Pool\nimport asyncio\n"),
    ("vmtui.screens.pool", "from vmtui.bridge import Bridge, InstanceState\n"),
    ("vmtui.bridge", "from vmtui.backends.fleet.fleet import Fleet\nfrom textual.app import App\n"),
    ("vmtui.cli", "from vmtui.backends.config.pool import load_config\n"),
    ("vmtui.remote.control", "from vmtui.backends.fleet.wire import from_json\n"),
    ("vmtui.remote.attach", "from vmtui.app import VmtuiApp\n"),
    ("vmtui.serve.api", "from vmtui.backends.fleet.control import Control\n"),
])
def test_the_rule_lets_the_allowed_through(module: str, source: str) -> None:
    assert violations(module, source) == []


SCRIPT = f"""
import sys
import vmtui.backends, vmtui.backends.fleet.fleet, vmtui.backends.vm.merger
import vmtui.backends.console.ring
import vmtui.backends.qemu, vmtui.backends.scripted, vmtui.backends.ssh.target
import vmtui.backends.config.pool, vmtui.backends.fleet.inspection, vmtui.backends.fleet.events
import vmtui.demo, vmtui.guest.build
bad = sorted(m for m in sys.modules if m.split(".")[0] in {UI_LIBRARIES!r}
             or m == "vmtui.app" or m.split(".")[:2] == ["vmtui", "bridge"]
             or m.startswith(("vmtui.screens", "vmtui.widgets")))
print(",".join(bad))
"""


def test_backends_import_no_front_end() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


# A console ring and a config are read without any VM type: lookup() imports the
# one a config names, on first use (vm/contract.py's BUILTIN table).
LAZY_SCRIPT = """
import sys
import vmtui.backends, vmtui.backends.console.ring, vmtui.backends.vm
from vmtui.backends.vm import contract
before = sorted(m for m in sys.modules if m.startswith(tuple(contract.BUILTIN.values())))
names = contract.type_names()
after_names = sorted(m for m in sys.modules if m.startswith(tuple(contract.BUILTIN.values())))
kind = contract.lookup("scripted")
loaded = sorted(m for m in contract.BUILTIN.values() if m in sys.modules)
print(before, after_names, names, kind.name, loaded, sep="|")
"""


def test_vm_types_load_on_first_lookup() -> None:
    out = subprocess.run([sys.executable, "-c", LAZY_SCRIPT], capture_output=True, text=True,
                         check=True)
    before, after_names, names, kind, loaded = out.stdout.strip().split("|")
    assert before == "[]"  # the ring, the package faces: no VM type
    assert after_names == "[]"  # listing the names imports none either
    assert names == "['isolated', 'libvirt', 'qemu', 'scripted']"
    assert (kind, loaded) == ("scripted", "['vmtui.backends.scripted']")


def test_every_vm_type_is_in_the_lookup_table() -> None:
    from vmtui.backends.vm import contract
    # A folder or module that registers a type but is missing from the table
    # would be unknown to configs.
    registering = {p.parent.name if p.name == "__init__.py" else p.stem
                   for p in (PACKAGE / "backends").glob("**/*.py")
                   if "\nregister(" in p.read_text()}
    assert registering == set(contract.BUILTIN)
    assert all(contract.lookup(name).name == name for name in contract.BUILTIN)


# -- the floors inside backends/ (docs/architecture.md, "Import rules") ---------------
# Every import counts: at module level, under TYPE_CHECKING ("typing") and inside
# functions ("late"). A folder's face (__init__.py) is its own floor.

VM_TYPES = ("qemu", "libvirt", "isolated", "scripted")
# What each floor may import beside itself (a name, or a floor.module).
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "inert": (),
    "vm": ("inert",),  # rule 1: the contract names no implementation
    "config": ("vm", "inert"), "ssh": ("vm", "inert"), "symbols": ("vm", "inert"),  # rule 2
    "console": ("vm", "config", "ssh", "inert"),  # rule 3
    **{kind: ("vm", "config", "ssh", "inert") for kind in VM_TYPES},  # rule 3
    "monitor": ("vm", "console.ring", "symbols", "inert"),  # rule 4
}
# libvirt runs QEMU domains: it speaks QMP through qemu's Domain and shares its port picking.
MAY_IMPORT["libvirt"] += ("qemu",)
RULE_OF = {"inert": 1, "vm": 1, "config": 2, "ssh": 2, "symbols": 2, "console": 3, "monitor": 4,
           **dict.fromkeys(VM_TYPES, 3)}
# Rule 5: inside fleet/, a module imports only modules of a lower rank. The face
# (fleet/__init__.py) sits on top. The organs take the ledger, never the Fleet;
# the farm drives the fleet through its own FleetDriver Protocol.
FLEET_ORDER = {
    "records": 0, "runs": 0, "ledger": 1,
    "runtime": 2, "inspection": 2, "events": 2, "recycle": 2, "boots": 2, "report_wait": 2,
    "stuck": 2,
    "incidents": 3,  # reads the report's window (report_wait)
    "watch": 4, "farm": 4, "fleet": 5, "fleets": 6, "control": 7, "wire": 7, "local": 8,
}
# Rule 7: the bridge takes one Control; its value types come with it.
BRIDGE_MAY = ("vmtui.backends.fleet.control",)
KNOWN = {m for m, _ in all_modules()}


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST, how: str = "top") -> Iterator[tuple[ast.AST, str]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, how
    for name, value in ast.iter_fields(node):
        for child in value if isinstance(value, list) else [value]:
            if not isinstance(child, ast.AST):
                continue
            inner = how
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                inner = "late"
            elif isinstance(node, ast.If) and name == "body" and how == "top" \
                    and _type_checking(node.test):
                inner = "typing"
            yield from _import_nodes(child, inner)


def _module_of(name: str) -> str:
    """The vmtui module ``name`` (a module, or a name in one) belongs to."""
    while name not in KNOWN and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def edges(source: str) -> list[tuple[int, str, str]]:
    """(line, vmtui module imported, how) of every import in ``source``."""
    out = []
    for node, how in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            assert isinstance(node, ast.ImportFrom)
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        out += [(node.lineno, _module_of(name), how) for name in names
                if name.startswith("vmtui.")]
    return out


def _floor(module: str) -> str:
    """The folder of backends/ ``module`` lives in ("" for backends/__init__.py)."""
    return module.split(".")[2] if module.count(".") >= 2 else ""


def _under(module: str, place: str) -> bool:
    return _within(module, (f"vmtui.backends.{place}",))


def crossings(module: str, source: str) -> list[tuple[int, str, str, str]]:
    """(rule, module, imported, how) of each import of ``module`` that breaks rules 1-5, 7."""
    out = []
    for _, imported, how in edges(source):
        rule = 0
        if _within(module, BRIDGE) and _within(imported, BACKEND) \
                and not _within(imported, BRIDGE_MAY):
            rule = 7
        elif not (_within(module, BACKEND) and _within(imported, BACKEND)) \
                or imported == "vmtui.backends":
            continue
        elif (floor := _floor(module)) in MAY_IMPORT:
            if not any(_under(imported, p) for p in (floor, *MAY_IMPORT[floor])):
                rule = RULE_OF[floor]
        elif floor == "fleet" and _under(imported, "fleet"):
            rank = {m: FLEET_ORDER.get(m.split(".")[-1], 99) if m.count(".") == 3 else 99
                    for m in (module, imported)}
            if module != imported and rank[imported] >= rank[module]:
                rule = 5
        if rule:
            out.append((rule, module, imported, how))
    return out


ALL_CROSSINGS = [c for m, path in all_modules() for c in crossings(m, path.read_text())]


@pytest.mark.parametrize("rule", [1, 2, 3, 4, 5, 6, 7])
def test_floor_rule(rule: int) -> None:
    # Rule 6: no TYPE_CHECKING import breaks another rule.
    found = {(m, imported) for r, m, imported, how in ALL_CROSSINGS
             if (how == "typing" if rule == 6 else r == rule)}
    assert found == set()


def test_every_fleet_module_has_a_rank() -> None:
    fleet = {m.split(".")[-1] for m in KNOWN if m.startswith("vmtui.backends.fleet.")}
    assert fleet - FLEET_ORDER.keys() == set()


@pytest.mark.parametrize(("module", "source"), [
    ("vmtui.backends.inert", "from vmtui.backends.vm.errors import VMError\n"),
    ("vmtui.backends.vm.contract", "from vmtui.backends.ssh.session import GuestSession\n"),
    ("vmtui.backends.vm.capabilities",
     "if TYPE_CHECKING:\n    from vmtui.backends.ssh.session import GuestSession\n"),
    ("vmtui.backends.config.pool", "from vmtui.backends.console.ring import ConsoleRing\n"),
    ("vmtui.backends.ssh.session", "def f():\n    from vmtui.backends.fleet.fleet import Fleet\n"),
    ("vmtui.backends.console.path",
     "if TYPE_CHECKING:\n    from vmtui.backends.fleet.records import InstanceRecord\n"),
    ("vmtui.backends.qemu.instance", "from vmtui.backends.console import path\n"),
    ("vmtui.backends.qemu.instance", "from vmtui.backends.libvirt.pool import LibvirtPool\n"),
    ("vmtui.backends.scripted", "import vmtui.backends.monitor.detector\n"),
    ("vmtui.backends.monitor.detector", "from vmtui.backends.console.path import note\n"),
    ("vmtui.backends.monitor.crashes", "from vmtui.backends.fleet import records\n"),
    ("vmtui.backends.fleet.incidents", "from vmtui.backends.fleet.fleet import Fleet\n"),
    ("vmtui.backends.fleet.records", "def f():\n    from vmtui.backends.fleet import boots\n"),
    ("vmtui.backends.fleet.fleet", "from vmtui.backends.fleet.fleets import Fleets\n"),
    ("vmtui.backends.fleet.boots", "from vmtui.backends.fleet.events import follow\n"),
    # The organs take the ledger: naming the Fleet, even for the type checker, is a crossing.
    ("vmtui.backends.fleet.watch",
     "if TYPE_CHECKING:\n    from vmtui.backends.fleet.fleet import Fleet\n"),
    ("vmtui.backends.fleet.farm", "from vmtui.backends.fleet import fleet\n"),
    ("vmtui.backends.fleet.ledger", "from vmtui.backends.fleet.events import follow\n"),
    ("vmtui.backends.fleet.report_wait", "from vmtui.backends.fleet.incidents import Diagnose\n"),
    ("vmtui.bridge", "from vmtui.backends.fleet.records import InstanceRecord\n"),
    ("vmtui.bridge", "def f():\n    from vmtui.backends.console import path\n"),
])
def test_a_floor_rule_catches_a_crossing(module: str, source: str) -> None:
    assert crossings(module, source)


@pytest.mark.parametrize(("module", "source"), [
    ("vmtui.backends.vm.contract", "from vmtui.backends.vm.errors import VMError\n"
                                   "from vmtui.backends.inert import GuestText\n"),
    ("vmtui.backends.ssh.session", "from vmtui.backends.vm.capabilities import RunResult\n"),
    ("vmtui.backends.console.ssh_source", "from vmtui.backends.ssh.session import GuestSession\n"
                                          "from vmtui.backends.config.pool import ConsoleConfig\n"),
    ("vmtui.backends.libvirt.connection", "from vmtui.backends.qemu.domain import Domain\n"),
    ("vmtui.backends.qemu", "from vmtui.backends.vm import register\n"),
    ("vmtui.backends.monitor.evidence", "from vmtui.backends.console import ring\n"),
    ("vmtui.backends.fleet.fleet", "from vmtui.backends.fleet import boots, watch\n"
                                   "from vmtui.backends.console import path\n"),
    ("vmtui.backends.fleet.fleets", "from vmtui.backends.fleet.fleet import Fleet\n"),
    ("vmtui.backends.fleet.farm", "from vmtui.backends.fleet.ledger import Ledger\n"
                                  "from vmtui.backends.fleet import recycle\n"),
    ("vmtui.backends.fleet.incidents",
     "from vmtui.backends.fleet.report_wait import rest_of_report\n"),
    ("vmtui.bridge", "from vmtui.backends.fleet.control import Control\n"),
])
def test_a_floor_rule_lets_the_allowed_through(module: str, source: str) -> None:
    assert crossings(module, source) == []


def test_no_import_circle() -> None:
    # Run-time and TYPE_CHECKING imports both count: a circle closed only for
    # the type checker is still two modules that each need the other.
    graph: dict[str, set[str]] = {m: set() for m in KNOWN}
    for m, path in all_modules():
        graph[m] |= {imported for _, imported, how in edges(path.read_text())
                     if how != "late" and imported != m}
    done: set[str] = set()

    def circle(m: str, path: list[str]) -> list[str]:
        if m in path:
            return path[path.index(m):] + [m]
        if m in done:
            return []
        for nxt in sorted(graph.get(m, ())):
            if found := circle(nxt, [*path, m]):
                return found
        done.add(m)
        return []

    assert [c for m in sorted(graph) if (c := circle(m, []))] == []


def test_backends_holds_floors_inert_and_a_docstring_face() -> None:
    backends = PACKAGE / "backends"
    assert sorted(p.name for p in backends.iterdir() if p.suffix == ".py") == \
        ["__init__.py", "inert.py"]
    face = ast.parse((backends / "__init__.py").read_text()).body
    assert len(face) == 1 and isinstance(face[0], ast.Expr)  # a docstring, no imports


def test_rooms_of_a_readable_size() -> None:
    # Whole concerns move out of a module before it passes 400 lines.
    big = {m: n for m, path in all_modules()
           if (n := len(path.read_text().splitlines())) > 400}
    assert big == {}
