# tui_lib.sh — shared helpers for the tmux-driven TUI tests (sourced, not run).
# Each test gets its own tmux server socket and temp dir, removed on exit.

command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipping"; exit 77; }
: "${top_builddir:=.}"
# the real program, as a user starts it (LORATTY is set by make check)
TUI_PROG=${TUI_PROG:-${LORATTY:-$top_builddir/loratty}}
[ -x "$TUI_PROG" ] || { echo "no $TUI_PROG: build it with make check"; exit 99; }

# A new server socket for every start: reusing one right after kill-server races its exit.
TUI_SOCK_BASE=loratty-test-$$-$(basename "$0" .sh)
TUI_RUNS=0
TUI_SOCK=$TUI_SOCK_BASE-0
TUI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/loratty-tui.XXXXXX")
tui_cleanup() {
    i=0
    while [ "$i" -le "$TUI_RUNS" ]; do
        tmux -L "$TUI_SOCK_BASE-$i" kill-server >/dev/null 2>&1
        i=$((i + 1))
    done
    rm -rf "$TUI_TMP"
}
trap tui_cleanup EXIT INT TERM

# tui_start COLS ROWS ARGS... — runs the TUI in a detached session "t".
tui_start() {
    cols=$1 rows=$2
    shift 2
    tmux -L "$TUI_SOCK" kill-server >/dev/null 2>&1
    TUI_RUNS=$((TUI_RUNS + 1))
    TUI_SOCK=$TUI_SOCK_BASE-$TUI_RUNS
    tmux -L "$TUI_SOCK" -f /dev/null new-session -d -s t -x "$cols" -y "$rows" \
        "cd '$TUI_TMP' && env TERM=screen-256color LANG=C.UTF-8 NO_COLOR= XDG_CONFIG_HOME='$TUI_TMP/xdg' '$TUI_PROG' $*; echo \"EXITED=\$?\"; sleep 600"
}

tui_screen() { tmux -L "$TUI_SOCK" capture-pane -p -t t; }
tui_keys() { tmux -L "$TUI_SOCK" send-keys -t t "$@"; }
tui_type() { tmux -L "$TUI_SOCK" send-keys -t t -l "$1"; }

# tui_wait REGEX [SECONDS] — polls the screen until an extended regex matches.
tui_wait() {
    deadline=$(( $(date +%s) + ${2:-10} ))
    while :; do
        if tui_screen | grep -Eq -- "$1"; then return 0; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "FAIL: timed out waiting for /$1/; the screen was:"
            tui_screen
            exit 1
        fi
        sleep 0.1
    done
}

# tui_wait_gone REGEX [SECONDS] — polls until the regex no longer matches.
tui_wait_gone() {
    deadline=$(( $(date +%s) + ${2:-10} ))
    while tui_screen | grep -Eq -- "$1"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "FAIL: /$1/ still on screen:"
            tui_screen
            exit 1
        fi
        sleep 0.1
    done
}

# tui_find NAME — jumps to a parameter with '/'.
tui_find() {
    tui_keys /
    tui_wait 'Find a parameter'
    tui_type "$1"
    tui_keys Enter
    tui_wait_gone 'Find a parameter'
}

# tui_set NAME VALUE — finds a field, opens its entry, replaces the text, accepts.
tui_set() {
    tui_find "$1"
    tui_keys Enter
    tui_wait "$1  \\["
    tui_keys C-u
    tui_type "$2"
    tui_keys Enter
    tui_wait_gone "$1  \\["
}

# tui_preset FILE — a starting preset: the shipped SD 1.5 one when there is one.
tui_preset() {
    shipped=${top_srcdir:-.}/share/presets/sd15-lora.toml
    if [ -f "$shipped" ]; then
        cp "$shipped" "$1"
    else
        printf '[basic]\nnetwork_dim = 16\nlearning_rate = 0.0002\n' > "$1"
    fi
}

fail() { echo "FAIL: $*"; tui_screen; exit 1; }
