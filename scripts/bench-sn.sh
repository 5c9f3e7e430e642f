#!/usr/bin/env bash
# bench-sn.sh: the MQTT-SN gateway under `mqtt bench --sn`, beside the same load over plain
# MQTT into the same broker, in one run.
#
# For each load a fresh `mqtt serve` runs with an embedded gateway (--sn-listen) and a
# standalone `mqtt sn-gateway` in front of it; the same `mqtt bench pubsub` is run three
# times: publishers over plain MQTT, over MQTT-SN through the standalone gateway, and over
# MQTT-SN through the embedded one. Subscribers are always MQTT on the broker, so latency
# and loss are end to end.
#
# Loads (N publishers, 64-byte payloads, topic bench/%i, one subscriber on bench/+):
#   q1        QoS 1, as fast as acknowledgements allow; one message in flight per publisher
#             (MQTT-SN allows one; plain MQTT is run with --inflight 1 to match)
#   q0        QoS 0, as fast as possible. UDP has no flow control: what the gateway or the
#             broker's queue for the one subscriber cannot take is lost, where TCP would have
#             slowed the publishers down.
#   q0-rate   QoS 0 at --rate per publisher (default 100/s: 100,000 messages/s offered)
#   memory    resident memory per idle client: RSS of the standalone gateway, and of the
#             broker with the embedded gateway, while `mqtt bench conn --sn` holds N clients;
#             the broker's for N plain MQTT connections beside it
#
# Usage: scripts/bench-sn.sh [--clients N] [--count N] [--rate R] [--conns N] [--keep DIR]
#   --clients  publishers (default 1000)
#   --count    messages per publisher (default 100)
#   --rate     q0-rate messages/s per publisher (default 100)
#   --conns    idle clients of the memory load (default 10000)
#   --keep     keep every bench --json report in DIR
# Needs go and jq. Run it on an otherwise idle machine: broker, gateway and generator share
# the cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
clients=1000
count=100
rate=100
conns=10000
keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--clients) clients=$2; shift ;;
	--count) count=$2; shift ;;
	--rate) rate=$2; shift ;;
	--conns) conns=$2; shift ;;
	--keep) keep=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-sn.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$clients$count$rate$conns" in *[!0-9]*) echo "bench-sn.sh: --clients, --count, --rate and --conns take whole numbers" >&2; exit 2 ;; esac
for tool in go jq; do
	command -v $tool >/dev/null || { echo "bench-sn.sh: $tool is required" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
bpid="" gpid=""
stop() {
	for p in $gpid $bpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	bpid="" gpid=""
}
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
out=${keep:-$work/reports}
mkdir -p "$out"
echo "building mqtt..." >&2
(cd "$root" && go build -o "$work/mqtt" ./cmd/mqtt)
mqtt=$work/mqtt
port=$((20000 + RANDOM % 10000))

# start: a broker with an embedded gateway, and a standalone gateway in front of it.
start() {
	port=$((port + 3))
	mport=$port embedded=$((port + 1)) standalone=$((port + 2))
	"$mqtt" serve --listen "127.0.0.1:$mport" --sn-listen "127.0.0.1:$embedded" >"$work/broker.log" 2>&1 &
	bpid=$!
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && break; sleep 0.1; done
	"$mqtt" sn-gateway -h 127.0.0.1 -p "$mport" --listen "127.0.0.1:$standalone" --advertise-interval 0 >"$work/gateway.log" 2>&1 &
	gpid=$!
	sleep 0.5
	kill -0 "$bpid" "$gpid" || { cat "$work/broker.log" "$work/gateway.log" >&2; exit 1; }
}

# run LOAD MODE ARGS...: one bench pubsub, its report in $out/LOAD-MODE.json.
run() {
	local load=$1 mode=$2
	shift 2
	local via=()
	case $mode in
	standalone) via=(--sn --sn-gateway "127.0.0.1:$standalone") ;;
	embedded) via=(--sn --sn-gateway "127.0.0.1:$embedded") ;;
	esac
	"$mqtt" bench pubsub -h 127.0.0.1 -p "$mport" -c "$clients" -n "$count" -s 64 -t 'bench/%i' \
		-i "$load-$mode" --drain 10s --json "${via[@]}" "$@" >"$out/$load-$mode.json" 2>"$work/bench.err" ||
		{ echo "bench-sn.sh: $load $mode: $(cat "$work/bench.err")" >&2; echo '{}' >"$out/$load-$mode.json"; }
}

