#!/usr/bin/env bash
# No function outside tests/ longer than MAX lines (120): a long function is
# one that should be split where its steps are. Counts from the line that
# starts the signature to the closing brace in column 0; fails naming the
# functions over the limit, and always lists the five longest.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
max=${2:-120}
find "$root/core" "$root/daemon" "$root/tools" "$root/bench" -name '*.c' -print0 | sort -z |
  xargs -0 awk -v root="$root/" '
    FNR == 1 { state = 0 }
    state == 0 && /^[A-Za-z_][^;=]*\(/ && !/^(typedef|struct|enum|static const|#)/ {
      if ($0 ~ /\}[ \t]*$/) next                       # a function on one line
      if ($0 ~ /\{[ \t]*$/) { start = FNR; state = 2; name = $0 }
      else { start = FNR; state = 1; name = $0; seek = 0 }
      next
    }
    state == 1 {
      if ($0 ~ /;[ \t]*$/) { state = 0; next }
      if ($0 ~ /\{[ \t]*$/) { state = 2; next }
      if (++seek > 6) state = 0
      next
    }
    state == 2 && /^}/ {
      n = FNR - start + 1
      sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
      f = FILENAME; sub(root, "", f)
      printf "%d %s:%d %s\n", n, f, start, name
      state = 0
    }' | sort -rn > "${TMPDIR:-/tmp}/mgc-function-lengths.$$"
echo "longest functions (lines, file:line, name):"
head -5 "${TMPDIR:-/tmp}/mgc-function-lengths.$$"
over=$(awk -v max="$max" '$1 > max' "${TMPDIR:-/tmp}/mgc-function-lengths.$$")
rm -f "${TMPDIR:-/tmp}/mgc-function-lengths.$$"
if [ -n "$over" ]; then
  echo "over $max lines:"
  echo "$over"
  exit 1
fi
