# Sourced by scripts/demo and scripts/test: make .venv exist and match pyproject.toml.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

find_python() {
    local candidate
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))'
        then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [ ! -x "$PY" ]; then
        local python
        python="$(find_python)" || die "Shelfwise needs Python 3.11, 3.12 or 3.13 (none found on PATH)."
        say "Creating .venv with $("$python" --version)"
        "$python" -m venv "$VENV"
    fi
    # Reinstall only when pyproject.toml changed since the last successful install.
    local stamp="$VENV/.shelfwise-install-stamp" wanted
    wanted="$(cd "$ROOT" && "$PY" -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version.split()[0])')"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "Installing Shelfwise and its dependencies into .venv (pip install -e '.[dev]')"
        # The build backend's deprecation chatter goes to a log, shown only if pip fails.
        local log="$VENV/pip-install.log"
        if ! (cd "$ROOT" && "$PY" -m pip install --quiet --disable-pip-version-check \
            -e ".[dev]") >"$log" 2>&1; then
            cat "$log" >&2
            die "pip install failed (output above, also in $log)."
        fi
        printf '%s\n' "$wanted" >"$stamp"
    fi
}