for load in q1 q0 q0-rate; do
	for mode in plain standalone embedded; do
		echo "$load over $mode..." >&2
		start
		case $load in
		q1) if [ $mode = plain ]; then run $load $mode -q 1 --inflight 1; else run $load $mode -q 1; fi ;;
		q0) run $load $mode -q 0 ;;
		q0-rate) run $load $mode -q 0 --rate "$rate" ;;
		esac
		stop
	done
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# hold NAME COUNT_CMD BENCH_ARGS...: RSS of the broker and the standalone gateway before, and
# once COUNT_CMD (which counts the held clients) reaches $conns, while bench conn holds them.
hold() {
	local name=$1 counter=$2
	shift 2
	local b0 g0
	b0=$(rss_kb "$bpid")
	g0=$(rss_kb "$gpid")
	"$mqtt" bench conn -c "$conns" -k 600 --duration 20s --json "$@" >"$out/memory-$name.json" 2>"$work/bench.err" &
	local cpid=$!
	for _ in $(seq 300); do
		[ "$($counter)" -ge "$conns" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 2
	echo "{\"broker_before_kb\": $b0, \"broker_during_kb\": $(rss_kb "$bpid"), \"gateway_before_kb\": $g0, \"gateway_during_kb\": $(rss_kb "$gpid")}" >"$out/rss-$name.json"
	kill -INT "$cpid" 2>/dev/null || true
	wait "$cpid" || echo "bench-sn.sh: memory $name: $(cat "$work/bench.err")" >&2
}
udp_clients() { ss -Huan "( dport = :$1 )" 2>/dev/null | wc -l; }
tcp_clients() { ss -Htn state established "( sport = :$mport )" 2>/dev/null | wc -l; }
echo "memory: $conns idle clients..." >&2
start
hold standalone "udp_clients $standalone" -h 127.0.0.1 -p "$mport" --sn --sn-gateway "127.0.0.1:$standalone" -i mem-st
stop
start
hold embedded "udp_clients $embedded" -h 127.0.0.1 -p "$mport" --sn --sn-gateway "127.0.0.1:$embedded" -i mem-em
stop
start
hold plain tcp_clients -h 127.0.0.1 -p "$mport" -i mem-pl
stop

row() {
	local f=$out/$1-$2.json
	jq -r --arg load "$1" --arg mode "$2" '[$load, $mode,
		(.rates.received_per_s // 0 | floor), (.messages.sent // 0), (.messages.received // 0), (.messages.lost // 0),
		(.latency_us.p50 // 0), (.latency_us.p99 // 0)] | @tsv' "$f"
}
echo
for load in q1 q0 q0-rate; do
	for mode in plain standalone embedded; do row $load $mode; done
done | column -t -s $'\t' -N "load,via,msgs/s,sent,received,lost,p50 µs,p99 µs" 2>/dev/null || true
echo
printf '%s\n' "memory per idle client ($conns clients; KiB of RSS):"
for name in standalone embedded plain; do
	jq -r --arg n "$name" --argjson c "$conns" '"  \($n): broker \(((.broker_during_kb - .broker_before_kb) / $c * 100 | floor) / 100), gateway \(((.gateway_during_kb - .gateway_before_kb) / $c * 100 | floor) / 100)"' "$out/rss-$name.json"
done
