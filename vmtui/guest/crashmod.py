"""The crash module: real kernel reports on demand in the test guest.

``vmtui_crash.ko`` (its C source in files/crashmod) is built against Debian's
``linux-headers`` package for the guest's kernel, with the compiler that
kernel was built with. It is unsigned: the guest kernel has CONFIG_MODULE_SIG
but not CONFIG_MODULE_SIG_FORCE, so it loads (and taints the kernel). It is not
loaded at boot: a test loads it with ``insmod`` (see CRASH_MODULE).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

SOURCES = ("vmtui_crash.c", "Kbuild")
CRASH_MODULE = "/lib/modules/extra/vmtui_crash.ko"  # where the guest holds it
HEADERS = Path("/usr/src")
DEBUG_KO = "debug/vmtui_crash.ko"  # in the guest's folder: the module with its debug info


class ModuleBuildError(Exception):
    """The module cannot be built here; the message names what to install."""


def source(name: str) -> bytes:
    return resources.files("vmtui.guest").joinpath("files", "crashmod", name).read_bytes()


def headers_for(release: str) -> Path:
    """The kernel build tree for ``release`` (a vmlinuz's version, 6.1.0-56-cloud-amd64)."""
    tree = HEADERS / f"linux-headers-{release}"
    if not (tree / "Makefile").is_file():
        raise ModuleBuildError(f"{tree} not found: install the linux-headers-{release} "
                               "package (the crash module is built against it)")
    return tree


def compiler_of(tree: Path) -> str:
    """The C compiler the kernel was built with (Debian records it in the tree)."""
    recorded = tree / ".kernelvariables"
    text = recorded.read_text() if recorded.is_file() else ""
    m = re.search(r"^CC\s*=.*?(gcc-\d+|gcc|clang-\d+)\s*$", text, re.M)
    return m[1] if m else "gcc"


def fingerprint(release: str) -> str:
    """What the built module depends on: its sources and the kernel release."""
    digest = hashlib.sha256(release.encode())
    for name in SOURCES:
        digest.update(source(name))
    return digest.hexdigest()


def build_module(release: str, out: Path, debug_out: Path | None = None) -> Path:
    """Compile the module for ``release`` into ``out`` (a .ko path, stripped of
    its debug info); with ``debug_out``, keep the unstripped one there too
    (frames of a report in the module resolve against it); return ``out``.

    Raises:
        ModuleBuildError: naming the missing package, or quoting the compiler.
    """
    tree = headers_for(release)
    missing = [f"{tool} not found: install the {package} package"
               for tool, package in (("make", "make"), (compiler_of(tree), compiler_of(tree)))
               if shutil.which(tool) is None]
    if missing:
        raise ModuleBuildError("cannot build the crash module:\n  " + "\n  ".join(missing))
    with tempfile.TemporaryDirectory(prefix="vmtui-crashmod-") as tmp:
        work = Path(tmp)
        for name in SOURCES:
            (work / name).write_bytes(source(name))
        done = subprocess.run(["make", "-C", str(tree), f"M={work}", "modules"],
                              capture_output=True, text=True, check=False)
        built = work / "vmtui_crash.ko"
        if done.returncode != 0 or not built.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
            raise ModuleBuildError("building the crash module failed:\n  " + "\n  ".join(tail))
        if debug_out is not None:
            debug_out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built, debug_out)
        subprocess.run(["strip", "--strip-debug", str(built)], capture_output=True, check=False)
        shutil.copyfile(built, out)
    return out


def cached(folder: Path, release: str, log: Callable[[str], None]) -> bytes:
    """The module for ``release`` from ``folder``, built there when its sources
    or the kernel changed."""
    ko, stamp = folder / "vmtui_crash.ko", folder / "vmtui_crash.inputs"
    debug_ko = folder / DEBUG_KO
    want = fingerprint(release)
    if not (ko.is_file() and debug_ko.is_file() and stamp.is_file()) \
            or stamp.read_text() != want:
        log(f"building the crash module for {release}")
        folder.mkdir(parents=True, exist_ok=True)
        build_module(release, ko, debug_ko)
        stamp.write_text(want)
    return ko.read_bytes()
