#!/usr/bin/env bash
# Installs what shardjob needs to build and test, from Debian packages (and, for the browser
# tests, one npm package). Run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev                       # Boost.DLL (plugins), Boost.Asio (timers), header-only
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libcctz-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev
  libzookeeper-mt-dev                # the ZooKeeper C client (registry)
  zookeeper                          # the server, for the tests and the cluster demo (Java)
  python3                            # the fault harness (tests/fault) and its checker
  faketime                           # the fault harness steps one instance's clock
  spin                               # the protocol model's checks (docs/model)
  prometheus-cpp-dev                 # the /metrics text (core only; the endpoint is our own)
  prometheus                         # a real Prometheus server and promtool, for the tests
  libsqlite3-dev sqlite3             # the SQLITE tracer, and reading its history
  libpq-dev postgresql               # the POSTGRESQL tracer, and a server for its tests
  libcurl4-openssl-dev libssl-dev    # the alerting error handlers (HTTP, SMTP, DingTalk's HMAC)
  python3-aiosmtpd                   # a real SMTP receiver for the EMAIL handler's tests
)
# The web console's browser tests (tests/browser): `install-deps.sh --browser` adds Debian's
# Chromium and a font, and installs playwright-core from npm (package-lock.json) with the
# machine's Node.js. Never a browser downloaded by a test tool.
browser_tests=false
if [ "${1:-}" = "--browser" ]; then
  browser_tests=true
  packages+=(chromium fonts-dejavu-core)
fi

install_browser_test_tools() {
  # Debian 12's own nodejs is 18: too old for playwright-core. The machine's Node.js is used.
  if ! command -v node > /dev/null || ! command -v npm > /dev/null ||
    ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
               process.exit(major > 20 || (major === 20 && minor >= 10) ? 0 : 1)'; then
    echo "install-deps: the browser tests need Node.js 20.10 or later and npm on the PATH" \
      "(found: $(node --version 2> /dev/null || echo none))" >&2
    exit 1
  fi
  # `npm ci` installs exactly package-lock.json's versions; skipped when those are in place.
  local dir
  dir="$(dirname "$0")/../tests/browser"
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.installed-lock.json)
  fi
}

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: every package is installed"
  if $browser_tests; then install_browser_test_tools; fi
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The tests start their own PostgreSQL and Prometheus servers on free loopback ports; the
# packages' services are not started here (they would take ports 5432 and 9090, the default of
# the examples' HTTP endpoint). policy-rc.d is Debian's switch for that, used only for this install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
if $browser_tests; then install_browser_test_tools; fi
