#!/bin/sh
# make_shapes_cli.sh — `loratty --make-shapes` through main(): it writes COUNT png + txt pairs
# into DIR/R_shapes and says so; they load as drawn (checked by test_shapes --verify with the
# project's image loader); the same seed writes the same bytes; a folder with files is refused
# (exit 2, files untouched); bad arguments exit 2 with one line and write nothing.
set -u
: "${LORATTY:?}" "${top_builddir:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

"$LORATTY" --make-shapes "$dir/data" --count 20 --seed 11 --repeats 2 >"$dir/out" 2>"$dir/err"
st=$?
if [ $st -ne 0 ] || ! grep -q "^wrote 20 images with captions to $dir/data/2_shapes (seed 11, 64x64, 2 repeats)" "$dir/out"; then
  echo "FAIL: --make-shapes gave status $st:"; cat "$dir/out" "$dir/err"; fail=1
else
  echo "ok: $(head -1 "$dir/out")"
fi
n_png=$(ls "$dir/data/2_shapes" | grep -c '^shape_000[0-9][0-9]\.png$')
n_txt=$(ls "$dir/data/2_shapes" | grep -c '^shape_000[0-9][0-9]\.txt$')
if [ "$n_png" -ne 20 ] || [ "$n_txt" -ne 20 ] || [ "$(ls -A "$dir/data" | wc -l)" -ne 1 ]; then
  echo "FAIL: $n_png images, $n_txt captions, in data/: $(ls -A "$dir/data")"; fail=1
fi
if "$top_builddir/tests/test_shapes" --verify "$dir/data/2_shapes" 20 11 64; then
  echo "ok: the images load as drawn, the captions match"
else
  echo "FAIL: test_shapes --verify"; fail=1
fi

"$LORATTY" --make-shapes "$dir/same" --count 20 --seed 11 --repeats 2 >/dev/null 2>&1
"$LORATTY" --make-shapes "$dir/other" --count 20 --seed 12 --repeats 2 >/dev/null 2>&1
if ! diff -r "$dir/data" "$dir/same" >/dev/null; then
  echo "FAIL: the same seed wrote different files"; fail=1
elif cat "$dir"/data/2_shapes/*.txt >"$dir/a.txt" && cat "$dir"/other/2_shapes/*.txt >"$dir/b.txt" &&
     cmp -s "$dir/a.txt" "$dir/b.txt"; then
  echo "FAIL: seeds 11 and 12 wrote the same captions"; fail=1
else
  echo "ok: the same seed gives the same bytes, another seed other captions"
fi

# refusing a folder with files: exit 2, one line, nothing changed
(cd "$dir/data/2_shapes" && cksum * >"$dir/before")
"$LORATTY" --make-shapes "$dir/data" --count 5 --seed 3 --repeats 2 >"$dir/out" 2>"$dir/err"
st=$?
(cd "$dir/data/2_shapes" && cksum * >"$dir/after")
if [ $st -ne 2 ] || [ "$(wc -l <"$dir/err")" -ne 1 ] || ! grep -q "already holds files" "$dir/err" ||
   ! cmp -s "$dir/before" "$dir/after" || [ "$(ls -A "$dir/data" | wc -l)" -ne 1 ]; then
  echo "FAIL: overwrite gave status $st:"; cat "$dir/err"; fail=1
else
  echo "ok: $(cat "$dir/err")"
fi

# --objects: a crowded set, captions listing every shape ("A, B and C, ... background")
"$LORATTY" --make-shapes "$dir/crowded" --count 30 --seed 4 --objects 8 >"$dir/out" 2>"$dir/err"
st=$?
many=$(grep -l ", a.* and a.*background" "$dir"/crowded/1_shapes/*.txt 2>/dev/null | wc -l)
if [ $st -ne 0 ] || [ "$(ls "$dir"/crowded/1_shapes/*.png | wc -l)" -ne 30 ] || [ "$many" -lt 3 ] ||
   ! grep -q "images with more than one shape" "$dir/out"; then
  echo "FAIL: --objects 8 gave status $st, $many captions with three shapes or more:"; cat "$dir/out" "$dir/err"; fail=1
else
  echo "ok: --objects 8: $many of 30 captions name three shapes or more"
fi

# bad arguments: exit 2, one line on stderr, no folder made
bad() {
  "$LORATTY" "$@" >/dev/null 2>"$dir/err"
  st=$?
  if [ $st -ne 2 ] || [ "$(wc -l <"$dir/err")" -ne 1 ] || [ -e "$dir/bad" ]; then
    echo "FAIL: $* gave status $st:"; cat "$dir/err"; fail=1
  else
    echo "ok: $(cat "$dir/err")"
  fi
}
bad --make-shapes "$dir/bad" --count 0
bad --make-shapes "$dir/bad" --count 100000
bad --make-shapes "$dir/bad" --size 60
bad --make-shapes "$dir/bad" --repeats x
bad --make-shapes "$dir/bad" --objects 0
bad --make-shapes "$dir/bad" --objects 10
bad --make-shapes "$dir/bad" --seed -1
bad --make-shapes "$dir/bad" --bogus
bad --make-shapes "$dir/bad" extra
bad --make-shapes "$dir/bad" --count
bad --count 5 --make-shapes

if ! "$LORATTY" --help | grep -q -- "--make-shapes DIR"; then
  echo "FAIL: --help does not list --make-shapes"; fail=1
fi
exit $fail
