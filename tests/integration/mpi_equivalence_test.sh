#!/usr/bin/env bash
# One federated job, three transports, one result. Three rounds with secure aggregation (SecAgg
# on, four participants on MNIST split dirichlet:0.5, the same seed and configuration) run
#  (a) under `mpirun -np 5 fedtl mpi`: rank 0 coordinates, masked inputs summed by MPI_Reduce;
#  (b) as `fedtl coordinator` and four `fedtl participant` processes over ZeroMQ on loopback;
#  (c) in one process, `fedtl mpi --inproc 4`, over the in-process transport;
# and the coordinators' final checkpoints (round-state.fedtl: parameters, server optimiser
# moments, pooled BatchNorm statistics) must be equal byte for byte. Secure aggregation makes
# that possible: its sums are exact in the ring mod 2^32, so arrival order and reduction tree do
# not matter, and the test-only --deterministic-rounding-seed fixes its stochastic rounding
# (the masks stay random: they cancel exactly). Torch runs on one thread everywhere.
set -euo pipefail
FEDTL=${1:?usage: mpi_equivalence_test.sh PATH/TO/fedtl [mpirun]}
MPIRUN=${2:-mpirun}
FAIL_TAIL=25
source "$(dirname "$0")/common.sh"
need_fashion_mnist
need_mnist_digits
export OMP_NUM_THREADS=1

pretrain_small_backbone

# The job, once: every key is a flag of `fedtl mpi` (and of the coordinator or participant).
cat > "$WORK/job.toml" <<TOML
[mpi]
backbone = "$WORK/bb.fedtl"
num-classes = 10
data = "mnist"
partition = "dirichlet:0.5"
labels-per-class = 20
rounds = 3
steps = 20
min-participants = 4
seed = 7
deterministic-rounding-seed = 11
join-timeout = 120
stage-timeout = 120
TOML
COORD_FLAGS=(--backbone "$WORK/bb.fedtl" --num-classes 10 --rounds 3 --steps 20 --min-participants 4 --seed 7
  --join-timeout 120 --stage-timeout 120)
SITE_FLAGS=(--data mnist --partition dirichlet:0.5 --labels-per-class 20 --seed 7 --deterministic-rounding-seed 11)

# (a) MPI: 1 coordinator rank + 4 participant ranks on this machine.
timeout 400 "$MPIRUN" --allow-run-as-root --oversubscribe -np 5 "$FEDTL" --threads 1 mpi --config "$WORK/job.toml" \
  --out-dir "$WORK/mpi" --cache-dir "$WORK/mpi-cache" > "$WORK/mpi.log" 2>&1 || fail "the MPI run failed"

# (b) ZeroMQ: the same job as separate processes.
PORT=$((20000 + RANDOM % 20000))
"$FEDTL" --threads 1 coordinator --insecure --bind "tcp://127.0.0.1:$PORT" "${COORD_FLAGS[@]}" --out-dir "$WORK/zmq" \
  > "$WORK/zmq-coordinator.log" 2>&1 &
COORD=$!
PIDS+=("$COORD")
for i in 0 1 2 3; do
  "$FEDTL" --threads 1 participant --insecure --connect "tcp://127.0.0.1:$PORT" --id "site$i" "${SITE_FLAGS[@]}" \
    --num-participants 4 --participant-index "$i" --cache-dir "$WORK/zmq-cache$i" > "$WORK/zmq-site$i.log" 2>&1 &
  PIDS+=("$!")
done
timeout 400 tail --pid="$COORD" -f /dev/null || fail "the ZeroMQ coordinator did not finish in time"
wait "$COORD" || fail "the ZeroMQ coordinator failed"

# (c) In process.
timeout 400 "$FEDTL" --threads 1 mpi --config "$WORK/job.toml" --inproc 4 --out-dir "$WORK/inproc" \
  --cache-dir "$WORK/inproc-cache" > "$WORK/inproc.log" 2>&1 || fail "the in-process run failed"

for mode in mpi zmq inproc; do
  m="$WORK/$mode/metrics.jsonl"
  [ "$(wc -l < "$m")" -eq 3 ] || fail "$mode: $(wc -l < "$m") rounds recorded, 3 expected"
  grep -q '"round": 3, "selected": 4, "received": 4, .*"secure": true' "$m" || fail "$mode: round 3 was not a secure round of 4"
done
grep -q "MPI, 4 participants" "$WORK/mpi.log" || fail "the MPI run did not use the MPI transport"
sums=$(sha256sum "$WORK"/{mpi,zmq,inproc}/round-state.fedtl)
echo "$sums"
cmp "$WORK/mpi/round-state.fedtl" "$WORK/inproc/round-state.fedtl" || fail "MPI and in-process final parameters differ"
cmp "$WORK/zmq/round-state.fedtl" "$WORK/inproc/round-state.fedtl" || fail "ZeroMQ and in-process final parameters differ"
up() { sed -n 's/.*"round": 1,.*"bytes_up": \([0-9]*\).*/\1/p' "$WORK/$1/metrics.jsonl"; }
echo "round 1 bytes up to the coordinator: mpi $(up mpi) (masked inputs summed by MPI_Reduce), zmq $(up zmq), inproc $(up inproc)"

# (d) Plaintext FedAvg under mpirun: the weighted updates are summed by a float MPI_Reduce, not
# sent to rank 0 (float sums depend on the reduction tree's order, so no byte comparison here;
# the unit tests compare the engine's result with the streamed sum within float rounding). The
# same job file, flags overriding it.
timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np 3 "$FEDTL" --threads 1 mpi --config "$WORK/job.toml" \
  --no-secure-aggregation --rounds 2 --steps 10 --min-participants 2 --out-dir "$WORK/mpi-plain" --cache-dir "$WORK/mpi-plain-cache" > "$WORK/mpi-plain.log" 2>&1 ||
  fail "the plaintext MPI run failed"
m="$WORK/mpi-plain/metrics.jsonl"
[ "$(wc -l < "$m")" -eq 2 ] || fail "plaintext MPI: $(wc -l < "$m") rounds recorded, 2 expected"
grep -q '"round": 2, "selected": 2, "received": 2, .*"secure": false' "$m" || fail "plaintext MPI: round 2 was not a plaintext round of 2"
grep -q "round 2: 2 weighted updates summed by the transport's reduction" "$WORK/mpi-plain.log" ||
  fail "plaintext MPI: the updates were not summed by the MPI reduction"
echo "plaintext round 1 bytes up over MPI (updates summed by a float MPI_Reduce): $(up mpi-plain)"
echo "mpi_equivalence_test: passed (final round-state.fedtl identical over MPI, ZeroMQ and in process; plaintext FedAvg reduced by MPI)"
