#!/usr/bin/env bash
# Usage: bench/ab-backfill.sh TREE_A TREE_B [PAIRS] — interleaved 100 000-call backfills (A, B, A, B …) of two
# builds (each tree built: npm run build) against one emulator process; prints "tree wall user sys peak-KB" per run.
# CALLS=… changes the size. Needs /usr/bin/time and curl.
set -euo pipefail
A=$1; B=$2; N=${3:-3}
cd "$A"
coproc EMU { node --max-old-space-size=16384 --expose-gc bench/emulators.mjs --calls ${CALLS:-100000} --days 365 --seed 1 --now 2025-06-01T12:00:00Z --stuck 0; }
read -r line <&"${EMU[0]}"
CK=$(echo "$line" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).callkeeper))')
MK=$(echo "$line" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).metrika))')
CTL=$(echo "$line" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).control))')
SINCE=$(node -e 'const n=Date.parse("2025-06-01T12:00:00Z")/1000; console.log(new Date((n-366*86400)*1000).toISOString())')
for i in $(seq 1 $N); do
  for T in "$A" "$B"; do
    curl -s -X POST "$CTL/reset" > /dev/null
    H=$(mktemp -d /tmp/ckym-ab-XXXX)
    node -e 'import(process.argv[2]+"/bench/world.mjs").then(w=>require("fs").writeFileSync(process.argv[1], JSON.stringify(w.benchConfig(),null,2)))' "$H/ckym.config.json" "$A"
    R=$(env HOME=$H CKYM_HOME=$H/state CKYM_CALLKEEPER_KEY=bench0key0000001 CKYM_YANDEX_TOKEN=bench-token-0001 CKYM_CALLKEEPER_URL=$CK CKYM_METRIKA_URL=$MK CKYM_NOW=2025-06-01T12:00:00Z NO_COLOR=1 \
      /usr/bin/time -f '%e %U %S %M' node "$T/bin/ckym.js" --config "$H/ckym.config.json" sync --json --since "$SINCE" 2>&1 >/dev/null | tail -1)
    echo "$(basename $T) $R"
    rm -rf "$H"
  done
done
kill $EMU_PID 2>/dev/null || true
