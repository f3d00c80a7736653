#!/bin/sh
# Entry point of the DFS image. Other nodes reach this one at DFS_ADVERTISE_HOST; when the deployment
# leaves it unset it becomes the container's hostname, which Docker (compose networks and swarm
# overlays alike) registers in its DNS as an alias of the container. Then runs the command: by
# default the node DFS_NODE_CLASS names (python -m server), or whatever was given instead.
set -eu

if [ -z "${DFS_ADVERTISE_HOST:-}" ]; then
    DFS_ADVERTISE_HOST=$(cat /proc/sys/kernel/hostname 2>/dev/null || true)
    [ -n "$DFS_ADVERTISE_HOST" ] || DFS_ADVERTISE_HOST=${HOSTNAME:-}
fi
if [ -n "$DFS_ADVERTISE_HOST" ]; then
    export DFS_ADVERTISE_HOST
else
    unset DFS_ADVERTISE_HOST  # the server then asks the system for its name itself
fi

# Docker and Kubernetes secrets arrive as files: DFS_SECRET_FILE=/run/secrets/dfs_secret sets
# DFS_SECRET from that file (and likewise DFS_ADMIN_TOKEN_FILE), so the value is in no stack file.
for name in DFS_SECRET DFS_ADMIN_TOKEN; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        [ -r "$file" ] || { echo "entrypoint: ${name}_FILE=$file is not readable" >&2; exit 2; }
        value=$(cat "$file")
        export "$name=$value"
        unset "${name}_FILE"
    fi
done

if [ "$#" -eq 0 ]; then
    set -- python -m server
fi
exec "$@"
