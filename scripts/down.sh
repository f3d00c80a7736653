#!/usr/bin/env bash
# Unmounts and stops the local cluster scripts/up.sh started; the data stays in ./data.
set -uo pipefail
cd "$(dirname "$0")/.."
data=$(realpath -m "${DFS_DATA:-data}"); mnt=$(realpath -m "${DFS_MOUNT:-mnt}")
mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"; }
pids=()
for f in "$data"/*.pid; do
  [ -f "$f" ] || continue
  pids+=("$(cat "$f")"); kill "${pids[-1]}" 2>/dev/null; rm -f "$f"
done
# gunicorn finishes the requests in flight (up to 10 s): wait, so that up.sh can start again at once
for _ in $(seq 150); do
  running=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
  [ "$running" = 0 ] && break; sleep 0.1
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
echo "DFS stopped; data kept in $data"
