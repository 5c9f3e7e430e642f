#!/usr/bin/env bash
# Compare `mqtt pub -l` / `mqtt sub -C` with mosquitto_pub / mosquitto_sub in one run:
# N lines at QoS 1 through a local mosquitto on a loopback port, each pair of tools and the
# two crossed pairs (to tell which side is slower). Prints seconds, messages delivered and
# ratios of time per delivered message (ours/mosquitto). A measurement, not a test.
#   usage: scripts/bench-pubsub.sh [N] [QOS]
set -euo pipefail
N=${1:-100000}
QOS=${2:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
BROKER_PID=
cleanup() { [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
go build -o "$TMP/mqtt" "$ROOT/cmd/mqtt"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Mosquitto's default queue (1000 messages) drops QoS 1 messages a subscriber falls behind on,
# which would leave sub -C waiting forever: measure the tools, not that limit.
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$PORT" > "$TMP/m.conf"
[ "$(id -u)" = 0 ] && echo "user root" >> "$TMP/m.conf"
"$MOSQ" -c "$TMP/m.conf" >"$TMP/broker.log" 2>&1 & BROKER_PID=$!
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
seq -f "message %g" 1 "$N" > "$TMP/lines"

now() { date +%s.%N; }
lines() { wc -l < "$1" | tr -d ' '; }
# run PUB SUB: start SUB, wait until it is subscribed, time PUB; then wait for SUB to print N
# lines or to stop growing for 3 s (mosquitto_pub 2.0.11 -l can exit before its queue is
# sent: it lost the tail of 100,000 lines here). Prints: pub-seconds sub-seconds delivered.
run() {
	local pub=$1 sub=$2 name t0 t1 t2 got last=-1 still=0
	name=$(basename "${pub%% *}")-$(basename "${sub%% *}")-$RANDOM
	$sub -p "$PORT" -q "$QOS" -t "bench/$name" -C "$N" -i "s-$name" > "$TMP/$name.out" &
	local spid=$!
	for _ in $(seq 100); do grep -q "s-$name" "$TMP/broker.log" && break; sleep 0.05; done
	sleep 0.3
	t0=$(now)
	$pub -p "$PORT" -q "$QOS" -t "bench/$name" -i "p-$name" -l < "$TMP/lines"
	t1=$(now)
	t2=$t1
	while kill -0 "$spid" 2>/dev/null; do
		got=$(lines "$TMP/$name.out")
		if [ "$got" != "$last" ]; then last=$got; still=0; t2=$(now); else still=$((still + 1)); fi
		[ "$still" -ge 30 ] && { kill "$spid" 2>/dev/null; break; }
		sleep 0.1
	done
	wait "$spid" 2>/dev/null && t2=$(now) || true
	got=$(lines "$TMP/$name.out")
	echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc) $got"
}
printf '%-32s %10s %10s %10s %12s\n' "$N lines at QoS $QOS" "pub (s)" "sub (s)" "delivered" "msgs/s"
row() {
	local label=$1 r p s got
	r=$(run "$2" "$3")
	read -r p s got <<<"$r"
	printf '%-32s %10.3f %10.3f %10d %12.0f\n' "$label" "$p" "$s" "$got" "$(echo "$got / $s" | bc -l)"
	echo "$p $s $got" > "$TMP/row-$4"
}
row "mosquitto_pub -> mosquitto_sub" mosquitto_pub mosquitto_sub mm
row "mqtt pub -> mqtt sub" "$TMP/mqtt pub" "$TMP/mqtt sub" oo
row "mosquitto_pub -> mqtt sub" mosquitto_pub "$TMP/mqtt sub" mo
row "mqtt pub -> mosquitto_sub" "$TMP/mqtt pub" mosquitto_sub om
read -r mp ms mg < "$TMP/row-mm"
read -r op os og < "$TMP/row-oo"
echo
echo "ratios ours/mosquitto (time per delivered message; below 1 means faster):"
printf '  pub -l: %.2f   sub -C: %.2f\n' "$(echo "($op / $og) / ($mp / $mg)" | bc -l)" "$(echo "($os / $og) / ($ms / $mg)" | bc -l)"
[ "$og" = "$N" ] || echo "warning: mqtt delivered $og of $N" >&2
[ "$mg" = "$N" ] || echo "note: mosquitto_pub/mosquitto_sub delivered $mg of $N" >&2
