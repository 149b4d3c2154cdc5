#!/usr/bin/env bash
# The core's modules (its folders, whose public headers are
# core/include/mgc/<module>/) depend on each other without a cycle, and the
# runtime (stream, model, ensemble and the daemon) on nothing of train: a
# module depends on another when one of its files includes a header of it.
# Fails naming the cycle or the forbidden include.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
bad=0
for dir in "$root"/core/*/ "$root"/daemon/; do
  m=$(basename "$dir")
  [ "$m" = include ] && continue
  for f in "$dir"*.c "$dir"*.h "$root/core/include/mgc/$m/"*.h; do
    [ -f "$f" ] || continue
    while read -r dep; do
      [ "$dep" = "$m" ] && continue
      echo "$m $dep" >> "$edges"
      case "$m:$dep" in
        stream:train | model:train | ensemble:train | daemon:train)
          echo "forbidden: ${f#"$root"/} ($m) includes a header of core/$dep"
          bad=1 ;;
      esac
    done < <(sed -n 's|^#include "mgc/\([a-z_0-9]*\)/.*|\1|p' "$f")
  done
done
if ! order=$(sort -u "$edges" | tsort 2>&1); then
  echo "a cycle between modules:"
  echo "$order" | grep -v '^tsort: -: input contains a loop:' | sed 's/^tsort: /  /'
  bad=1
fi
[ "$bad" = 0 ] || exit 1
echo "modules, each after those it uses: $(sort -u "$edges" | tsort | tac | tr '\n' ' ')"
