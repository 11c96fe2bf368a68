#!/usr/bin/env bash
# The coordinator's memory does not grow with the number of participants: the round engine
# over ZeroMQ with 4 and then 24 synthetic participants, each sending a 2.5M-parameter update
# (10 MB) per round, with a 10 MB upload window (one upload in flight, as the default 64 MB
# window gives 10^7-parameter updates). Both runs must stay under idle RSS plus 4 update sizes,
# and the larger one may not peak more than 1.5 update sizes above the smaller (the round-start
# broadcast buffer may or may not still be held by libzmq when the first upload arrives: that
# one update size comes and goes with timing, not with the number of participants).
#   coordinator_memory_test.sh PATH/TO/fedtl_bench_coordinator_memory
set -euo pipefail
BIN=$1
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
json() { sed -n "s/.*\"$2\": \([0-9.-]*\).*/\1/p" <<<"$1"; }

run() {  # participants
  local ep="$WORK/endpoint.$1"
  "$BIN" coordinator --participants "$1" --params 2500000 --rounds 2 --upload-window-mb 10 --endpoint-file "$ep" >"$WORK/out.$1" 2>"$WORK/log.$1" &
  local coord=$!
  for _ in $(seq 100); do [ -s "$ep" ] && break; sleep 0.1; done
  timeout 240 "$BIN" participants --connect "$(cat "$ep")" --count "$1" >"$WORK/participants.$1" 2>&1
  wait "$coord"
  cat "$WORK/out.$1"
}

small=$(run 4); large=$(run 24)
echo "4 participants:  $small"
echo "24 participants: $large"
for j in "$small" "$large"; do
  [ "$(json "$j" updates_received)" = "$(( $(json "$j" participants) * 2 ))" ] || { echo "FAIL: updates missing"; exit 1; }
  awk -v r="$(json "$j" peak_over_idle_updates)" 'BEGIN{exit !(r < 4)}' || { echo "FAIL: peak above idle + 4 updates"; exit 1; }
done
growth=$(awk -v a="$(json "$large" peak_rss_mb)" -v b="$(json "$small" peak_rss_mb)" -v u="$(json "$large" update_mb)" \
  'BEGIN{print ((a-b)/u < 1.5) ? "ok" : "grew"}')
[ "$growth" = ok ] || { echo "FAIL: peak grew by more than 1.5 updates from 4 to 24 participants"; exit 1; }
echo PASS
