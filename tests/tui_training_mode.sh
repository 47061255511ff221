#!/bin/sh
# tui_training_mode.sh — the form follows training_mode as kohya_ss's tabs do: choosing
# finetune in the TUI (tmux, 100x30) hides the network's fields (network_dim, lora_type ...)
# and shows train_text_encoder; the saved preset's sd-scripts command is train_db.py with no
# network keys; back on lora the network fields return with their values kept.
. "${top_srcdir:-.}/tests/tui_lib.sh"

tui_preset "$TUI_TMP/p.toml"
tui_start 100 30 p.toml
tui_wait 'loratty  p\.toml'
tui_wait 'F10/q Quit'
tui_set network_dim 24
tui_wait 'network_dim += 24'
tui_wait '^  network_dim +\* +24'

# training_mode is a choice list: lora, finetune, vae
tui_find training_mode
tui_keys Enter
tui_wait 'training_mode  \[choice\]'
tui_keys Down Enter
tui_wait_gone 'training_mode  \[choice\]'
tui_wait '^  training_mode +\* +finetune'
tui_wait '^  train_text_encoder '
tui_wait_gone '^  network_dim '
tui_wait_gone '^  lora_type '

# the saved fine-tuning preset exports for train_db.py, without the network's keys
tui_keys s
tui_wait 'Saved p\.toml'
"$TUI_PROG" --print-command "$TUI_TMP/p.toml" > "$TUI_TMP/cmd" 2>&1 || { cat "$TUI_TMP/cmd"; fail "--print-command"; }
grep -q 'sd-scripts/train_db\.py' "$TUI_TMP/cmd" || { cat "$TUI_TMP/cmd"; fail "the finetune preset does not run train_db.py"; }
grep -q '^network_\|^unet_lr' "$TUI_TMP/cmd" && { cat "$TUI_TMP/cmd"; fail "network keys in a finetune export"; }

# back to lora: the network fields and their values return
tui_find training_mode
tui_keys Enter
tui_wait 'training_mode  \[choice\]'
tui_keys Up Enter
tui_wait_gone 'training_mode  \[choice\]'
tui_wait_gone '^  train_text_encoder '
tui_find network_dim
tui_wait '^  network_dim +\* +24'
echo "PASS"
