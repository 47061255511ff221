#!/bin/sh
# demo_learns.sh — the README's demo learns: `loratty --run share/demo/demo.toml` on the
# shipped base model (share/demo/tiny-sd.safetensors), shortened to DEMO_STEPS steps, draws the
# sample prompts before the first step and at the end; tests/demo_score compares each
# sample's background colour with the data set images of the same background and measures the
# ring's red and white stripes. After training both samples must sit on their
# prompt's background and show the stripes, clearly more than before, so a training loop that
# does not learn (or learns the wrong thing) fails.
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

# whether each sample sits on its prompt's background (the distance of its frame's colour to
# that of the data set images of that background: prompt 0 blue, zqx_01 and zqx_07; prompt 1
# gray, zqx_03 and zqx_09), and how much of the ring's stripes it shows: the smaller of its
# red and white fractions (a ring striped red and white has both; the base model draws each
# shape in one colour)
img="$src/share/demo/img/10_zqx"
bg() { "$score" --background "$img/zqx_0$2.png" "$img/zqx_0$3.png" -- "$1" | awk '{print $3}'; }
stripes() { "$score" "$1" | awk '{print ($3 < $5 ? $3 : $5)}'; }
b0=$(bg "$(echo "$before" | sed -n 1p)" 1 7) b1=$(bg "$(echo "$before" | sed -n 2p)" 3 9)
a0=$(bg "$(echo "$after" | sed -n 1p)" 1 7) a1=$(bg "$(echo "$after" | sed -n 2p)" 3 9)
sb0=$(stripes "$(echo "$before" | sed -n 1p)") sb1=$(stripes "$(echo "$before" | sed -n 2p)")
sa0=$(stripes "$(echo "$after" | sed -n 1p)") sa1=$(stripes "$(echo "$after" | sed -n 2p)")
echo "background distance to the data set's: before $b0 $b1, after $a0 $a1"
echo "stripes (min of red and white): before $sb0 $sb1, after $sa0 $sa1"
# after training: both samples on their prompt's background, both striped, clearly more
# than before
awk -v a0="$a0" -v a1="$a1" -v sb0="$sb0" -v sb1="$sb1" -v sa0="$sa0" -v sa1="$sa1" \
    -v min="${DEMO_MIN_STRIPES:-0.005}" 'BEGIN {
    exit !(a0 <= 40 && a1 <= 40 && sa0 >= min && sa1 >= min && sa0 + sa1 >= sb0 + sb1 + 3 * min) }' \
    || fail "the samples did not learn the striped ring (background distance before $b0 $b1, after $a0 $a1; stripes before $sb0 $sb1, after $sa0 $sa1)"
echo "PASS"
