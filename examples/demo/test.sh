#!/usr/bin/env bash
set -euo pipefail
./build.sh
grep -q "hello from gyre" out/greeting.txt
echo "1 test passed"
