#!/bin/sh
# man_lint.sh — every manual page (hand-written in the source tree, generated in the build
# tree) passes `mandoc -T lint -W warning` with no output, and loratty.toml(5) documents
# exactly the parameters of the table: its `.It Cm NAME` entries equal `make_man5 --list-names`.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
if ! command -v mandoc >/dev/null 2>&1; then
  echo "SKIP: mandoc is not installed"
  exit 77
fi
fail=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

page="$top_builddir/man/loratty.toml.5"
gen="$top_builddir/man/make_man5"
if [ ! -f "$page" ] || [ ! -x "$gen" ]; then
  echo "FAIL: $page or $gen was not built"
  exit 1
fi

for m in "$top_srcdir"/man/*.[1-9] "$top_builddir"/man/*.[1-9]; do
  [ -f "$m" ] || continue
  if ! mandoc -T lint -W warning "$m" >"$dir/lint" 2>&1 || [ -s "$dir/lint" ]; then
    echo "FAIL: mandoc lint $m:"; cat "$dir/lint"; fail=1
  else
    echo "ok: $m lints clean"
  fi
done

"$gen" --list-names | sort >"$dir/table"
sed -n 's/^\.It Cm \([^ ]*\) Ar .*/\1/p' "$page" | sort >"$dir/page"
if [ ! -s "$dir/table" ]; then
  echo "FAIL: make_man5 --list-names printed nothing"; fail=1
elif ! cmp -s "$dir/table" "$dir/page"; then
  echo "FAIL: loratty.toml.5 and the parameter table differ (< table, > page):"
  diff "$dir/table" "$dir/page" | head -20; fail=1
else
  echo "ok: loratty.toml.5 lists the $(wc -l <"$dir/table") parameters of the table"
fi
exit $fail
