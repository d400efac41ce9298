#!/usr/bin/env bash
# A private address for Janus that stays on this machine: a veth pair whose root-side end carries
# $JANUS_IP (default 10.77.77.1/30) and whose other end (10.77.77.2) sits in the network namespace
# $JANUS_NETNS (default sluice-peer).
#
# Why: Janus never gathers a loopback ICE candidate (it skips `lo`), so on a machine whose only
# other interface leads off the machine it would announce that one. Janus is started with
# `ice_enforce_list` = this veth, so its only candidate is 10.77.77.1, an address of this machine:
# packets between the harness (root namespace) and Janus go through the kernel's local routing
# table, never out of a NIC. The namespace end is there because a veth has carrier only while its
# peer is up; it also serves any test that needs a second host (`ip netns exec sluice-peer ...`).
# Needs root (CAP_NET_ADMIN).
#
#   netns.sh up      create (idempotent)    netns.sh down    remove    netns.sh status
set -euo pipefail
ns="${JANUS_NETNS:-sluice-peer}"
dev="${JANUS_VETH:-sluicej0}"
peer="${dev%0}1"
ip4="${JANUS_IP:-10.77.77.1}"
peer_ip4="${JANUS_PEER_IP:-10.77.77.2}"
prefix=30

up() {
  if ! ip netns list | grep -qw "$ns"; then ip netns add "$ns"; fi
  if ! ip link show "$dev" >/dev/null 2>&1; then
    # Refuse to shadow addresses this machine already uses.
    if ip -4 addr | grep -q "inet ${ip4%.*}\."; then
      echo "netns: ${ip4%.*}.0/$prefix is already in use here; set JANUS_IP/JANUS_PEER_IP" >&2
      exit 1
    fi
    ip link add "$dev" type veth peer name "$peer"
    ip link set "$peer" netns "$ns"
  fi
  ip addr replace "$ip4/$prefix" dev "$dev"
  ip link set "$dev" up
  ip netns exec "$ns" ip addr replace "$peer_ip4/$prefix" dev "$peer"
  ip netns exec "$ns" ip link set "$peer" up
  ip netns exec "$ns" ip link set lo up
  # No IPv6 on the pair: Janus would otherwise see link-local addresses on it.
  sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
  status
}

down() {
  ip link del "$dev" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  echo "netns: removed $dev and namespace $ns"
}

status() {
  if ip link show "$dev" >/dev/null 2>&1; then
    echo "netns: $dev $(ip -4 -o addr show dev "$dev" | awk '{print $4}') <-> $ns:$peer $peer_ip4/$prefix"
  else
    echo "netns: $dev is not set up"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
