#!/usr/bin/env bash
# Type-checks sst.config.ts and infra/ offline: no AWS account, npm registry only.
#
# The SST globals (sst, aws, $app, ...) come from .sst/platform, which `sst install` writes.
# It runs only when .sst/platform is missing or stale (another sst version, or a changed
# sst.config.ts, whose app() names the providers), so repeated runs take seconds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export AWS_EC2_METADATA_DISABLED=true # never probe the instance metadata address
export SST_TELEMETRY_DISABLED=1       # no telemetry calls (they only time out offline)

sst_version=$(node -p 'require("./node_modules/sst/package.json").version')
want="sst ${sst_version} $(sha256sum sst.config.ts | cut -d' ' -f1)"
stamp=.sst/check-infra.stamp

if [[ ! -f .sst/platform/config.d.ts || ! -d .sst/platform/node_modules/@pulumi/aws ||
  "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "check:infra: installing the SST platform ${sst_version} into .sst/ (offline, about a minute)"
  rm -f "$stamp"
  log=$(mktemp)
  if ! SST_NO_BUN=1 SST_SKIP_DEPENDENCY_CHECK=true npx sst install --stage ci >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "check:infra: sst install failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi

npx tsc -p infra/tsconfig.json --noEmit
echo "check:infra: sst.config.ts and infra/ type-check against the SST ${sst_version} platform"
