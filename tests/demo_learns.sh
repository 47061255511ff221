#!/bin/sh
# demo_learns.sh — the README's demo learns: `loratty --run share/demo/demo.toml` on the
# shipped base model (share/demo/tiny-sd.safetensors), shortened to DEMO_STEPS steps, draws the
# sample prompts before the first step and at the end; tests/demo_score compares each
# sample's colours with the data set images of the same background (histogram intersection)
# and counts the ring's red. After training the samples must be clearly closer to the data set
# than before and show the ring's red, so a training loop that does not learn (or learns the
# wrong thing) fails.
# Also: the LoRA file exists and names the base model; the run prints where LoRA and samples
# are. Skipped under the sanitizers (minutes of training there; the run loop itself is tested
# by run_headless.sh).
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=$(cd "$(dirname "${LORATTY:-${top_builddir:-.}/loratty}")" && pwd)/loratty
score=$(cd "${top_builddir:-.}/tests" && pwd)/demo_score
steps=${DEMO_STEPS:-120}
if [ -n "${ASAN_OPTIONS:-}${UBSAN_OPTIONS:-}" ]; then
    echo "SKIP: demo training under the sanitizers is too slow (the plain build runs it)"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state"
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$src/share/demo/tiny-sd.safetensors" ] || fail "no base model share/demo/tiny-sd.safetensors"

cd "$src" || exit 1
"$prog" --run share/demo/demo.toml --set "output_dir=$tmp/out" --set "max_train_steps=$steps" \
    --set sample_every_n_epochs=0 --set "sample_every_n_steps=$steps" > "$tmp/run.out" 2>&1 \
    || { cat "$tmp/run.out"; fail "the demo run failed"; }
cat "$tmp/run.out"
[ -f "$tmp/out/zqx-demo.safetensors" ] || fail "no LoRA file"
grep -q "saved LoRA $tmp/out/zqx-demo.safetensors" "$tmp/run.out" || fail "the run does not say where the LoRA is"
before=$(ls "$tmp"/out/sample/zqx-demo_e000000_*.png 2>/dev/null)
after=$(ls "$tmp"/out/sample/zqx-demo_$(printf %06d "$steps")_*.png 2>/dev/null)
[ "$(echo "$before" | wc -w)" -eq 2 ] || fail "expected 2 samples before training, got: $before"
[ "$(echo "$after" | wc -w)" -eq 2 ] || fail "expected 2 samples after training, got: $after"

# how alike each sample's colours are to the data set images of its prompt's background
# (prompt 0: blue, zqx_01 and zqx_07; prompt 1: gray, zqx_03 and zqx_09), and how much of the
# ring's red it shows
img="$src/share/demo/img/10_zqx"
sim() { "$score" --similar "$img/zqx_0$2.png" "$img/zqx_0$3.png" -- "$1" | awk '{print $3}'; }
red() { "$score" "$1" | awk '{print $3}'; }
b0=$(sim "$(echo "$before" | sed -n 1p)" 1 7) b1=$(sim "$(echo "$before" | sed -n 2p)" 3 9)
a0=$(sim "$(echo "$after" | sed -n 1p)" 1 7) a1=$(sim "$(echo "$after" | sed -n 2p)" 3 9)
r0=$(red "$(echo "$after" | sed -n 1p)") r1=$(red "$(echo "$after" | sed -n 2p)")
echo "similarity to the data set: before $b0 $b1, after $a0 $a1; red after: $r0 $r1"
awk -v g="${DEMO_MIN_GAIN:-0.15}" -v b0="$b0" -v b1="$b1" -v a0="$a0" -v a1="$a1" -v r0="$r0" -v r1="$r1" 'BEGIN {
    before = (b0 + b1) / 2; after = (a0 + a1) / 2
    exit !(after >= before + g && after >= 0.5 && r0 + r1 >= 0.02) }' \
    || fail "the samples did not move toward the data set (similarity before $b0 $b1, after $a0 $a1; red $r0 $r1)"
echo "PASS"
