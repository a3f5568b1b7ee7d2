#!/usr/bin/env bash
# Installs everything the tests need, then runs the checks and the whole test suite.
# The README's test command and CI's .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# The credential tests talk to a real Secret Service: a private dbus-daemon with gnome-keyring on it.
# The team-mode tests start their own redis-server (Debian's; never the system's 6379): with CI=true they
# fail without it rather than skip.
missing=()
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
    if [ "${as_root[*]-}" = none ]; then
        echo "note: ${missing[*]} not installed and no root to install them: the Secret Service and team-mode tests will skip" >&2
    else
        echo "installing ${missing[*]} (apt) for the Secret Service and team-mode tests" >&2
        "${as_root[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/mypy callmon tests bench scripts
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
# Four tests at a time (pytest-xdist); CALLMON_TEST_WORKERS=0 runs them one by one.
.venv/bin/python -m pytest -n "${CALLMON_TEST_WORKERS:-4}" "$@"
