#!/usr/bin/env bash
# Install and start what the test suite needs beyond Python packages:
# a PostgreSQL server on 127.0.0.1 (trace store tests) and Debian's Chromium
# (browser tests). Each step is skipped with a message when it cannot run
# (not root, no apt); the tests that need it then skip with a clear reason,
# except under CI=true where they fail instead.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for step in postgres.sh chromium.sh; do
  if [ -f "$here/$step" ]; then
    bash "$here/$step" || echo "test-services: $step failed; dependent tests will report it" >&2
  fi
done
exit 0
