#!/usr/bin/env bash
# Set up everything vmtui needs on a Debian or Ubuntu machine, then:
#   ./bootstrap.sh demo   build the test guest and open the demo pool (real QEMU guests)
#   ./bootstrap.sh test   build the test guest and run the whole test suite
# Extra arguments go to vmtui (demo) or pytest (test).
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-demo}
shift || true
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test [args...]" >&2; exit 2 ;; esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# System packages: QEMU, what the test guest is made of (and its bootable disk: syslinux,
# mtools, dosfstools; UEFI firmware: ovmf), Python's venv; libvirt's daemon and what its
# Python binding builds with (type: libvirt, tested against a private libvirtd, reached
# also through an sshd on loopback and netcat, as qemu+ssh:// reaches a remote host);
# gdb, which Hold + gdb's test runs against a held guest (binutils, for symbols, below).
PACKAGES="qemu-system-x86 qemu-utils busybox-static dropbear-bin openssh-sftp-server cpio \
trinity python3 python3-venv python3-pip ca-certificates \
ovmf syslinux syslinux-common mtools dosfstools \
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config python3-dev gcc \
openssh-server netcat-openbsd curl ripgrep gdb"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# The guest build looks the kernel package up with apt-cache: the lists must be there.
echo "bootstrap: apt-get update"
$SUDO apt-get update -qq
# The crash module is built against the headers of the very kernel the guest boots,
# with the compiler that kernel was built with (gcc-12 on Debian 12).
for meta in linux-image-cloud-amd64 linux-image-amd64; do
    image=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/.*Depends: \(linux-image-.*\)/\1/p' | head -1)
    if [ -n "$image" ]; then
        for p in "linux-headers-${image#linux-image-}" make gcc-12 binutils; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
        done
        break
    fi
done
if [ -n "$missing" ]; then
    echo "bootstrap: installing$missing"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: vmtui needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "bootstrap: installing vmtui into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,libvirt]'

# The tests symbolise real reports and drive gdb: they need the kernel's debug symbols
# (283 MB download once, 600 MB kept in the guest cache); the demo does not.
if [ "$mode" = test ]; then .venv/bin/vmtui guest build --debug; else .venv/bin/vmtui guest build; fi

if [ "$mode" = demo ]; then
    exec .venv/bin/vmtui demo "$@"
fi
echo "bootstrap: ruff"
.venv/bin/ruff check vmtui tests
echo "bootstrap: mypy"
.venv/bin/mypy
echo "bootstrap: pytest"
exec .venv/bin/pytest "$@"
