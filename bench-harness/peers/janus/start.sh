#!/usr/bin/env bash
# Writes a scratch Janus configuration and runs Janus in the foreground (exec: the PID of this
# script IS Janus's PID, printed first, for the harness's CPU accounting from /proc/<pid>).
#
# The configuration (why each setting):
# - only the HTTP transport, bound to 127.0.0.1:<--http>; no admin API, no other transports,
#   event handlers or loggers: the control plane stays on loopback and nothing else listens;
# - only the videoroom plugin (the SFU the comparison uses), no static rooms (the harness creates
#   its own with "create");
# - no STUN, no TURN, IPv4 only; ICE gathers only on the veth of netns.sh (`ice_enforce_list`),
#   since Janus never offers a loopback candidate: its one host candidate is 10.77.77.1, and
#   `interface` puts the same address in its SDP's c= line (else it names the first NIC's);
# - ICE-lite by default (--full-ice to turn off): Sluice and mediasoup are ICE-lite servers, so
#   one client (controlling, sending binding requests) drives all three the same way;
# - RTP ports from --rtp-ports; debug level 3 (warnings) so logging does not cost CPU in a
#   benchmark (--debug-level 4 for Janus's usual verbosity).
#
#   start.sh [--http PORT] [--rtp-ports LO-HI] [--dir DIR] [--debug-level N] [--full-ice]
#            [--event-loops N] [--session-timeout S] [--print-config]
# --event-loops N: Janus's static event loops instead of one thread per handle (default: Janus's
# default, a thread per handle). JANUS_LIBNICE_DEBUG=1 in the environment adds libnice's own
# debug log (ICE checks as they arrive). --session-timeout S: seconds without a request before Janus drops
# a session (default 60; sluice-bench passes 0, never: its build session is idle during a run's
# window, and a benchmark must not lose its PeerConnections to the clock). --print-config: write the config, print its folder, exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
http_port=8088
rtp_ports="20000-20999"
dir="$here/run"
debug_level=3
ice_lite=true
event_loops=""
session_timeout=60
print_only=false
dev="${JANUS_VETH:-sluicej0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --http) http_port="$2"; shift 2 ;;
    --rtp-ports) rtp_ports="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --debug-level) debug_level="$2"; shift 2 ;;
    --full-ice) ice_lite=false; shift ;;
    --event-loops) event_loops="$2"; shift 2 ;;
    --session-timeout) session_timeout="$2"; shift 2 ;;
    --print-config) print_only=true; shift ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$http_port" in ''|*[!0-9]*) echo "start.sh: --http takes a port" >&2; exit 2 ;; esac
case "$session_timeout" in ''|*[!0-9]*) echo "start.sh: --session-timeout takes seconds" >&2; exit 2 ;; esac
[[ "$rtp_ports" =~ ^[0-9]+-[0-9]+$ ]] || { echo "start.sh: --rtp-ports takes LO-HI" >&2; exit 2; }
command -v janus >/dev/null || { echo "start.sh: janus is not installed; run setup.sh" >&2; exit 1; }
media_ip="$(ip -4 -o addr show dev "$dev" 2>/dev/null | awk '{print $4}' | cut -d/ -f1)"
[ -n "$media_ip" ] || { echo "start.sh: no address on $dev; run netns.sh up (or setup.sh)" >&2; exit 1; }

libdir="$(dirname "$(dpkg -L janus 2>/dev/null | grep '/janus/plugins/libjanus_videoroom.so$' | head -1)")"
libdir="${libdir%/plugins}"
[ -f "$libdir/plugins/libjanus_videoroom.so" ] || libdir=/usr/lib/x86_64-linux-gnu/janus

# A scratch copy of /etc/janus (the system copy stays untouched), then our three files on top,
# and plugin/transport folders holding only the two modules used (Janus loads every .so it finds).
mkdir -p "$dir"
rm -rf "$dir/etc" "$dir/plugins" "$dir/transports" "$dir/empty"
cp -r /etc/janus "$dir/etc"
mkdir -p "$dir/plugins" "$dir/transports" "$dir/empty"
ln -s "$libdir/plugins/libjanus_videoroom.so" "$dir/plugins/"
ln -s "$libdir/transports/libjanus_http.so" "$dir/transports/"

cat > "$dir/etc/janus.jcfg" <<CFG
general: {
	configs_folder = "$dir/etc"
	plugins_folder = "$dir/plugins"
	transports_folder = "$dir/transports"
	events_folder = "$dir/empty"
	loggers_folder = "$dir/empty"
	debug_level = $debug_level
	server_name = "sluice-bench-janus"
	interface = "$media_ip"
	session_timeout = $session_timeout
	${event_loops:+event_loops = $event_loops}
}
certificates: {
}
media: {
	ipv6 = false
	rtp_port_range = "$rtp_ports"
}
nat: {
	ice_lite = $ice_lite
	ice_tcp = false
	full_trickle = false
	ice_enforce_list = "$dev"
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
CFG
cat > "$dir/etc/janus.transport.http.jcfg" <<CFG
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $http_port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
cors: {
}
CFG
cat > "$dir/etc/janus.plugin.videoroom.jcfg" <<CFG
general: {
	# Rooms are created over the API by the harness; no admin_key, so "create" needs none.
}
CFG

if $print_only; then echo "$dir/etc"; exit 0; fi
echo "{\"event\":\"starting\",\"sfu\":\"janus\",\"pid\":$$,\"http\":\"127.0.0.1:$http_port\",\"mediaIp\":\"$media_ip\",\"config\":\"$dir/etc\"}"
exec janus -C "$dir/etc/janus.jcfg" -F "$dir/etc" -o ${JANUS_LIBNICE_DEBUG:+--libnice-debug}
