#!/usr/bin/env bash
# A running coordinator refuses bad input and keeps serving: while two real participant
# daemons train over ZeroMQ on loopback, fedtl_send_raw_frames sends it frames with a wrong
# magic, another protocol version, an unknown type, a non-zero reserved field, a short header,
# a payload length above the type's limit, a length past the bytes sent, undecodable, trailing
# and invalid Hello payloads, an update for a round that is not running, and a message type only
# a coordinator may send. Checks that the coordinator logs a specific reason for each, that the
# sender never becomes a participant, and that every round completes with both participants.
set -euo pipefail
FEDTL=${1:?usage: malformed_frames_test.sh PATH/TO/fedtl PATH/TO/fedtl_send_raw_frames}
FAIL_TAIL=40
source "$(dirname "$0")/common.sh"
need_mnist_digits
SENDER=${2:?usage: malformed_frames_test.sh PATH/TO/fedtl PATH/TO/fedtl_send_raw_frames}
ROUNDS=4
ID=raw-frame-sender

# What the coordinator must log for each case the sender knows (grep -E, one line each). The
# update case is matched by its drop line or by a rejection that names the update, so that how
# the coordinator gates uploads can change without this test.
declare -A EXPECT=(
  [short-header]="rejected frame from $ID: frame of 10 bytes is shorter than the 32-byte header"
  [bad-magic]="rejected frame from $ID: bad frame magic"
  [version-99]="rejected frame from $ID: protocol version 99 is not supported"
  [unknown-type]="rejected frame from $ID: unknown message type 777"
  [reserved-nonzero]="rejected frame from $ID: reserved header field is not zero"
  [hello-over-limit]="rejected frame from $ID: hello payload of 1073741824 bytes exceeds the limit of 65536"
  [truncated-payload]="rejected frame from $ID: payload is [0-9]+ bytes but the header says [0-9]+"
  [hello-garbage]="rejected frame from $ID: truncated input: need 8 bytes, 3 left"
  [hello-string-length]="rejected frame from $ID: length 5000 exceeds the [0-9]+ bytes left"
  [hello-trailing-bytes]="rejected frame from $ID: 4 unexpected trailing bytes"
  [hello-bad-name]="rejected frame from $ID: participant name may hold printable ASCII without spaces only"
  [hello-other-name]="rejected frame from $ID: hello names '$ID-impostor' but the connection is '$ID'"
  [update-idle-round]="(dropping update from $ID for round 999|rejected frame from $ID: .*(update|round 999))"
  [round-start-from-participant]="rejected frame from $ID: a participant may not send round-start"
)
cases=$("$SENDER" --list)
for c in $cases; do [ -n "${EXPECT[$c]:-}" ] || fail "sender case '$c' has no expected log line here"; done
for c in "${!EXPECT[@]}"; do grep -qx -- "$c" <<< "$cases" || fail "expected case '$c' is not sent by $SENDER"; done

# A tiny backbone (pretrained on the target itself: MNIST loads in a second, Fashion-MNIST's
# archives take ten), no central test set, a few short rounds on small slices: the run is
# about the frames, not accuracy.
"$FEDTL" --threads 1 pretrain --source mnist --limit 256 --epochs 1 --out "$WORK/bb.fedtl" > "$WORK/pretrain.log" 2>&1 ||
  fail "pretraining the backbone failed"
PORT=$((20000 + RANDOM % 20000))
ADDR=tcp://127.0.0.1:$PORT
"$FEDTL" --threads 1 coordinator --insecure --bind "$ADDR" --backbone "$WORK/bb.fedtl" --num-classes 10 --rounds $ROUNDS \
  --steps 5 --batch-size 16 --min-participants 2 --stage-timeout 60 --join-timeout 60 --out-dir "$WORK/coord" \
  > "$WORK/coordinator.log" 2>&1 &
COORD=$!
PIDS+=("$COORD")
SITES=()
for i in 0 1; do
  "$FEDTL" --threads 1 participant --insecure --connect "$ADDR" --id "site$i" --data mnist --partition iid \
    --num-participants 2 --participant-index "$i" --labels-per-class 10 --cache-dir "$WORK/cache$i" \
    > "$WORK/site$i.log" 2>&1 &
  SITES+=("$!")
  PIDS+=("$!")
done

rounds_done() { [ -f "$WORK/coord/metrics.jsonl" ] && wc -l < "$WORK/coord/metrics.jsonl" || echo 0; }
# Send while rounds are going: after the first completes, with more still to run.
for _ in $(seq 240); do
  [ "$(rounds_done)" -ge 1 ] && break
  kill -0 "$COORD" 2>/dev/null || fail "coordinator exited before round 1"
  sleep 0.5
done
[ "$(rounds_done)" -ge 1 ] || fail "round 1 did not complete in 120 s"
[ "$(rounds_done)" -lt $ROUNDS ] || fail "all rounds finished before the frames were sent; raise ROUNDS"
"$SENDER" --connect "$ADDR" --id "$ID" > "$WORK/sender.log" 2>&1 || fail "the sender could not send every case"
cat "$WORK/sender.log"
kill -0 "$COORD" 2>/dev/null || fail "coordinator gone right after the frames were sent"

# The run finishes as if nothing happened.
for _ in $(seq 360); do kill -0 "$COORD" 2>/dev/null || break; sleep 0.5; done
kill -0 "$COORD" 2>/dev/null && fail "coordinator still running 180 s after the frames (at round $(rounds_done) of $ROUNDS)"
coord_rc=0
wait "$COORD" || coord_rc=$?
[ "$coord_rc" -eq 0 ] || fail "coordinator exited with $coord_rc"
for i in 0 1; do
  for _ in $(seq 60); do kill -0 "${SITES[$i]}" 2>/dev/null || break; sleep 0.5; done
  site_rc=0
  kill -0 "${SITES[$i]}" 2>/dev/null && fail "participant site$i still running 30 s after the coordinator finished"
  wait "${SITES[$i]}" || site_rc=$?
  [ "$site_rc" -eq 0 ] || fail "participant site$i exited with $site_rc"
  grep -q "participant site$i: $ROUNDS rounds trained" "$WORK/site$i.log" || fail "site$i did not train all $ROUNDS rounds"
done
rounds=$(sed -n 's/.*"round": \([0-9]*\), "selected": 2, "received": 2,.*/\1/p' "$WORK/coord/metrics.jsonl" | tr '\n' ' ')
[ "$rounds" = "$(seq -s ' ' $ROUNDS) " ] || fail "rounds completed with both participants: '$rounds' (expected 1..$ROUNDS)"

# Every case was refused with its reason, and the sender never joined.
missing=0
for c in $cases; do
  if line=$(grep -E -m1 -- "${EXPECT[$c]}" "$WORK/coordinator.log"); then
    echo "ok   $c: ${line#*] }"
  else
    echo "MISSING $c: no coordinator log line matching '${EXPECT[$c]}'" >&2
    missing=$((missing + 1))
  fi
done
[ "$missing" -eq 0 ] || fail "$missing of $(wc -w <<< "$cases") cases were not logged with their reason"
! grep -q "participant $ID" "$WORK/coordinator.log" || fail "the raw sender was taken for a participant"
echo "malformed_frames_test: passed ($(wc -w <<< "$cases") bad frames refused, $ROUNDS rounds with 2 participants)"
