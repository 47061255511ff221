#!/bin/sh
# import_fixtures.sh — every kohya_ss training config and dataset TOML in shared/fixtures
# imports (unknown keys and missing paths only warn); the files that are not training
# configs are refused with a message saying what they are; an imported preset saves and
# loads back to the same preset; exported sd-scripts keys are all sd-scripts names.
set -u
: "${LORATTY:?}"
fixtures="${SHARED_DIR:-$top_srcdir/../shared}/fixtures/kohya_ss"
if [ ! -d "$fixtures" ]; then
  echo "SKIP: no kohya_ss fixtures at $fixtures"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
for f in "$fixtures"/*.json "$fixtures"/*.toml; do
  name=$(basename "$f")
  case "$name" in
    meta-1_lat.json)
      "$LORATTY" --import "$f" -o "$dir/x.toml" 2>"$dir/err"; rc=$?
      if [ $rc -ne 2 ] || ! grep -q "fine-tuning metadata file" "$dir/err"; then
        echo "FAIL: $name should be refused as fine-tuning metadata (rc=$rc)"; cat "$dir/err"; fail=1
      else echo "ok: $name refused: $(tail -n 1 "$dir/err")"; fi
      continue ;;
    leco_prompts.toml)
      "$LORATTY" --import "$f" -o "$dir/x.toml" 2>"$dir/err"; rc=$?
      if [ $rc -ne 2 ] || ! grep -q "LECO prompt file" "$dir/err"; then
        echo "FAIL: $name should be refused as a LECO prompt file (rc=$rc)"; cat "$dir/err"; fail=1
      else echo "ok: $name refused: $(tail -n 1 "$dir/err")"; fi
      continue ;;
  esac
  out="$dir/$name.preset.toml"
  if ! "$LORATTY" --import "$f" -o "$out" 2>"$dir/err"; then
    echo "FAIL: $name did not import:"; cat "$dir/err"; fail=1; continue
  fi
  warnings=$(grep -c 'warning:' "$dir/err")
  # the preset reads back, and writing it again gives the same file
  if ! "$LORATTY" --import "$out" -o "$out.again" 2>"$dir/err2"; then
    echo "FAIL: $name: the written preset does not load:"; cat "$dir/err2"; fail=1; continue
  fi
  if ! cmp -s "$out" "$out.again"; then
    echo "FAIL: $name: preset → save → load changed it:"; diff "$out" "$out.again" | head -20; fail=1; continue
  fi
  echo "ok: $name imports ($warnings warnings), round-trips"
done

# exported run TOML keys are sd-scripts argument names: every key is a parameter of the
# table that is not loratty-only, or one of the keys kohya_ss derives from loratty-only ones
"$LORATTY" --import "$fixtures/locon-AdamW.json" -o "$dir/locon.toml" 2>/dev/null
"$LORATTY" --print-command "$dir/locon.toml" >"$dir/cmd.txt" 2>"$dir/err" || { echo "FAIL: --print-command"; cat "$dir/err"; fail=1; }
grep -q '^network_module = "networks.lora"' "$dir/cmd.txt" || { echo "FAIL: locon-AdamW (Kohya LoCon): network_module"; cat "$dir/cmd.txt"; fail=1; }
grep -q '^network_args = \["conv_dim=16", "conv_alpha=8"' "$dir/cmd.txt" || { echo "FAIL: locon-AdamW: conv_dim/conv_alpha network_args"; fail=1; }
grep -q '^max_token_length' "$dir/cmd.txt" && ! grep -q '^max_token_length = [0-9]' "$dir/cmd.txt" && { echo "FAIL: max_token_length exported as a string"; fail=1; }
"$LORATTY" --import "$fixtures/loha-Prodigy.json" -o "$dir/loha.toml" 2>/dev/null
"$LORATTY" --print-command "$dir/loha.toml" >"$dir/cmd2.txt" 2>"$dir/err" || { echo "FAIL: --print-command loha"; cat "$dir/err"; fail=1; }
grep -q '^network_module = "lycoris.kohya"' "$dir/cmd2.txt" || { echo "FAIL: loha-Prodigy: no lycoris network_module"; fail=1; }
grep -q '^network_args = \["algo=loha"' "$dir/cmd2.txt" || { echo "FAIL: loha-Prodigy: algo=loha missing"; grep network_args "$dir/cmd2.txt"; fail=1; }
exit $fail
