#!/usr/bin/env bash
# Compare `mqtt pub -l` / `mqtt sub -C` with mosquitto_pub / mosquitto_sub in one run:
# N lines at QoS 1 through a local mosquitto on a loopback port. Prints seconds and ratios
# (ours/mosquitto; below 1 means we are faster). A measurement, not a test.
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
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$PORT" > "$TMP/m.conf"
[ "$(id -u)" = 0 ] && echo "user root" >> "$TMP/m.conf"
"$MOSQ" -c "$TMP/m.conf" >"$TMP/broker.log" 2>&1 & BROKER_PID=$!
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
seq -f "message %g" 1 "$N" > "$TMP/lines"

now() { date +%s.%N; }
# run NAME PUB SUB: start SUB, wait until it is subscribed, time PUB and SUB's completion.
run() {
	local name=$1 pub=$2 sub=$3 t0 t1 t2
	$sub -p "$PORT" -q "$QOS" -t "bench/$name" -C "$N" -i "sub-$name" > "$TMP/$name.out" &
	local spid=$!
	for _ in $(seq 100); do grep -q "sub-$name" "$TMP/broker.log" && break; sleep 0.05; done
	sleep 0.3
	t0=$(now)
	$pub -p "$PORT" -q "$QOS" -t "bench/$name" -l < "$TMP/lines"
	t1=$(now)
	wait "$spid"
	t2=$(now)
	local got; got=$(wc -l < "$TMP/$name.out")
	[ "$got" = "$N" ] || echo "warning: $name sub printed $got of $N lines" >&2
	echo "$name $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc)"
}
m=$(run mosquitto mosquitto_pub mosquitto_sub)
o=$(run mqtt "$TMP/mqtt pub" "$TMP/mqtt sub")
read -r _ mp ms <<<"$m"
read -r _ op os <<<"$o"
printf '%-10s %12s %12s\n' "" "pub -l (s)" "sub -C (s)"
printf '%-10s %12.3f %12.3f\n' mosquitto "$mp" "$ms" mqtt "$op" "$os"
printf '%-10s %12.2f %12.2f\n' "ratio" "$(echo "$op / $mp" | bc -l)" "$(echo "$os / $ms" | bc -l)"
