#!/bin/sh
# cli_errors.sh — bad input gives exit 2 and one clear line naming file, line and key:
# malformed TOML, wrong type, out of range, unknown key (with a suggestion), unreadable file,
# a value in the wrong table, a bad --set, a folder without <repeats>_<tokens> subfolders.
set -u
: "${LORATTY:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

# expect STATUS PATTERN -- ARGS: runs loratty, checks the exit status and that stderr matches
expect() {
  want=$1; pattern=$2; shift 3
  "$LORATTY" "$@" >"$dir/out" 2>"$dir/err"
  got=$?
  if [ "$got" -ne "$want" ] || ! grep -q -E -- "$pattern" "$dir/err"; then
    echo "FAIL: loratty $* → exit $got (want $want), stderr:"; cat "$dir/err"
    echo "      expected to match: $pattern"
    fail=1
  else
    echo "ok: loratty $* → $(head -n 1 "$dir/err")"
  fi
}

printf '[basic]\nlearning_rate = "abc"\n' >"$dir/type.toml"
expect 2 "^loratty: $dir/type.toml:2: basic.learning_rate: \"abc\" is not a number$" -- --check "$dir/type.toml"

printf '[basic]\n\nnetwork_dim = 0\n' >"$dir/range.toml"
expect 2 "^loratty: $dir/range.toml:3: basic.network_dim: 0 is out of range" -- --check "$dir/range.toml"

printf '[basic]\nlearnig_rate = 1e-4\n' >"$dir/unknown.toml"
expect 2 "^loratty: $dir/unknown.toml:2: basic.learnig_rate: unknown parameter \(did you mean learning_rate\?\)$" -- --check "$dir/unknown.toml"

printf '[basic]\nlearning_rate = 1e-4\nnetwork_dim = \n' >"$dir/malformed.toml"
expect 2 "^loratty: $dir/malformed.toml:3" -- --check "$dir/malformed.toml"

printf '[model]\nlearning_rate = 1e-4\n' >"$dir/table.toml"
expect 2 "^loratty: $dir/table.toml:2: model.learning_rate: this parameter belongs in \[basic\]$" -- --check "$dir/table.toml"

printf '[basic]\noptimizer_type = "AdamW"\n' >"$dir/ok.toml"
chmod 000 "$dir/ok.toml"
if [ "$(id -u)" -ne 0 ]; then
  expect 2 "^loratty: $dir/ok.toml: cannot (open|read)" -- --check "$dir/ok.toml"
fi
chmod 644 "$dir/ok.toml"
expect 2 "^loratty: $dir/missing.toml: cannot (open|read)" -- --check "$dir/missing.toml"

expect 2 "^loratty: --set: basic.learning_rate: \"fast\" is not a number$" -- --check "$dir/ok.toml" --set learning_rate=fast
expect 2 "^loratty: --set: network_dimm: unknown parameter \(did you mean network_dim\?\)$" -- --check "$dir/ok.toml" --set network_dimm=8

mkdir -p "$dir/flat"
printf 'x' >"$dir/flat/a.png"
printf '[model]\ntrain_data_dir = "%s"\n' "$dir/flat" >"$dir/flat.toml"
expect 2 "train_data_dir: no images found in \"$dir/flat\".*<repeats>_<tokens>" -- --check "$dir/flat.toml"

printf '[model]\nsdxl = true\nv2 = true\n' >"$dir/sdxlv2.toml"
expect 2 "^loratty: $dir/sdxlv2.toml:3: model.v2: v2 and sdxl cannot both be set" -- --check "$dir/sdxlv2.toml"

expect 2 "give one of" -- --check "$dir/ok.toml" --run "$dir/ok.toml"
exit $fail
