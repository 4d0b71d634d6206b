#!/usr/bin/env bash
# Instructions per request of one wrk benchmark target, counted by callgrind inside hyper's
# connection dispatcher (parsing the request, the whole middleware stack and handler, encoding the
# answer; not the kernel, not wrk). Unlike time, the count does not depend on the machine's speed
# or on what else runs on it, so a change to the stack can be compared exactly across runs.
#
#   cargo bench -p stock-tracker-tests --bench wrk --no-run     # prints the binary's path
#   tests/benches/instructions.sh target/release/deps/wrk-<hash> "full stack, anonymous"
#
# The target is a label of benches/wrk.rs ("bare, anonymous", "full stack, with a token", …).
# Requests are counted as calls of axum's `set_content_length` (one per answer, on both routers).
set -euo pipefail
binary="$1"
target="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
WRK_ONLY="$target" WRK_SECONDS="${WRK_SECONDS:-3}" WRK_ROUNDS=1 valgrind --tool=callgrind \
  --toggle-collect='*Dispatcher*poll_catch*' --callgrind-out-file="$out/cg" "$binary" >"$out/log" 2>&1
total=$(callgrind_annotate --auto=no "$out/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
requests=$(callgrind_annotate --auto=no --tree=caller --threshold=100 "$out/cg" 2>/dev/null \
  | grep -E 'set_content_length \([0-9,]+x\)' | sed -E 's/.*\(([0-9,]+)x\).*/\1/' | tr -d , | sort -n | tail -1)
echo "$target: $((total / requests)) instructions per request ($requests requests)"
