#!/bin/sh
# new_model_cli.sh — `loratty --new-model` through main(): on the tiny SD1 configs
# (tests/fixtures/pipeline-sd1) it writes a single-file checkpoint and one summary line; the
# same seed gives the same bytes, another seed another file; --inspect reads it; fp16 halves the
# float data; `loratty --sample` draws an image with it; bad arguments exit 2, a folder without
# configs exits 1, and neither leaves a file.
set -u
: "${LORATTY:?}" "${top_srcdir:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
cfg="$top_srcdir/tests/fixtures/pipeline-sd1"

"$LORATTY" --new-model "$cfg" -o "$dir/a.safetensors" --seed 3 >"$dir/out" 2>"$dir/err"
st=$?
if [ $st -ne 0 ] || [ ! -s "$dir/a.safetensors" ]; then
  echo "FAIL: --new-model gave status $st"; cat "$dir/err"; fail=1
elif [ "$(wc -l <"$dir/out")" -ne 1 ] ||
     ! grep -q "^$dir/a.safetensors: new SD 1.x model (seed 3, float): U-Net [0-9]*, text encoder [0-9]*, VAE [0-9]* parameters; $(wc -c <"$dir/a.safetensors") bytes$" "$dir/out"; then
  echo "FAIL: summary line:"; cat "$dir/out"; fail=1
else
  echo "ok: $(cat "$dir/out")"
fi

# the same name elsewhere (the title in the metadata is the file's name)
mkdir "$dir/b" "$dir/c"
"$LORATTY" --new-model "$cfg" -o "$dir/b/a.safetensors" --seed 3 >/dev/null 2>&1
"$LORATTY" --new-model "$cfg" -o "$dir/c/a.safetensors" --seed 4 >/dev/null 2>&1
if ! cmp -s "$dir/a.safetensors" "$dir/b/a.safetensors"; then
  echo "FAIL: seed 3 twice gives different files"; fail=1
elif cmp -s "$dir/a.safetensors" "$dir/c/a.safetensors" || [ ! -s "$dir/c/a.safetensors" ]; then
  echo "FAIL: seeds 3 and 4 give the same file"; fail=1
else
  echo "ok: same seed, same bytes; another seed, another file"
fi

if ! "$LORATTY" --inspect "$dir/a.safetensors" >"$dir/inspect" 2>&1; then
  echo "FAIL: --inspect refuses the file"; cat "$dir/inspect"; fail=1
elif ! grep -q "model.diffusion_model.input_blocks.0.0.weight" "$dir/inspect" ||
     ! grep -q "first_stage_model.decoder.mid.attn_1.q.weight" "$dir/inspect" ||
     ! grep -q "cond_stage_model.transformer.text_model.embeddings.position_ids" "$dir/inspect" ||
     ! grep -q "stable-diffusion-v1" "$dir/inspect"; then
  echo "FAIL: --inspect does not list the LDM keys and modelspec:"; head -30 "$dir/inspect"; fail=1
else
  echo "ok: --inspect reads it"
fi

"$LORATTY" --new-model "$cfg" -o "$dir/h.safetensors" --save-precision fp16 >"$dir/out" 2>&1
a=$(wc -c <"$dir/a.safetensors"); h=$(wc -c <"$dir/h.safetensors" 2>/dev/null || echo 0)
if ! grep -q "(seed 0, fp16)" "$dir/out" || [ "$h" -le 0 ] || [ $((h * 10)) -gt $((a * 6)) ] ||
   ! "$LORATTY" --inspect "$dir/h.safetensors" | grep -q "F16"; then
  echo "FAIL: fp16 save ($h bytes, float $a):"; cat "$dir/out"; fail=1
else
  echo "ok: fp16 file of $h bytes (float $a)"
fi

"$LORATTY" --sample --model "$dir/a.safetensors" --model-config "$cfg" --prompt "a red circle" \
  --width 16 --height 16 --steps 2 --seed 1 -o "$dir/s.png" 2>"$dir/err"
if [ $? -ne 0 ] || [ ! -s "$dir/s.png" ]; then
  echo "FAIL: --sample with the new model:"; cat "$dir/err"; fail=1
else
  echo "ok: --sample draws with it"
fi

# bad STATUS ARGS...: that exit status, one line on stderr, no file
bad() {
  want=$1; shift
  "$LORATTY" "$@" >/dev/null 2>"$dir/err"
  st=$?
  if [ $st -ne "$want" ] || [ "$(wc -l <"$dir/err")" -ne 1 ] || [ -e "$dir/bad.safetensors" ]; then
    echo "FAIL: $* gave status $st:"; cat "$dir/err"; fail=1
  else
    echo "ok: $(cat "$dir/err")"
  fi
}
bad 2 --new-model "$cfg"
bad 2 --new-model "$cfg" -o "$dir/bad.safetensors" --save-precision fp8
bad 2 --new-model "$cfg" -o "$dir/bad.safetensors" --seed -1
bad 2 --new-model "$cfg" -o "$dir/bad.safetensors" extra
bad 1 --new-model "$dir" -o "$dir/bad.safetensors"
exit $fail
