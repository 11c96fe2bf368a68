#!/usr/bin/env bash
# Federated rounds over ZeroMQ with real processes on loopback: a coordinator and three
# participant daemons on MNIST split dirichlet:0.5. Checks that rounds complete, that a
# participant killed with SIGKILL costs one stage deadline and not the run, that a coordinator
# killed with SIGKILL resumes from its last completed round, and that the killed participant,
# restarted, rejoins without downloading the backbone again.
set -euo pipefail
FEDTL=${1:?usage: federated_zmq_test.sh PATH/TO/fedtl}
FAIL_TAIL=20
source "$(dirname "$0")/common.sh"
need_fashion_mnist
need_mnist_digits

pretrain_small_backbone
PORT=$((20000 + RANDOM % 20000))
ADDR=tcp://127.0.0.1:$PORT
coordinator() {
  "$FEDTL" --threads 1 coordinator --insecure --bind "$ADDR" --backbone "$WORK/bb.fedtl" --test mnist --rounds 5 \
    --steps 20 --min-participants "${MIN:-2}" --stage-timeout 60 --join-timeout 60 --out-dir "$WORK/coord" "$@" \
    >> "$WORK/coordinator.log" 2>&1 &
  COORD=$!
  PIDS+=("$COORD")
}
rounds_done() { [ -f "$WORK/coord/metrics.jsonl" ] && wc -l < "$WORK/coord/metrics.jsonl" || echo 0; }
wait_rounds() {  # wait_rounds N SECONDS
  for _ in $(seq "$2"); do [ "$(rounds_done)" -ge "$1" ] && return 0; sleep 1; done
  fail "only $(rounds_done) of $1 rounds after $2 s"
}

coordinator
site() {  # site INDEX
  "$FEDTL" --threads 1 participant --insecure --connect "$ADDR" --id "site$1" --data mnist --partition dirichlet:0.5 \
    --num-participants 3 --participant-index "$1" --cache-dir "$WORK/cache$1" >> "$WORK/site$1.log" 2>&1 &
  PIDS+=("$!")
}
for i in 0 1 2; do site "$i"; done
SITE2=${PIDS[3]}
wait_rounds 1 120

# A participant vanishes: later rounds complete with the other two (round 2 may still have
# had its update in flight).
kill -9 "$SITE2"
wait_rounds 3 180
grep -q '"round": 3, "selected": [23], "received": 2' "$WORK/coord/metrics.jsonl" || fail "round 3 did not complete with 2 updates"

# The coordinator vanishes: a restart with --resume continues after the last completed round.
# The resumed run needs all three sites: the killed participant, restarted, must rejoin.
kill -9 "$COORD"
done_before=$(rounds_done)
MIN=3 coordinator --resume
site 2
wait_rounds 5 180
wait "$COORD" || fail "resumed coordinator failed"
rounds=$(sed -n 's/.*"round": \([0-9]*\),.*/\1/p' "$WORK/coord/metrics.jsonl" | tr '\n' ' ')
[ "$rounds" = "1 2 3 4 5 " ] || fail "rounds recorded: '$rounds' (expected each of 1..5 once; $done_before before the kill)"
grep -q "resuming after round $done_before" "$WORK/coordinator.log" || fail "no resume message"
acc=$(sed -n 's/.*"round": 5,.*"central_accuracy": \([0-9.]*\).*/\1/p' "$WORK/coord/metrics.jsonl")
awk -v a="$acc" 'BEGIN{exit !(a > 0.6)}' || fail "final central accuracy $acc"
ls "$WORK/cache0"/*.fedtl > /dev/null || fail "participant did not cache the backbone"
grep -q "participant site2 (id [0-9]*) joined, [0-9]* training samples, backbone cached" "$WORK/coordinator.log" ||
  fail "restarted site2 did not rejoin with its cached backbone"
sleep 2
grep -q "ended: training finished" "$WORK/site2.log" || fail "restarted site2 was not served to the end"
echo "federated_zmq_test: passed (final central accuracy $acc)"
