#!/usr/bin/env bash
# Everything lacchain-cloud needs on a fresh Debian/Ubuntu machine, installed idempotently:
#   - Debian packages for the local stand-ins and validators the tests use (BIND 9, nginx, cloud-init,
#     systemd-analyze, shellcheck);
#   - a virtualenv in .venv with the project and its pinned dependencies (pyproject.toml is the only place
#     versions are pinned);
#   - the npm tools pinned in package-lock.json (solc for the contracts, anvil as a local EVM chain).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(bind9 bind9-utils cloud-init nginx-light systemd shellcheck openssl e2fsprogs util-linux)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # Services shipped by these packages (named, nginx) must not start: tests run their own instances.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.lacchain-installed
# Reinstall when the pins changed, or when a package of this project is not importable from outside the checkout
# (an editable install maps the packages that existed when it ran).
importable() { (cd / && "$OLDPWD/.venv/bin/python" -c "import lacchain, lacchain_cli, components, contracts, services.keyagent" 2>/dev/null); }
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! importable; then
  echo "setup: installing Python packages (pinned in pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

if [ ! -x node_modules/.bin/anvil ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm tools (solc, anvil)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ready"
