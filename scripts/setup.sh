#!/usr/bin/env bash
# ra setup: everything `make demo` and `make test` need, on a fresh Debian
# machine as root, or a developer's machine as a user.  Idempotent, and quick
# when nothing is missing (no apt, no pip: a few dpkg/command look-ups).
#
#   1. Debian packages in RA_DEBIAN_PACKAGES (python3-venv/python3-pip only when
#      `python3 -m venv` cannot make a working venv).  As root: one
#      `apt-get update`, one `apt-get install`.  Not root: say what is missing
#      and how to install it, then carry on (tests that need them skip or fail
#      with their own message).
#   2. .venv, made with `python3 -m venv` unless it exists and runs.
#   3. `pip install -e '.[EXTRAS]'` (EXTRAS = $RA_EXTRAS, default test,bench),
#      only when pyproject.toml is newer than .venv/.ra-installed, when an
#      extra was never installed, or when the `ra` command is missing.
#
# ra itself is pure Python and installs without a C compiler.  gcc and
# Python's headers are here for evdev, which pynput needs on Linux and which
# is served only as source: the test extra installs pynput (its backend is
# tested on Xvfb).
set -euo pipefail

# Extend this list when the project needs more from Debian.  A package counts
# as present when dpkg has it installed or its command is on PATH (so a pyenv
# python3 or a hand-built git will do); see pkg_command below for the names.
RA_DEBIAN_PACKAGES="make python3 gcc xvfb xauth xdotool xterm x11-utils x11-xserver-utils x11-xkb-utils x11vnc chromium fonts-dejavu-core sqlite3 git iproute2 nftables"
# Added to the list only when a venv cannot be made with the python3 at hand.
RA_VENV_PACKAGES="python3-venv python3-pip"

RA_EXTRAS="${RA_EXTRAS:-test,bench}"
VENV=.venv
STAMP="$VENV/.ra-installed"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
did_something=0
still_missing=""

say() { printf 'ra setup: %s\n' "$*"; }

# The command that shows a package is there without asking dpkg ("" = none).
pkg_command() {
    case "$1" in
        xvfb) echo Xvfb ;;
        x11-utils) echo xwininfo ;;
        x11-xserver-utils) echo xmodmap ;;
        x11-xkb-utils) echo setxkbmap ;;
        iproute2) echo ip ;;
        nftables) echo nft ;;
        python3-venv | python3-pip | python3-dev) echo "" ;;
        *) echo "$1" ;;
    esac
}

have_pkg() {
    local cmd
    cmd=$(pkg_command "$1")
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

python_ok() { # $1: interpreter; true if it runs and is >= 3.11
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

venv_ok() { [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python"; }

venv_probe() { # can python3 make a venv with pip in it?
    local dir rc=0
    dir=$(mktemp -d)
    python3 -m venv "$dir/probe" >/dev/null 2>&1 || rc=$?
    rm -rf "$dir"
    return "$rc"
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# -- 1. Debian packages ---------------------------------------------------------
missing=()
for pkg in $RA_DEBIAN_PACKAGES; do
    have_pkg "$pkg" || missing+=("$pkg")
done
# evdev (pynput's, in the test extra) builds against Python's headers.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1; then
    have_pkg python3-dev || missing+=(python3-dev)
fi
if ! venv_ok; then
    if ! command -v python3 >/dev/null 2>&1; then
        # python3 will come from Debian, which splits venv and pip off it.
        missing+=($RA_VENV_PACKAGES)
    elif ! venv_probe; then
        for pkg in $RA_VENV_PACKAGES; do
            have_pkg "$pkg" || missing+=("$pkg")
        done
    fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages: ${missing[*]}"
        apt_install "${missing[@]}"
        did_something=1
    else
        say "missing Debian packages: ${missing[*]}"
        say "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
        say "carrying on; what needs them will skip or fail"
        still_missing="${missing[*]}"
    fi
fi

# -- 2. the virtualenv ---------------------------------------------------------------
if ! venv_ok; then
    if ! command -v python3 >/dev/null 2>&1; then
        say "error: python3 is not installed (see above)" >&2
        exit 1
    fi
    if ! python_ok python3; then
        say "error: ra needs Python >= 3.11; python3 is $(python3 -V 2>&1)" >&2
        exit 1
    fi
    if [ -e "$VENV" ]; then
        say "$VENV does not run, recreating it"
        python3 -m venv --clear "$VENV"
    else
        say "creating $VENV"
        python3 -m venv "$VENV"
    fi
    did_something=1
fi

# -- 3. the project and its Python dependencies --------------------------------------
need_install=0
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ ! -x "$VENV/bin/ra" ]; then
    need_install=1
else
    installed=",$(cat "$STAMP"),"
    IFS=, read -r -a wanted <<<"$RA_EXTRAS"
    for extra in "${wanted[@]}"; do
        case "$installed" in *",$extra,"*) ;; *) need_install=1 ;; esac
    done
fi
if [ "$need_install" -eq 1 ]; then
    say "installing Python packages: -e .[$RA_EXTRAS]"
    if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
    fi
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        -e ".[$RA_EXTRAS]"
    printf '%s\n' "$RA_EXTRAS" >"$STAMP"
    did_something=1
fi

if [ -n "$still_missing" ]; then
    say "done, but still missing Debian packages: $still_missing"
elif [ "$did_something" -eq 0 ]; then
    say "up to date"
else
    say "done in $((SECONDS - started))s"
fi
