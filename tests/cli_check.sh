#!/bin/sh
# cli_check.sh — `loratty --check` on the demo preset and the shipped presets prints the plan
# a user expects (folder, images, repeats, steps); --print-command per training_mode; --help
# and --version work.
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
"$LORATTY" --help | grep -q -- '--check PRESET' || { echo "FAIL: --help"; fail=1; }
"$LORATTY" --version | grep -q '^loratty [0-9]' || { echo "FAIL: --version"; fail=1; }
exit $fail
