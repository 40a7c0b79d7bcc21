#!/bin/sh
# Install vipdeck from this checkout with the system Python, as root.
# Debian 12 and Ubuntu 24.04 (Python 3.11 / 3.12); any Linux with Python >= 3.11,
# its venv module and iproute2 works the same.
#
#   sh install.sh              vipdeck in a virtual environment at /opt/vipdeck,
#                              the command linked as /usr/local/sbin/vipdeck (so
#                              `sudo vipdeck` finds it), the man page and the bash
#                              and zsh completions under /usr/local/share
#   sh install.sh --test       the same, editable (the checkout's code is what runs)
#                              and with the test extras: then
#                              /opt/vipdeck/bin/python -m pytest -q
#   sh install.sh --uninstall  remove all of the above; the configuration
#                              (/etc/keepalived), the state (/var/lib/vipdeck) and
#                              /etc/default/vipdeck are kept
#
# It installs python3-venv and iproute2 with apt-get when they are missing, and
# nothing else system-wide: no unit is enabled (see `vipdeck install-unit`).
# Debian's Python refuses `pip install` outside a virtual environment (PEP 668),
# which is why vipdeck gets its own.
set -eu

PREFIX=/opt/vipdeck
LINK=/usr/local/sbin/vipdeck
SHARE_DIR=/usr/local/share
PYTHON=/usr/bin/python3
SRC=$(cd "$(dirname "$0")" && pwd)
MODE=install

case "${1:-}" in
    "") ;;
    --test) MODE=test ;;
    --uninstall) MODE=uninstall ;;
    *) echo "usage: sh install.sh [--test | --uninstall]" >&2; exit 2 ;;
esac

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it writes $PREFIX and $LINK)"

files="$LINK $SHARE_DIR/man/man8/vipdeck.8 $SHARE_DIR/bash-completion/completions/vipdeck $SHARE_DIR/zsh/site-functions/_vipdeck"

if [ "$MODE" = uninstall ]; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet vipdeck 2>/dev/null; then
        die "vipdeck.service is running: first 'systemctl disable --now vipdeck' (its masters resign)"
    fi
    if [ -f /etc/systemd/system/vipdeck.service ]; then
        rm -f /etc/systemd/system/vipdeck.service
        [ -d /run/systemd/system ] && systemctl daemon-reload || true
        say "removed /etc/systemd/system/vipdeck.service"
    fi
    rm -rf "$PREFIX"
    rm -f $files
    say "removed $PREFIX and $files"
    say "kept /etc/keepalived, /var/lib/vipdeck (operator state, audit.log) and /etc/default/vipdeck"
    exit 0
fi

[ -x "$PYTHON" ] || die "$PYTHON not found: vipdeck uses the system Python 3 (apt-get install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "vipdeck needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1) (Debian 12 and Ubuntu 24.04 have it)"

need=""
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
if [ -n "$need" ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing:$need (install them, then run this again)"
    say "apt-get install$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

if [ ! -x "$PREFIX/bin/python" ]; then
    say "creating the virtual environment $PREFIX"
    "$PYTHON" -m venv "$PREFIX"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "$MODE" = test ]; then
    say "installing $SRC (editable) with the test extras into $PREFIX"
    "$PREFIX/bin/python" -m pip install -q -e "$SRC[test]"
else
    say "installing $SRC into $PREFIX"
    # setuptools builds in $SRC/build and would carry a module deleted since the last run
    rm -rf "$SRC/build"
    "$PREFIX/bin/python" -m pip install -q "$SRC"
    rm -rf "$SRC/build"
fi

mkdir -p "$(dirname "$LINK")" "$SHARE_DIR/man/man8" "$SHARE_DIR/bash-completion/completions" \
    "$SHARE_DIR/zsh/site-functions"
ln -sfn "$PREFIX/bin/vipdeck" "$LINK"
install -m 0644 "$SRC/vipdeck/share/man/vipdeck.8" "$SHARE_DIR/man/man8/vipdeck.8"
install -m 0644 "$SRC/vipdeck/share/bash-completion/vipdeck" "$SHARE_DIR/bash-completion/completions/vipdeck"
install -m 0644 "$SRC/vipdeck/share/zsh/_vipdeck" "$SHARE_DIR/zsh/site-functions/_vipdeck"
command -v mandb >/dev/null 2>&1 && mandb -q 2>/dev/null || true

say "$("$LINK" --version) installed: $LINK -> $PREFIX/bin/vipdeck"
[ "$MODE" = test ] || say "next: vipdeck demo (a lab in namespaces), or vipdeck check -f /etc/keepalived/keepalived.conf"
