#!/usr/bin/env bash
# Installs Janus from Debian (1.1.2 on Debian 12) and brings up the veth pair it announces
# (netns.sh). Idempotent. Needs root. Janus's apt package does not start a service here (no
# systemd); start.sh runs it with a config of our own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v janus >/dev/null; then
  echo "setup: apt-get install janus"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y janus >/dev/null; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y janus >/dev/null
  fi
fi
command -v curl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y curl >/dev/null
echo "setup: $(janus --version 2>/dev/null | head -1 || dpkg-query -W janus)"
"$here/netns.sh" up
