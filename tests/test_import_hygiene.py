"""The floors stay apart: the bridge is the only crossing between front and backends.

Read from the source (every import, also inside functions and under
TYPE_CHECKING), so a late import cannot slip past; and proved once more by
importing the backends in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vmtui"

# Where each module of vmtui/ lives. Top-level modules are entry points or front.
FRONT = ("vmtui.app", "vmtui.commands", "vmtui.messages", "vmtui.screenshot", "vmtui.screens",
         "vmtui.widgets")
BRIDGE = ("vmtui.bridge",)
ENTRY = ("vmtui", "vmtui.__main__", "vmtui.cli", "vmtui.demo", "vmtui.guest")
BACKEND = ("vmtui.backends",)
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
    return out


def all_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_floor() -> None:
    homeless = [m for m, _ in all_modules()
                if not _within(m, FRONT + BRIDGE + ENTRY + BACKEND)]
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
])
def test_the_rule_catches_a_crossing(module: str, source: str) -> None:
    assert violations(module, source)


@pytest.mark.parametrize(("module", "source"), [
    ("vmtui.backends.fleet.fleet", "from vmtui.backends.vm.contract import Pool\nimport asyncio\n"),
    ("vmtui.screens.pool", "from vmtui.bridge import Bridge, InstanceState\n"),
    ("vmtui.bridge", "from vmtui.backends.fleet.fleet import Fleet\nfrom textual.app import App\n"),
    ("vmtui.cli", "from vmtui.backends.config.pool import load_config\n"),
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
             or m in ("vmtui.app", "vmtui.bridge")
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


def test_rooms_of_a_readable_size() -> None:
    # Whole concerns move out of a module before it passes 400 lines.
    big = {m: n for m, path in all_modules()
           if (n := len(path.read_text().splitlines())) > 400}
    assert big == {}
