#!/usr/bin/env bash
# The quick start: installs the dependencies, builds, and runs examples/quickstart.yaml (one
# process, the embedded registry, two jobs sharded 4 ways). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDJOB_BUILD_TESTS=OFF \
  -DSHARDJOB_BUILD_BENCH=OFF
cmake --build build
build/bin/shardjob validate -c examples/quickstart.yaml
exec build/bin/shardjob run -c examples/quickstart.yaml
