#!/bin/sh
# tui_quit.sh — q quits at once when nothing changed; with unsaved changes it asks
# (Save / Discard / Cancel): Cancel stays, Save writes the file and quits, Discard quits
# without writing. SIGTERM restores the terminal.
. "${top_srcdir:-.}/tests/tui_lib.sh"

tui_preset "$TUI_TMP/p.toml"
cp "$TUI_TMP/p.toml" "$TUI_TMP/orig.toml"

tui_start 100 30 p.toml
tui_wait 'F10/q Quit'
tui_keys q
tui_wait 'EXITED=0'

# changed, then Cancel: still running; then Discard: quits, file untouched
tui_start 100 30 p.toml
tui_wait 'F10/q Quit'
tui_set network_dim 40
tui_keys q
tui_wait 'unsaved changes'
tui_keys Right Right Enter
tui_wait_gone 'unsaved changes'
tui_screen | grep -q 'EXITED' && fail "Cancel quit anyway"
tui_wait '\[modified\]'
tui_keys F10
tui_wait 'unsaved changes'
tui_keys Right Enter
tui_wait 'EXITED=0'
cmp -s "$TUI_TMP/p.toml" "$TUI_TMP/orig.toml" || fail "Discard changed the file"

# changed, then Save: the file has the value
tui_start 100 30 p.toml
tui_wait 'F10/q Quit'
tui_set network_dim 40
tui_keys q
tui_wait 'unsaved changes'
tui_keys Enter
tui_wait 'EXITED=0'
grep -q '^network_dim = 40$' "$TUI_TMP/p.toml" || fail "Save did not write network_dim = 40"

# SIGTERM (the SSH connection went away): the terminal is restored, the pane's shell
# prints normally again (no alternate screen, echo on)
tui_start 100 30 p.toml
tui_wait 'F10/q Quit'
shell=$(tmux -L "$TUI_SOCK" display -p -t t '#{pane_pid}')
prog=$(ps -o pid= --ppid "$shell" | head -n 1 | tr -d ' ')
[ -n "$prog" ] || fail "cannot find the TUI process"
kill -TERM "$prog"
tui_wait 'EXITED=143'
tui_screen | grep -q 'F10/q Quit' && fail "the form is still on screen after SIGTERM"
echo "PASS"
