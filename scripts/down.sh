#!/usr/bin/env bash
# Unmounts and stops the local cluster scripts/up.sh started; the data stays in ./data.
set -uo pipefail
cd "$(dirname "$0")/.."
data=$(realpath -m "${DFS_DATA:-data}"); mnt=$(realpath -m "${DFS_MOUNT:-mnt}")
mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt"; }
for f in "$data"/*.pid; do
  [ -f "$f" ] || continue
  kill "$(cat "$f")" 2>/dev/null; rm -f "$f"
done
echo "DFS stopped; data kept in $data"
