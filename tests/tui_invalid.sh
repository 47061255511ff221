#!/bin/sh
# tui_invalid.sh — out-of-range and malformed values are refused with the reason in the status
# line, and the old value stays: network_dim 0 (its range is 1.., unbounded above for
# LyCORIS presets), network_dropout 5 (range 0..1), learning_rate "abc".
. "${top_srcdir:-.}/tests/tui_lib.sh"

tui_preset "$TUI_TMP/p.toml"
tui_start 100 30 p.toml
tui_wait 'F10/q Quit'

tui_set network_dim 24
tui_wait 'network_dim = 24'

tui_set network_dim 0
tui_wait 'Error: network_dim: .*0.*(range|between|least|>=)'
tui_wait 'kept 24'
tui_wait 'network_dim +\*!? +24( |$)'

tui_set network_dropout 0.25
tui_wait 'network_dropout = 0\.25'
tui_set network_dropout 5
tui_wait 'Error: network_dropout: .*5.*(range|between|most|<=)'
tui_wait 'network_dropout +\*!? +0\.25( |$)'

tui_set learning_rate 0.0003
tui_wait 'learning_rate = 0\.0003'
tui_set learning_rate abc
tui_wait 'Error: learning_rate: .*(number|float)'
tui_wait 'learning_rate +\*!? +0\.0003( |$)'

# nothing refused reached the file
tui_keys s
tui_wait 'Saved p\.toml'
grep -q '^network_dim = 24$' "$TUI_TMP/p.toml" || fail "network_dim not 24 in the file"
grep -q '^learning_rate = 0.0003$' "$TUI_TMP/p.toml" || fail "learning_rate not 0.0003 in the file"
grep -q '^network_dropout = 0.25$' "$TUI_TMP/p.toml" || fail "network_dropout not 0.25 in the file"
echo "PASS"
