#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ the service and its tests use are up.
# On a machine that has them (installed from Debian's packages) start whichever is down;
# on one that does not, install them first. Idempotent: does nothing when both answer.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
AMQP_HOST=${AMQP_HOST:-127.0.0.1}
AMQP_PORT=${AMQP_PORT:-5672}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { timeout 1 bash -c "</dev/tcp/$1/$2" 2>/dev/null; }
wait_for() {  # wait_for NAME HOST PORT SECONDS
  local deadline=$((SECONDS + $4))
  until port_open "$2" "$3"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "ensure-services: $1 did not come up on $2:$3" >&2; exit 1; fi
    sleep 0.5
  done
}
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  if ! compgen -G "/etc/postgresql/*/main" >/dev/null; then
    echo "ensure-services: installing PostgreSQL from Debian's packages"
    apt_install postgresql
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    # Local development trusts loopback connections, as this project's defaults expect.
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' \
      "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure-services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 60
fi

if ! port_open "$AMQP_HOST" "$AMQP_PORT"; then
  if ! command -v rabbitmq-server >/dev/null; then
    echo "ensure-services: installing RabbitMQ from Debian's packages"
    apt_install rabbitmq-server
  fi
  echo "ensure-services: starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  wait_for RabbitMQ "$AMQP_HOST" "$AMQP_PORT" 120
fi
