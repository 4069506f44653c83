#!/usr/bin/env bash
# Syncs one directory of 10,000 entity documents between two peers, by
# Communecter's catch-up sync and by automerge-repo, and prints the figures
# side by side (docs/BENCHMARKS.md, "Catch-up sync vs automerge-repo").
#
# Run by hand, never in CI: it installs npm packages, builds in release
# mode and takes most of an hour on 2 cores.
#
#   simulations/compare/run.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$here/automerge-repo" && npm install --no-audit --no-fund --loglevel=error)
(cd "$root" && cargo build --release -p simulations --bin compare-sync)
compare() { (cd "$root" && cargo run --release --quiet -p simulations --bin compare-sync -- "$@"); }
repo() { (cd "$here/automerge-repo" && node sync.mjs "$@"); }
# Automerge's WebAssembly memory grows with every document loaded, and past
# a few thousand documents Node's default garbage collector runs far more
# often; its single-threaded collector suffers less on 2 cores (repo B
# runs with the same flags).
repo_single_gc() { (cd "$here/automerge-repo" && node --single-threaded-gc sync.mjs "$@"); }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rustc $(rustc --version | cut -d' ' -f2), node $(node --version)"
compare export "$work/data"

outputs=()
run() {
  local name=$1
  shift
  echo
  echo "== $name: $*"
  if "$@" | tee "$work/$name.out"; then
    outputs+=("$work/$name.out")
  else
    echo "$name failed"
  fi
}
run ours-sync-now compare ours "$work/data" --diff sync-now
run ours-gossip compare ours "$work/data" --diff gossip
run ours-reconnect compare ours "$work/data" --diff reconnect
run ours-tcp compare ours "$work/data" --diff sync-now --transport tcp
if [ -d /dev/shm ]; then
  run ours-shm compare ours "$work/data" --diff sync-now --home /dev/shm
fi
run repo-live repo "$work/data" --diff live
run repo-reconnect repo "$work/data" --diff reconnect
run repo-disk repo "$work/data" --diff live --storage disk
run repo-single-gc repo_single_gc "$work/data" --diff live

echo
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg)"
node "$here/summary.mjs" "${outputs[@]}"
