#!/bin/sh
# sample_cli.sh — `loratty --sample` through main(): on the tiny SD1 model it writes a PNG with
# the A1111 "parameters" chunk and says where; bad arguments exit 2 with one line.
set -u
: "${LORATTY:?}" "${top_srcdir:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
fx="$top_srcdir/tests/fixtures"

"$LORATTY" --sample --model "$fx/checkpoint-sd1/model.safetensors" --model-config "$fx/pipeline-sd1" \
  --prompt "a cat" --negative "a dog" --width 16 --height 16 --steps 2 --seed 5 --sampler k_euler \
  -o "$dir/out.png" 2>"$dir/err"
if [ $? -ne 0 ] || ! grep -q "wrote $dir/out.png (seed 5)" "$dir/err"; then
  echo "FAIL: --sample did not write the image"; cat "$dir/err"; fail=1
elif ! LC_ALL=C grep -aq "Steps: 2, Sampler: Euler, CFG scale: 7.5, Seed: 5, Size: 16x16, Model: model" "$dir/out.png"; then
  echo "FAIL: no parameters chunk"; fail=1
else
  echo "ok: PNG with parameters"
fi

# expect-2 ARGS...: exit status 2 and one line on stderr
bad() {
  "$LORATTY" --sample "$@" -o "$dir/bad.png" >/dev/null 2>"$dir/err"
  st=$?
  if [ $st -ne 2 ] || [ "$(wc -l <"$dir/err")" -ne 1 ] || [ -e "$dir/bad.png" ]; then
    echo "FAIL: --sample $* gave status $st:"; cat "$dir/err"; fail=1
  else
    echo "ok: $(cat "$dir/err")"
  fi
}
m="$fx/checkpoint-sd1/model.safetensors"
bad --prompt x
bad --model "$m"
bad --model "$m" --prompt x --steps 0
bad --model "$m" --prompt x --sampler ddpm
bad --model "$m" --prompt x --width 13
bad --model "$m" --prompt x --cfg abc
exit $fail
