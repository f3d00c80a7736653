#!/usr/bin/env bash
# Installs everything and starts a local cluster: a name node and three data nodes on loopback, their
# data under ./data, and the FUSE mount at ./mnt. Stop it with: bash scripts/down.sh
# Overrides: DFS_DATA (data folder), DFS_MOUNT (mount point), DFS_PORT (name node port, data nodes
# take the next three).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
data=$(realpath -m "${DFS_DATA:-data}"); mnt=$(realpath -m "${DFS_MOUNT:-mnt}"); port=${DFS_PORT:-8180}
py=.venv/bin/python
# a mount whose daemon died answers "Transport endpoint is not connected": drop it, mount afresh below
if ! stat "$mnt" >/dev/null 2>&1 && grep -qs " $mnt fuse" /proc/mounts; then
  fusermount3 -u -z "$mnt" 2>/dev/null || fusermount -u -z "$mnt"
fi
mkdir -p "$data/logs" "$mnt"
# Secure by default: a cluster secret and the administrator's token, made once, readable by root only.
# Set DFS_INSECURE=1 for the development mode where user.name is believed.
secret_env=()
if [ "${DFS_INSECURE:-}" != 1 ]; then
  (umask 077
   [ -s "$data/secret" ] || "$py" -c 'import secrets; print(secrets.token_hex(32))' >"$data/secret"
   [ -s "$data/admin-token" ] || "$py" -c 'import secrets; print("admin-" + secrets.token_hex(32))' >"$data/admin-token")
  chmod 600 "$data/secret" "$data/admin-token"
  secret_env=(DFS_SECRET="$(cat "$data/secret")")
  export DFS_TOKEN; DFS_TOKEN=$(cat "$data/admin-token")
fi
auth=(-H "Authorization: Bearer ${DFS_TOKEN:-none}")

start() {  # start NAME ENV... : one node in the background, its pid in data/NAME.pid
  local name=$1; shift
  if [ -f "$data/$name.pid" ] && kill -0 "$(cat "$data/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$data/$name.pid"))"; return
  fi
  env "$@" setsid "$py" server.py >>"$data/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$data/$name.pid"
}
wait_http() {  # wait_http URL : until the node answers, or fail with its log
  for _ in $(seq 300); do curl -fsS "$1/ping_alive" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "error: $1 did not start; see $data/logs/" >&2; exit 1
}

start name "${secret_env[@]}" ${DFS_TOKEN:+DFS_ADMIN_TOKEN="$DFS_TOKEN"} \
  DFS_NODE_CLASS=name_node.NameNode DFS_HOST=127.0.0.1 DFS_PORT="$port" DFS_DB_PATH="$data/name"
wait_http "http://127.0.0.1:$port"
for i in 1 2 3; do
  p=$((port + i))
  start "data$i" "${secret_env[@]}" DFS_NODE_CLASS=data_node.DataNode DFS_HOST=127.0.0.1 DFS_PORT="$p" \
    DFS_FS_ROOT="$data/data$i" DFS_ADVERTISE_HOST=127.0.0.1 DFS_NAMENODE_URL="http://127.0.0.1:$port"
  wait_http "http://127.0.0.1:$p"
done
for _ in $(seq 100); do
  alive=$(curl -fsS "${auth[@]}" "http://127.0.0.1:$port/status" | "$py" -c 'import json,sys; print(sum(d["state"]=="alive" for d in json.load(sys.stdin)["datanodes"]))')
  [ "$alive" -ge 3 ] && break; sleep 0.1
done
mountpoint -q "$mnt" || "$py" dfs.py "$mnt" 127.0.0.1 "$port"
echo "DFS is up: name node http://127.0.0.1:$port, 3 data nodes, mounted at $mnt"
if [ -n "${DFS_TOKEN:-}" ]; then
  echo "secure: secret and admin token in $data/secret and $data/admin-token (mode 0600)"
  echo "try: ls -l $mnt; curl -H \"Authorization: Bearer \$(cat $data/admin-token)\" 'http://127.0.0.1:$port/webhdfs/v1/?op=LISTSTATUS'"
else
  echo "INSECURE development mode (DFS_INSECURE=1): any client may claim any user"
  echo "try: ls -l $mnt; curl -L 'http://127.0.0.1:$port/webhdfs/v1/?op=LISTSTATUS'"
fi
