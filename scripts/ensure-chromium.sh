#!/usr/bin/env bash
# Make sure Debian's Chromium, which the browser tests drive through the pip `playwright`
# package, is installed. Playwright's own browser downloads cannot be fetched on these
# machines (`playwright install` fails), so the browser always comes from Debian's packages.
# Idempotent: does nothing when /usr/bin/chromium is there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium  # where the browser tests launch it

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "ensure-chromium: installing chromium from Debian's packages"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
if ! [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: chromium installed but $CHROMIUM is missing" >&2
  exit 1
fi
echo "ensure-chromium: $("$CHROMIUM" --version)"
