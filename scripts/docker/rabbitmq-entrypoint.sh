#!/bin/sh
# Write the default user (RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS, as the official image
# reads them) into the broker's config as Erlang binaries, then run as the rabbitmq user.
set -eu
if [ "$(id -u)" = 0 ]; then
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq "$0" "$@"
fi
erlang_binary() { printf '<<"%s"/utf8>>' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
user=$(erlang_binary "${RABBITMQ_DEFAULT_USER:-guest}")
pass=$(erlang_binary "${RABBITMQ_DEFAULT_PASS:-guest}")
umask 077
printf '[{rabbit, [{default_user, %s}, {default_pass, %s}]}].\n' "$user" "$pass" \
  > "$RABBITMQ_ADVANCED_CONFIG_FILE"
exec "$@"
