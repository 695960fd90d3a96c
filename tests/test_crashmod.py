"""The crash module's builder: what it needs, and what it says when that is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmtui.guest import crashmod


def test_missing_headers_name_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setattr(crashmod, "HEADERS", tmp_path)
    with pytest.raises(crashmod.ModuleBuildError) as caught:
        crashmod.build_module("6.1.0-99-cloud-amd64", tmp_path / "x.ko")
    assert "install the linux-headers-6.1.0-99-cloud-amd64 package" in str(caught.value)


def test_the_compiler_is_the_one_the_kernel_was_built_with(tmp_path: Path) -> None:
    (tmp_path / ".kernelvariables").write_text(
        "override ARCH = x86\nCCACHE = ccache\n"
        "CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\n")
    assert crashmod.compiler_of(tmp_path) == "gcc-12"
    assert crashmod.compiler_of(tmp_path / "elsewhere") == "gcc"


def test_the_fingerprint_follows_the_sources_and_the_kernel() -> None:
    a = crashmod.fingerprint("6.1.0-56-cloud-amd64")
    assert a == crashmod.fingerprint("6.1.0-56-cloud-amd64")
    assert a != crashmod.fingerprint("6.1.0-57-cloud-amd64")
    assert b"vmtui_crash_warn" in crashmod.source("vmtui_crash.c")
