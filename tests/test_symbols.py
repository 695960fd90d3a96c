"""Symbols without a guest: frames against the real guest kernel's vmlinux (the
debug symbols bootstrap fetches), addr2line's answers parsed, the KASLR
offset and the gdb command, the -dbg package's name, and bad input refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vmtui.backends.symbols import kaslr
from vmtui.backends.symbols.addr2line import clean_path, parse_answer
from vmtui.backends.symbols.frames import Symbolizer
from vmtui.backends.symbols.symtab import SymbolsError
from vmtui.guest import debugsyms
from vmtui.guest.build import build


@pytest.fixture(scope="module")
def vmlinux() -> Path:
    return debugsyms.paths(build(debug=True).dir)[0]


def test_frames_get_file_line_and_inlined_lines(vmlinux: Path) -> None:
    text = ("RIP: 0010:ksys_write+0x6b/0xf0\n"
            "Call Trace:\n"
            " <TASK>\n"
            " proc_reg_write+0x56/0xa0\n"
            " ? no_such_function_here+0x1/0x2\n"
            " do_syscall_64+0x5d/0x90\n"
            " entry_SYSCALL_64_after_hwframe+0x6e/0xd8\n")
    with Symbolizer(vmlinux) as sym:
        out = sym.symbolize(text)
        assert sym.symbolize(text) == out  # the warm process answers the same
    lines = out.splitlines()
    assert re.fullmatch(r"RIP: 0010:ksys_write\+0x6b/0xf0 fs/read_write\.c:\d+", lines[0])
    # proc_reg_write's call is in pde_write, inlined: a line of its own first
    i = lines.index(next(ln for ln in lines if "proc_reg_write+" in ln))
    assert re.fullmatch(r" pde_write fs/proc/inode\.c:\d+ \[inline\]", lines[i - 1])
    assert re.fullmatch(r" proc_reg_write\+0x56/0xa0 fs/proc/inode\.c:\d+", lines[i])
    assert " ? no_such_function_here+0x1/0x2" in lines  # unknown: left as it was
    assert re.search(r" entry_SYSCALL_64_after_hwframe\+0x6e/0xd8 "
                     r"arch/x86/entry/entry_64\.S:\d+$", out, re.M)
    assert "\n <TASK>\n" in out and out.endswith("\n")


def test_a_module_frame_without_its_ko_stays_as_it_was(vmlinux: Path) -> None:
    line = " vmtui_crash_write+0x57/0x80 [vmtui_crash]"
    with Symbolizer(vmlinux) as sym:
        assert sym.symbolize(line) == line


def test_missing_files_are_named(tmp_path: Path, vmlinux: Path) -> None:
    with pytest.raises(SymbolsError, match=f"vmlinux: file not found: {tmp_path}/nope"):
        Symbolizer(tmp_path / "nope")
    with pytest.raises(SymbolsError, match=r"kernel_modules: file not found: .*x\.ko"):
        Symbolizer(vmlinux, [tmp_path / "x.ko"])
    (tmp_path / "text").write_text("not an ELF\n")
    with Symbolizer(tmp_path / "text") as sym, pytest.raises(SymbolsError, match="not an ELF"):
        sym.symbolize(" f+0x1/0x2\n")


def test_addr2line_answers_parsed() -> None:
    frames = parse_answer([
        "__dump_stack", "/build/reproducible-path/linux-6.1.192/lib/dump_stack.c:88",
        "dump_stack_lvl", "debian/build/build_amd64_none_cloud-amd64/lib/dump_stack.c:106 "
        "(discriminator 3)"])
    assert [(f.func, f.file, f.line, f.inline) for f in frames] == [
        ("__dump_stack", "lib/dump_stack.c", 88, True),
        ("dump_stack_lvl", "lib/dump_stack.c", 106, False)]
    assert parse_answer(["??", "??:0"]) == []
    assert clean_path("/usr/src/linux-headers-6.1.0-57-cloud-amd64/./vmtui_crash.c") == \
        "vmtui_crash.c"


def test_kaslr_offset_and_gdb_command(vmlinux: Path) -> None:
    linked = kaslr.linked_text(vmlinux)
    assert linked == 0xFFFFFFFF81000000
    assert kaslr.runtime_text("ffffffff9a000000 T _text\n") - linked == 0x19000000
    with pytest.raises(SymbolsError, match="kptr_restrict"):
        kaslr.runtime_text("0000000000000000 T _text")
    with pytest.raises(SymbolsError, match="no _text line"):
        kaslr.runtime_text("")
    assert kaslr.idt_anchor(vmlinux) == 0xFFFFFFFF81C00990  # asm_exc_divide_error
    assert kaslr.with_vmlinux_by_idt("gdb -ex 'target remote /s'", Path("/k/v"), 0x10) == (
        "gdb -q -ex 'target remote /s' -ex 'set $vmtui_g0 = *(unsigned long long *)"
        "0xfffffe0000000000' -ex 'set $vmtui_g1 = *(unsigned long long *)0xfffffe0000000008'"
        " -ex 'eval \"symbol-file -o %#llx /k/v\", (($vmtui_g0 & 0xffff) | (($vmtui_g0 >> 32)"
        " & 0xffff0000) | (($vmtui_g1 & 0xffffffff) << 32)) - 0x10'")
    assert kaslr.offset_said(["x", "Kernel Offset: 0x2c800000 from 0xffffffff81000000 "
                              "(relocation range: 0xffffffff80000000-0xffffffffbfffffff)"]) \
        == 0x2C800000
    assert kaslr.offset_said(["Kernel Offset: disabled"]) == 0
    assert kaslr.offset_said(["no panic here"]) is None
    stub = "gdb -ex 'set architecture i386:x86-64' -ex 'target remote /run/x/a-0.gdb'" \
           "  # add your vmlinux for symbols"
    assert kaslr.with_vmlinux(stub, Path("/k/vmlinux"), 0x19000000) == (
        "gdb -q -ex 'set architecture i386:x86-64' -ex 'symbol-file -o 0x19000000 /k/vmlinux'"
        " -ex 'target remote /run/x/a-0.gdb'")
    assert kaslr.with_vmlinux(stub, Path("/k/vmlinux"), None).endswith(
        "-ex 'symbol-file /k/vmlinux' -ex 'target remote /run/x/a-0.gdb'  # KASLR offset "
        "unknown: add -o (guest _text - linked _text)")


def test_the_dbg_package_of_an_image() -> None:
    assert debugsyms.dbg_package("linux-image-6.1.0-57-cloud-amd64_6.1.192-3_amd64.deb") == \
        ("linux-image-6.1.0-57-cloud-amd64-dbg", "6.1.192-3")
    with pytest.raises(debugsyms.DebugSymbolsError, match=r"not a linux-image \.deb"):
        debugsyms.dbg_package("busybox_1.35_amd64.deb")


def test_the_symbols_are_kept_and_recorded(vmlinux: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    guest_dir = vmlinux.parent.parent
    manifest = json.loads((guest_dir / "manifest.json").read_text())
    assert manifest["vmlinux"] == "debug/vmlinux" and manifest["system_map"] == \
        "debug/System.map"
    assert manifest["debug_package"] == debugsyms.recorded(guest_dir)["package"]
    # Up to date: nothing is downloaded again.
    monkeypatch.setattr(debugsyms, "_run", lambda *a: pytest.fail(f"ran {a}"))
    deb = manifest["kernel_package"]
    release = manifest["kernel"].removeprefix("vmlinuz-")
    assert debugsyms.fetch(guest_dir, deb, release, lambda _m: None) == \
        debugsyms.paths(guest_dir)


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmtui", "report", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_report_command_bad_symbol_files(tmp_path: Path) -> None:
    log = Path(__file__).parent / "data" / "linux-null-oops.log"
    done = _report(str(log), "--vmlinux", str(tmp_path / "none"))
    assert done.returncode == 2
    assert done.stderr == f"vmtui: vmlinux: file not found: {tmp_path}/none\n"
    done = _report(str(log), "--module", str(tmp_path / "m.ko"))
    assert done.returncode == 2 and "--module: needs --vmlinux" in done.stderr
