#!/usr/bin/env bash
# Inference never depends on training code: no source on the live or offline
# inference path (core/model, core/stream, the ensemble's runtime, the daemon,
# mgc-classify) includes, directly or through other headers, a header of
# core/train/ (mgc/train/*.h: the public headers mirror the source folders).
# Fails naming the include chain.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
inc=$root/core/include
n_train=$(ls "$inc"/mgc/train/*.h | wc -l)

declare -A seen
bad=0
walk() { # file, chain
  local f=$1 chain=$2 h
  while read -r h; do
    local chain2="$chain -> $h"
    case $h in mgc/train/*) echo "training header reached: $chain2"; bad=1 ;; esac
    [ -n "${seen[$h]:-}" ] && continue
    seen[$h]=1
    [ -f "$inc/$h" ] && walk "$inc/$h" "$chain2"
  done < <(sed -n 's|^#include "\(mgc/[a-z_0-9/]*\.h\)".*|\1|p' "$f")
}
n=0
for f in "$root"/core/model/*.c "$root"/core/stream/*.c "$root"/core/ensemble/classify.c \
         "$root"/core/ensemble/ensemble.c "$root"/core/ensemble/combine.c \
         "$root"/daemon/*.c "$root"/tools/mgc-classify.c; do
  seen=()
  walk "$f" "${f#"$root"/}"
  n=$((n + 1))
done
[ "$bad" = 0 ] || exit 1
echo "inference path: $n sources, no training header ($n_train checked)"
