#!/bin/sh
# cli_check.sh — `loratty --check` on the demo preset and the shipped presets prints the plan
# a user expects (folder, images, repeats, steps); --print-command per training_mode;
# additional_parameters; --help and --version work.
set -u
: "${LORATTY:?}"
: "${top_srcdir:?}"
fail=0
cd "$top_srcdir" || exit 1
out=$("$LORATTY" --check share/demo/demo.toml 2>&1) || { echo "FAIL: --check demo.toml:"; echo "$out"; fail=1; }
echo "$out"
echo "$out" | grep -q -E '10_zqx +12 +10 +120 +12' || { echo "FAIL: demo plan lacks the zqx folder line"; fail=1; }
echo "$out" | grep -q -E '^Total steps: +[0-9]+' || { echo "FAIL: no total steps"; fail=1; }
for p in share/presets/*.toml; do
  "$LORATTY" --print-command "$p" >/dev/null 2>err.$$ || { echo "FAIL: $p does not load:"; cat err.$$; fail=1; }
  rm -f err.$$
done
# the whole-model modes: fine-tuning exports sd-scripts' train_db.py, the VAE has no script
"$LORATTY" --print-command share/demo/tiny-sd-unet.toml 2>&1 | grep -q 'sd-scripts/train_db.py --config_file' \
  || { echo "FAIL: training_mode finetune does not export train_db.py"; fail=1; }
if "$LORATTY" --print-command share/demo/tiny-sd-vae.toml >/dev/null 2>err.$$ \
   || ! grep -q 'training_mode.*no sd-scripts equivalent' err.$$; then
  echo "FAIL: training_mode vae is not refused by --print-command"; cat err.$$; fail=1
fi
rm -f err.$$
# kohya_ss's Epoch: max_train_steps and max_train_epochs 0, 12 images x 10 repeats,
# batch 3, 4 epochs: ceil(120 / 3 x 4) = 160 steps, in the plan and as sd-scripts'
# max_train_steps; with a reg folder twice that
ep=$(mktemp -d "${TMPDIR:-/tmp}/loratty-epoch.XXXXXX")
sed -e 's|^max_train_epochs = .*|max_train_epochs = 0\nmax_train_steps = 0|' \
    -e 's|^train_batch_size = .*|train_batch_size = 3|' -e "s|^output_dir = .*|output_dir = \"$ep/out\"|" -e "s|^train_data_dir = .*|train_data_dir = \"$top_srcdir/share/demo/img\"|" \
    -e 's|^\[loratty\]$|[loratty]\nepoch = 4|' share/demo/demo.toml > "$ep/e.toml"
"$LORATTY" --check "$ep/e.toml" 2>&1 | grep -q -E '^Total steps: +160 \(kohya_ss' ||
  { echo "FAIL: epoch = 4 does not give 160 steps:"; "$LORATTY" --check "$ep/e.toml" 2>&1 | tail -4; fail=1; }
"$LORATTY" --print-command "$ep/e.toml" 2>/dev/null | grep -q '^max_train_steps = 160$' ||
  { echo "FAIL: the sd-scripts export lacks max_train_steps = 160"; fail=1; }
mkdir -p "$ep/reg/1_ring"
sed -i "s|^output_dir = .*|&\nreg_data_dir = \"$ep/reg\"|" "$ep/e.toml"
"$LORATTY" --print-command "$ep/e.toml" 2>/dev/null | grep -q '^max_train_steps = 320$' ||
  { echo "FAIL: with reg_data_dir the export lacks max_train_steps = 320"; fail=1; }
rm -rf "$ep"
# kohya_ss's additional_parameters override the preset in the plan (as on sd-scripts' command
# line), --set over both; --print-command appends them to the command, quotes dropped
out=$("$LORATTY" --check share/demo/demo.toml --set 'additional_parameters=--max_train_epochs 0 "--max_train_steps=77"' 2>&1)
echo "$out" | grep -q -E '^Total steps: +77 \(max_train_steps\)' ||
  { echo "FAIL: additional_parameters not applied:"; echo "$out" | tail -4; fail=1; }
out=$("$LORATTY" --check share/demo/demo.toml --set 'additional_parameters=--max_train_epochs 0 --max_train_steps 77' --set max_train_steps=33 2>&1)
echo "$out" | grep -q -E '^Total steps: +33 ' || { echo "FAIL: --set does not win over additional_parameters"; fail=1; }
"$LORATTY" --print-command share/demo/demo.toml --set 'additional_parameters=--max_train_steps "77"' 2>&1 |
  grep -q 'train_network.py --config_file [^ ]* --max_train_steps 77$' ||
  { echo "FAIL: --print-command does not append additional_parameters"; fail=1; }
"$LORATTY" --check share/demo/demo.toml --set 'additional_parameters=max_train_steps 77' 2>&1 |
  grep -q 'additional_parameters: "max_train_steps" is not an --option' ||
  { echo "FAIL: a bare word in additional_parameters is not refused"; fail=1; }
"$LORATTY" --help | grep -q -- '--check PRESET' || { echo "FAIL: --help"; fail=1; }
"$LORATTY" --version | grep -q '^loratty [0-9]' || { echo "FAIL: --version"; fail=1; }
exit $fail
