#!/usr/bin/env bash
# End-to-end checks of the fedtl command line on real data: a short pretraining, a transfer,
# summaries, and the one-line errors users get for bad input.
set -euo pipefail
FEDTL=${1:?usage: cli_test.sh PATH/TO/fedtl}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error CODE PATTERN -- command...: exits with CODE and prints one line matching PATTERN.
expect_error() {
  local code=$1 pattern=$2; shift 3
  set +e; out=$("$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = "$code" ] || fail "expected exit $code, got $rc from: $* ($out)"
  echo "$out" | grep -qE "$pattern" || fail "expected '$pattern' from: $* (got: $out)"
  [ "$(echo "$out" | wc -l)" -le 2 ] || fail "error output longer than a line: $out"
}

"$FEDTL" --help | grep -q pretrain || fail "--help lists no subcommands"
"$FEDTL" finetune --help | grep -q -- --labels-per-class || fail "finetune --help"

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  "$FEDTL" --threads 2 pretrain --source fashion-mnist --classes 0-4 --limit 3000 --epochs 1 --out "$WORK/bb.fedtl" \
    --summary-json "$WORK/pre.json" > "$WORK/pre.log"
  grep -q '"test_accuracy"' "$WORK/pre.json" || fail "pretrain summary lacks test_accuracy"
  grep -q '"train_seconds"' "$WORK/pre.json" || fail "pretrain summary lacks train_seconds"
  acc=$(sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$WORK/pre.json")
  awk -v a="$acc" 'BEGIN{exit !(a > 0.6)}' || fail "pretraining on 3000 samples reached only $acc"

  "$FEDTL" --threads 2 finetune --backbone "$WORK/bb.fedtl" --target fashion-mnist --labels-per-class 5 \
    --strategy linear-probe --steps 50 --summary-json "$WORK/ft.json" > "$WORK/ft.log"
  grep -q '"test_accuracy"' "$WORK/ft.json" || fail "finetune summary lacks test_accuracy"

  # Corrupt checkpoint: refused with a digest error, exit 2.
  cp "$WORK/bb.fedtl" "$WORK/bad.fedtl"
  printf '\xff\xff\xff\xff' | dd of="$WORK/bad.fedtl" bs=1 seek=5000 conv=notrunc status=none
  expect_error 2 "digest does not match" -- "$FEDTL" finetune --backbone "$WORK/bad.fedtl" --target fashion-mnist \
    --labels-per-class 5 --strategy full
  expect_error 2 "unknown strategy 'fine'" -- "$FEDTL" finetune --backbone "$WORK/bb.fedtl" --target fashion-mnist \
    --strategy fine
  expect_error 2 "asks for more blocks" -- "$FEDTL" finetune --backbone "$WORK/bb.fedtl" --target fashion-mnist \
    --labels-per-class 2 --strategy partial:7
fi

expect_error 2 "does not exist" -- "$FEDTL" finetune --backbone "$WORK/none.fedtl" --target idx:"$WORK"
touch "$WORK/empty.fedtl"
expect_error 2 "IDX folder" -- "$FEDTL" finetune --backbone "$WORK/empty.fedtl" --target idx:"$WORK/nowhere"
mkdir -p "$WORK/idx"
expect_error 2 "has no train-(images|labels)" -- "$FEDTL" finetune --backbone "$WORK/empty.fedtl" --target idx:"$WORK/idx"
expect_error 2 "unknown data source" -- "$FEDTL" pretrain --source cifar --out "$WORK/x"
expect_error 2 "exactly one of" -- "$FEDTL" finetune --backbone x
expect_error 2 "unknown scenario" -- "$FEDTL" finetune --scenario far
expect_error 2 "needs a shift" -- "$FEDTL" finetune --scenario domain-shift
# Options from a TOML file: values are applied and checked, unknown keys refused.
printf '[coordinator]\nrounds = 2\nbogus-key = 3\n' > "$WORK/bad.toml"
set +e; out=$("$FEDTL" coordinator --config "$WORK/bad.toml" --insecure 2>&1); rc=$?; set -e
[ "$rc" -ne 0 ] && echo "$out" | grep -q bogus || fail "unknown config key accepted: $out"
printf '[coordinator]\ninsecure = true\nbackbone = "%s/none.fedtl"\ntest = "mnist"\n' "$WORK" > "$WORK/c.toml"
expect_error 2 "none.fedtl" -- "$FEDTL" coordinator --config "$WORK/c.toml"
expect_error 2 "pass --insecure" -- "$FEDTL" participant --connect tcp://127.0.0.1:1 --id x --data mnist
# Channel keys: partial or contradictory flags, and the wrong half of a key pair, are refused
# before anything is loaded.
"$FEDTL" keygen --out "$WORK/keys" --name coord > /dev/null
expect_error 2 "needs --allow" -- "$FEDTL" coordinator --identity "$WORK/keys/coord.key" --backbone "$WORK/none.fedtl"
expect_error 2 "contradicts" -- "$FEDTL" participant --connect tcp://127.0.0.1:1 --data mnist --insecure \
  --identity "$WORK/keys/coord.key" --coordinator-key "$WORK/keys/coord.pub"
expect_error 2 "is a SECRET identity file" -- "$FEDTL" participant --connect tcp://127.0.0.1:1 --data mnist \
  --identity "$WORK/keys/coord.key" --coordinator-key "$WORK/keys/coord.key"
expect_error 2 "already exists; pass --force" -- "$FEDTL" keygen --out "$WORK/keys" --name coord
set +e; "$FEDTL" pretrain --epochs 0 --out x >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -ne 0 ] || fail "--epochs 0 accepted"
echo "cli_test: all checks passed"
