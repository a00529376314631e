#!/usr/bin/env bash
set -euo pipefail
mkdir -p out
printf 'hello from gyre\n' > out/greeting.txt
echo "built out/greeting.txt"
