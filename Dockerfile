# DFS node image: one image for the name node, the data nodes and (run as root) the FUSE client.
#   docker build -t dfs .
#   docker run -d -p 8180:8180 -v dfs-name:/data dfs                                  # name node
#   docker run -d -p 8181:8181 -v dfs-blocks:/data -e DFS_NODE_CLASS=data_node.DataNode \
#       -e DFS_NAMENODE_URL=http://NAME_HOST:8180 -e DFS_PUBLIC_URL=http://THIS_HOST:8181 dfs  # data node
# Everything else is the DFS_* variables of dfs_common/settings.py. Builds with or without BuildKit
# (docker-compose v1 uses the classic builder).

# --- stage 1: the project and its pinned dependencies installed into a virtual environment --------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/dfs
WORKDIR /src
COPY . .
RUN /opt/dfs/bin/pip install . \
 && cd / && /opt/dfs/bin/python -c "import server, dfs_common, dfs_client, name_node, data_node"

# --- stage 2: runtime: python, libfuse, the environment; no build tools, no source tree ------------
FROM python:3.11-slim
ENV PATH=/opt/dfs/bin:$PATH \
    PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse3 libfuse3-3 libfuse2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/dfs /opt/dfs
COPY docker/entrypoint.sh /usr/local/bin/dfs-entrypoint
# uid/gid 10001: fixed, so named volumes and Kubernetes' runAsUser/fsGroup agree on every host.
# /data is created owned by dfs before VOLUME, so a fresh named volume starts out writable by it.
RUN chmod 0755 /usr/local/bin/dfs-entrypoint \
 && groupadd --system --gid 10001 dfs \
 && useradd --system --uid 10001 --gid dfs --home-dir /data --no-create-home --shell /usr/sbin/nologin dfs \
 && mkdir -p /data/name /data/blocks \
 && chown -R dfs:dfs /data \
 && python -c "import dfs, dfs_fuse"

# The seed's variables with container defaults. DFS_PORT stays unset on purpose: each kind then
# listens on its own default (8180 name, 8181 data). DFS_ADVERTISE_HOST, when unset, is filled in
# from the container's hostname by the entry point. DFS_PUBLIC_URL depends on where the container
# runs, so the deployment sets it (docker-compose.yml builds it from DATA_HOST).
ENV DFS_NODE_CLASS=name_node.NameNode \
    DFS_HOST=0.0.0.0 \
    DFS_DB_PATH=/data/name \
    DFS_FS_ROOT=/data/blocks \
    DFS_NAMENODE_URL=http://name:8180 \
    DFS_HEARTBEAT=3

# Not /data: the working directory is on the import path, and the volume is writable.
WORKDIR /opt/dfs
VOLUME /data
EXPOSE 8180 8181
USER dfs

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; port = os.environ.get('DFS_PORT') or ('8181' if os.environ.get('DFS_NODE_CLASS', '').startswith('data_node') else '8180'); urllib.request.urlopen('http://127.0.0.1:%s/ping_alive' % port, timeout=4)"

ENTRYPOINT ["/usr/local/bin/dfs-entrypoint"]
# Default: the node DFS_NODE_CLASS names. The FUSE client instead needs root and /dev/fuse:
#   docker run --rm -it --user root --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor=unconfined \
#       dfs python -m dfs --foreground /mnt HOST 8180
CMD ["python", "-m", "server"]
