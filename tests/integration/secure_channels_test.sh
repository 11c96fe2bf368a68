#!/usr/bin/env bash
# Federated rounds over CURVE-encrypted, authenticated ZeroMQ channels, without --insecure:
# `fedtl keygen` makes identities for a coordinator and three participants; the coordinator
# admits two of them (--allow), which pin its key (--coordinator-key) and train two rounds.
# The third, with a key not on the allow-list, and a fourth running --insecure never join, and
# both sides log why. Also checks keygen's file modes and its refusal to overwrite, and that a
# secret key file readable by others is refused.
set -euo pipefail
FEDTL=${1:?usage: secure_channels_test.sh PATH/TO/fedtl}
FAIL_TAIL=30
source "$(dirname "$0")/common.sh"
need_mnist_digits
ROUNDS=2

# Identities: each party makes its own; only the .pub files are exchanged.
"$FEDTL" keygen --out "$WORK/coord-keys" --name coord > "$WORK/keygen.log" 2>&1 || fail "keygen coord"
for s in site0 site1 site2; do
  "$FEDTL" keygen --out "$WORK/$s-keys" --name "$s" >> "$WORK/keygen.log" 2>&1 || fail "keygen $s"
done
[ "$(stat -c %a "$WORK/coord-keys/coord.key")" = 600 ] || fail "coord.key is not mode 600"
grep -q '^curve-public = "' "$WORK/coord-keys/coord.pub" || fail "coord.pub lacks its CURVE key"
! grep -q secret "$WORK/coord-keys/coord.pub" || fail "coord.pub mentions a secret"
set +e; out=$("$FEDTL" keygen --out "$WORK/coord-keys" --name coord 2>&1); rc=$?; set -e
[ "$rc" = 2 ] && grep -q -- "--force" <<< "$out" || fail "keygen overwrote an identity (rc $rc: $out)"
cp "$WORK/site0-keys/site0.key" "$WORK/exposed.key"
chmod 644 "$WORK/exposed.key"
set +e
out=$("$FEDTL" participant --connect tcp://127.0.0.1:1 --data mnist --identity "$WORK/exposed.key" \
  --coordinator-key "$WORK/coord-keys/coord.pub" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "chmod 600" <<< "$out" || fail "a world-readable secret key was accepted (rc $rc: $out)"
mkdir "$WORK/allowed"
cp "$WORK/site0-keys/site0.pub" "$WORK/site1-keys/site1.pub" "$WORK/allowed/"  # site2 is not allowed

"$FEDTL" --threads 1 pretrain --source mnist --limit 256 --epochs 1 --out "$WORK/bb.fedtl" > "$WORK/pretrain.log" 2>&1 ||
  fail "pretraining the backbone failed"
PORT=$((20000 + RANDOM % 20000))
ADDR=tcp://127.0.0.1:$PORT
"$FEDTL" --threads 1 coordinator --bind "$ADDR" --identity "$WORK/coord-keys/coord.key" --allow "$WORK/allowed" \
  --backbone "$WORK/bb.fedtl" --num-classes 10 --rounds $ROUNDS --steps 5 --batch-size 16 --min-participants 2 \
  --stage-timeout 60 --join-timeout 60 --out-dir "$WORK/coord" > "$WORK/coordinator.log" 2>&1 &
COORD=$!
PIDS+=("$COORD")
participant() {  # participant NAME INDEX FLAGS...
  local name=$1 index=$2
  shift 2
  "$FEDTL" --threads 1 participant --connect "$ADDR" --data mnist --partition iid --num-participants 2 \
    --participant-index "$index" --labels-per-class 10 --cache-dir "$WORK/cache-$name" "$@" > "$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
}
# The outsiders dial first, so they are there for the whole run.
participant site2 0 --identity "$WORK/site2-keys/site2.key" --coordinator-key "$WORK/coord-keys/coord.pub"
OUTSIDER=${PIDS[-1]}
participant site3 1 --id site3 --insecure
PLAIN=${PIDS[-1]}
participant site0 0 --identity "$WORK/site0-keys/site0.key" --coordinator-key "$WORK/coord-keys/coord.pub"
SITE0=${PIDS[-1]}
participant site1 1 --identity "$WORK/site1-keys/site1.key" --coordinator-key "$WORK/coord-keys/coord.pub"
SITE1=${PIDS[-1]}

for _ in $(seq 360); do kill -0 "$COORD" 2>/dev/null || break; sleep 0.5; done
kill -0 "$COORD" 2>/dev/null && fail "coordinator still running after 180 s"
coord_rc=0
wait "$COORD" || coord_rc=$?
[ "$coord_rc" -eq 0 ] || fail "coordinator exited with $coord_rc"
for s in site0:$SITE0 site1:$SITE1; do
  name=${s%%:*} pid=${s#*:}
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && fail "participant $name still running 30 s after the coordinator finished"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "participant $name exited with $rc"
  grep -q "participant $name: $ROUNDS rounds trained" "$WORK/$name.log" || fail "$name did not train $ROUNDS rounds"
  grep -q "encrypted (CURVE, pinned key) connection to the coordinator" "$WORK/$name.log" ||
    fail "$name did not report its encrypted connection"
  ! grep -q "\[insecure\]" "$WORK/$name.log" || fail "$name warned about an insecure round with keys"
  # With keys the coordinator signs what it distributes and the pinned participants verify it.
  ! grep -q "not signed by the pinned coordinator key" "$WORK/$name.log" || fail "$name refused a signature"
done
rounds=$(sed -n 's/.*"round": \([0-9]*\), "selected": 2, "received": 2,.*/\1/p' "$WORK/coord/metrics.jsonl" | tr '\n' ' ')
[ "$rounds" = "$(seq -s ' ' $ROUNDS) " ] || fail "rounds completed with both participants: '$rounds'"
grep -q "coordinator listening on .*(CURVE, 2 participant keys allowed" "$WORK/coordinator.log" ||
  fail "the coordinator did not announce its CURVE channels"
! grep -q "\[insecure" "$WORK/coordinator.log" || fail "the coordinator called a keyed round insecure"

# The outsiders never joined, and both ends said why.
site2_key=$(sed -n 's/^curve-public = "\(.*\)"$/\1/p' "$WORK/site2-keys/site2.pub")
grep -qF "unknown CURVE key $site2_key" "$WORK/coordinator.log" || fail "the coordinator did not log the unknown key"
grep -q "refused this participant's key" "$WORK/site2.log" || fail "site2 did not log its refusal"
grep -q "has no CURVE keys" "$WORK/coordinator.log" || fail "the coordinator did not log the keyless peer"
grep -q "requires CURVE keys" "$WORK/site3.log" ||
  fail "site3 did not log the missing keys"
for outsider in site2 site3; do
  ! grep -q "participant $outsider" "$WORK/coordinator.log" || fail "$outsider joined"
done
kill -0 "$OUTSIDER" 2>/dev/null && kill -0 "$PLAIN" 2>/dev/null || fail "an outsider gave up instead of retrying"
echo "secure_channels_test: passed ($ROUNDS rounds over CURVE with 2 allowed participants; unlisted and keyless ones refused)"
