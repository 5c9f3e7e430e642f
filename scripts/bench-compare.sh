#!/usr/bin/env bash
# bench-compare.sh: drive our broker (`mqtt serve`), Mosquitto, mochi-mqtt and nats-server
# with the same `mqtt bench` loads, one broker at a time on loopback, and print messages/s,
# loss and the ratio ours/peer per scenario, plus what each load cost the broker (CPU
# seconds and memory, read from /proc by bench --broker-pid).
#
# Scenarios (64-byte payloads and MQTT 3.1.1 unless said; each bounded by a message count
# and a time limit; --quick sizes in brackets):
#   fan-in  q0      4 publishers -> 1 subscriber, QoS 0
#   fan-in  q1      4 publishers -> 1 subscriber, QoS 1
#   fan-in  q2      4 publishers -> 1 subscriber, QoS 2
#   fan-out q0      1 publisher  -> 50 subscribers, QoS 0
#   pairs   q1      50 publisher/subscriber pairs, QoS 1
#   v5 pairs q1     the same in MQTT 5, with topic aliases both ways and a user property,
#                   message expiry and content type on every PUBLISH
#   fan-in  1k/64k  4 -> 1 at QoS 1 with 1 KiB and 64 KiB payloads
#   fleet           10,000 [1,000] clients each publishing once a second (QoS 1, staggered)
#                   to its own topic fleet/ID for 20 s [10 s], 4 subscribers on fleet/+:
#                   delivered rate, loss, p99 latency, broker CPU seconds and RSS
#   retained        10 publishers store 100,000 [10,000] retained messages on distinct
#                   topics, then 10 subscribers subscribe to '#' at once: time until every
#                   one holds them all
#   index           1,000,000 [100,000] subscriptions held in the index (bench --index) while
#                   10 publishers send 1,000 msgs/s each for 10 s [5 s] to 1 subscriber
#   tls             1,000 [200] TLS connections (a throwaway CA and server certificate made
#                   with openssl): handshake rate, CONNACK latency, KiB per connection
#   memory          RSS of the broker before and while `mqtt bench conn` holds N idle
#                   connections
# Persistence (issue 12), on four brokers: ours in memory, ours with --data, Mosquitto in memory,
# Mosquitto with persistence true (its default autosave_interval):
#   persist fan-in q1   4 publishers -> 1 subscriber, QoS 1, every client with a persistent
#                       session (--disable-clean-session): each message is stored for the
#                       subscriber and deleted when it acknowledges
#   retain storm q1     4 publishers each overwriting its retained message, QoS 1 (bench pub)
#   ours with --data only: fsyncs per message (from the store's counters: one fdatasync per
#   journal write, two per checkpoint), store size with 100,000 messages queued for an offline session, and the time to
#   restart with 1,000,000 stored (10 offline sessions x 100,000 queued messages).
#
# A broker that cannot run a scenario shows n/a and why (nats-server speaks MQTT 3.1.1
# only); one that fails it shows failed, with bench's error on stderr and in the report.
#
# Every broker runs with its defaults (Mosquitto: max_queued_messages 1000, max_inflight 20).
# msgs/s is messages delivered to subscribers per second (publishing start to last delivery);
# loss is what bench's sequence checks found missing after the drain (which waits for a slow
# broker's backlog, up to half the time limit, and ends after a second with nothing arriving).
# Each load gets a freshly started broker.
#
# Usage: scripts/bench-compare.sh [--quick] [--brokers "ours mosquitto mochi nats"] [--before BIN] [--conns N]
#                                 [--limit SECONDS] [--keep DIR | --from DIR]
#                                 [--persistence only|skip]
#   --quick    a tenth of the messages, 1,000 connections and the smaller sizes above (a smoke
#              run, a few minutes)
#   --brokers  which brokers, in order; the ratios need "ours"
#   --before BIN  also run an earlier build of mqtt as broker "before" (ratios ours/before
#              show what a change did, in the same run)
#   --conns    idle connections for the memory scenario (default 10000; ulimit -n permitting)
#   --limit    time limit per scenario in seconds (default 60); bench is sent SIGINT then and
#              reports what it had
#   --keep     keep every bench --json report in DIR
#   --from     print the tables from the reports a --keep run left in DIR, without running
#   --persistence only: just the persistence comparison; skip: leave it out
# Needs: go, mosquitto (/usr/sbin is searched), jq, openssl. Run it on an otherwise idle
# machine: the brokers and the generator share the cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
brokers="ours mosquitto mochi nats"
scale=1
quick=0
conns=10000
limit=60
keep=""
from=""
persistence=run
before_bin=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) scale=10; quick=1; conns=1000 ;;
	--brokers) brokers=$2; shift ;;
	--conns) conns=$2; shift ;;
	--limit) limit=$2; shift ;;
	--keep) keep=$2; shift ;;
	--from) from=$2; shift ;;
	--persistence) persistence=$2; shift ;;
	--before) before_bin=$(realpath "$2"); shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$conns$limit" in *[!0-9]*) echo "bench-compare.sh: --conns and --limit take whole numbers" >&2; exit 2 ;; esac
if [ -n "$before_bin" ]; then
	[ -x "$before_bin" ] || { echo "bench-compare.sh: --before $before_bin: not an executable" >&2; exit 2; }
	case " $brokers " in *" before "*) ;; *) brokers="$brokers before" ;; esac
fi
for b in $brokers; do
	case "$b" in ours | mosquitto | mochi | nats) ;;
	before) [ -n "$before_bin" ] || [ -n "$from" ] || { echo "bench-compare.sh: broker before needs --before BIN" >&2; exit 2; } ;;
	*) echo "bench-compare.sh: unknown broker $b (ours, mosquitto, mochi, nats, before)" >&2; exit 2 ;; esac
done

if [ -n "$from" ]; then
	out=$from
	[ -d "$out" ] || { echo "bench-compare.sh: --from $from: no such directory" >&2; exit 2; }
	command -v jq >/dev/null || { echo "bench-compare.sh: jq is required" >&2; exit 2; }
	conns=$(jq -r '.config.clients' "$out/$(echo "$brokers" | awk '{print $1}')-memory.json" 2>/dev/null || echo "$conns")
else
PATH=$PATH:/usr/sbin:/usr/local/sbin
for tool in go jq openssl; do
	command -v $tool >/dev/null || { echo "bench-compare.sh: $tool is required" >&2; exit 2; }
done
case " $brokers " in *" mosquitto "*) command -v mosquitto >/dev/null || { echo "bench-compare.sh: mosquitto is required (apt-get install mosquitto), or leave it out with --brokers" >&2; exit 2; } ;; esac

# Both the generator and each broker hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
if [ "$fds" != unlimited ] && [ "$conns" -gt $((fds - 200)) ]; then
	echo "bench-compare.sh: ulimit -n is $fds; memory scenario lowered to $((fds - 200)) connections" >&2
	conns=$((fds - 200))
fi

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
out=${keep:-$work/reports}
mkdir -p "$out"

echo "building mqtt and the mochi-mqtt and nats-server peers..." >&2
(cd "$root" && go build -o "$work/mqtt" ./cmd/mqtt)
(cd "$root/scripts/mochi" && go build -o "$work/mochi" .)
case " $brokers " in *" nats "*) (cd "$root/scripts/nats" && go build -o "$work/nats" .) ;; esac
mqtt=$work/mqtt

# A throwaway CA and a server certificate for 127.0.0.1, for the TLS scenario.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=bench-compare CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
	-extfile "$work/ext.cnf" -out "$work/server.pem" 2>/dev/null

# Below the ephemeral range (32768 and up on Linux), where the 10,000 connections of the
# memory load leave their local ports behind.
port=$((20000 + RANDOM % 10000))

# start BROKER [tls]: runs it on 127.0.0.1:$port in the background (with tls, its listener
# speaks TLS with the throwaway certificate), sets pid, waits until it accepts.
start() {
	local tls=${2:-}
	port=$((port + 1))
	while [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; do port=$((port + 1)); done
	local certs=()
	[ -n "$tls" ] && certs=(-cert "$work/server.pem" -key "$work/server.key")
	case "$1" in
	ours | before)
		local bin=$mqtt
		[ "$1" = before ] && bin=$before_bin
		if [ -n "$tls" ]; then
			printf 'listener %d 127.0.0.1\nallow_anonymous true\ncertfile %s\nkeyfile %s\n' "$port" "$work/server.pem" "$work/server.key" >"$work/$1.conf"
			"$bin" serve -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
		else
			"$bin" serve --listen "127.0.0.1:$port" >"$work/$1.log" 2>&1 &
		fi
		;;
	mosquitto)
		printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/mosquitto.conf"
		[ -n "$tls" ] && printf 'certfile %s\nkeyfile %s\n' "$work/server.pem" "$work/server.key" >>"$work/mosquitto.conf"
		[ "$(id -u)" = 0 ] && echo "user root" >>"$work/mosquitto.conf"
		mosquitto -c "$work/mosquitto.conf" >"$work/$1.log" 2>&1 &
		;;
	mochi) "$work/mochi" -addr "127.0.0.1:$port" "${certs[@]}" >"$work/$1.log" 2>&1 & ;;
	nats) "$work/nats" -addr "127.0.0.1:$port" "${certs[@]}" >"$work/$1.log" 2>&1 & ;;
	sink) "$work/mochi" -sink -addr "127.0.0.1:$port" >"$work/$1.log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 300); do
		# Accepting, and still ours (another process may have taken the port meanwhile).
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && sleep 0.2 && kill -0 "$pid" 2>/dev/null; then return 0; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-compare.sh: $1 did not start on port $port:" >&2
	cat "$work/$1.log" >&2
	exit 1
}

stop() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

# scenario NAME BROKER ARGS...: one bench pubsub run, its report in $out/BROKER-NAME.json.
scenario() { scenario_of pubsub "$@"; }

# scenario_of SCENARIO NAME BROKER ARGS...: the report, with the broker's CPU and memory
# (--broker-pid); a failed run leaves {"failed": "bench's error"}.
scenario_of() {
	local what=$1 name=$2 broker=$3
	shift 3
	local f="$out/$broker-$name.json" size=(-s 64) drain=(--drain "$((limit / 2))s")
	case " $* " in *" -s "*) size=() ;; esac
	[ "$what" = conn ] && size=() drain=()
	# bench stops by itself after -n messages; timeout's SIGINT makes it print what it had.
	if ! timeout --signal=INT --kill-after=30 "$limit" "$mqtt" bench "$what" -h 127.0.0.1 -p "$port" "${size[@]}" \
		-i "cmp-$broker-$name" "${drain[@]}" --broker-pid "$pid" --json "$@" >"$f" 2>"$work/bench.err" ||
		! jq -e . "$f" >/dev/null 2>&1; then
		echo "bench-compare.sh: $broker $name: $(cat "$work/bench.err")" >&2
		jq -n --arg e "$(head -c 300 "$work/bench.err")" '{failed: $e}' >"$f"
	fi
}

# na NAME BROKER REASON: the broker cannot run this scenario.
na() { jq -n --arg r "$3" '{na: $r}' >"$out/$2-$1.json"; }

# load NAME BROKER ARGS...: a pubsub load on a freshly started broker. A backlog left from
# the load before (a QoS 0 flood is still being delivered after bench has gone) would eat
# into the next.
load() {
	local name=$1 b=$2
	shift 2
	echo "$b: $name..." >&2
	start "$b"
	scenario "$name" "$b" "$@"
	stop
}

# --- Persistence (issue 12). Kept in functions of their own (start_persist, persist_runs,
# persist_tables) so that other scenario work on this script merges without conflicts.

# start_persist BROKER: like start, for ours, ours-persist, mosquitto and mosquitto-persist; the
# -persist ones get an empty data directory ($work/data-BROKER).
start_persist() {
	port=$((port + 1))
	while [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; do port=$((port + 1)); done
	local data="$work/data-$1"
	rm -rf "$data" && mkdir -p "$data"
	case "$1" in
	ours) "$mqtt" serve --listen "127.0.0.1:$port" >"$work/$1.log" 2>&1 & ;;
	ours-persist) "$mqtt" serve --listen "127.0.0.1:$port" --data "$data" >"$work/$1.log" 2>&1 & ;;
	mosquitto | mosquitto-persist)
		printf 'listener %d 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/$1.conf"
		[ "$(id -u)" = 0 ] && echo "user root" >>"$work/$1.conf"
		[ "$1" = mosquitto-persist ] && printf 'persistence true\npersistence_location %s/\n' "$data" >>"$work/$1.conf"
		mosquitto -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
		;;
	esac
	pid=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && sleep 0.2 && kill -0 "$pid" 2>/dev/null; then return 0; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-compare.sh: $1 did not start on port $port:" >&2
	cat "$work/$1.log" >&2
	exit 1
}

# stop_persist: SIGTERM and wait (the store writes its last state and its counters).
stop_persist() { stop; }

persist_brokers="ours ours-persist mosquitto mosquitto-persist"

persist_runs() {
	local n_pfanin=$((50000 / scale)) n_retain=$((50000 / scale)) b
	for b in $persist_brokers; do
		case "$b" in mosquitto*) command -v mosquitto >/dev/null || continue ;; esac
		echo "$b: persist fan-in q1 (persistent sessions)..." >&2
		start_persist "$b"
		scenario p-fanin-q1 "$b" -c 4 --subs 1 -q 1 -n "$n_pfanin" --disable-clean-session
		stop_persist
		[ "$b" = ours-persist ] && grep -o 'Store closed: [0-9]* commits in [0-9]* journal writes and [0-9]* checkpoints' "$work/$b.log" >"$out/$b-p-fanin-q1.store" || true
		echo "$b: retain storm q1..." >&2
		start_persist "$b"
		scenario_of pub p-retain-q1 "$b" -c 4 -q 1 -r -n "$n_retain"
		stop_persist
		[ "$b" = ours-persist ] && grep -o 'Store closed: [0-9]* commits in [0-9]* journal writes and [0-9]* checkpoints' "$work/$b.log" >"$out/$b-p-retain-q1.store" || true
	done

	# Store size: 100,000 messages (64-byte payloads) queued for one offline session.
	echo "ours-persist: store size with 100k queued..." >&2
	start_persist ours-persist
	"$mqtt" sub -h 127.0.0.1 -p "$port" -i size-sub -c -q 1 -t 'size/#' -E >/dev/null 2>&1 || true
	"$mqtt" bench pub -h 127.0.0.1 -p "$port" -i size-pub -c 4 -q 1 -s 64 -t 'size/%i' -n $((25000 / scale)) --json >"$out/ours-size-pub.json" 2>/dev/null || true
	stop_persist
	echo "{\"queued\": $((100000 / scale)), \"bytes\": $(stat -c %s "$work/data-ours-persist/mqtt.db"), \"allocated\": $(($(stat -c %b "$work/data-ours-persist/mqtt.db") * $(stat -c %B "$work/data-ours-persist/mqtt.db"))), \"journal\": $(stat -c %s "$work/data-ours-persist/mqtt.db-journal")}" >"$out/ours-size.json"

	# Restart with 1,000,000 stored messages: 10 offline sessions x 100,000 queued (the default
	# max_queued_messages), then the time from exec to "running".
	echo "ours-persist: restart with 1M stored..." >&2
	start_persist ours-persist
	local i
	for i in $(seq 0 9); do
		"$mqtt" sub -h 127.0.0.1 -p "$port" -i "restart-sub$i" -c -q 1 -t 'r/#' -E >/dev/null 2>&1 || true
	done
	"$mqtt" bench pub -h 127.0.0.1 -p "$port" -i restart-pub -c 4 -q 1 -s 64 -t 'r/%i' -n $((25000 / scale)) --json >"$out/ours-restart-pub.json" 2>/dev/null || true
	stop_persist
	local t0 t1 data="$work/data-ours-persist" stored
	stored=$("$mqtt" serve --data "$data" --check 2>&1 | grep -o '[0-9]* queued or inflight' | awk '{print $1}')
	port=$((port + 1))
	t0=$(date +%s%N)
	"$mqtt" serve --listen "127.0.0.1:$port" --data "$data" >"$work/restart.log" 2>&1 &
	pid=$!
	for _ in $(seq 6000); do
		grep -q ' running$' "$work/restart.log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	t1=$(date +%s%N)
	stop
	echo "{\"stored\": ${stored:-0}, \"ms\": $(((t1 - t0) / 1000000)), \"bytes\": $(stat -c %s "$data/mqtt.db")}" >"$out/ours-restart.json"
}

persist_tables() {
	[ -f "$out/ours-persist-p-fanin-q1.json" ] || return 0
	local b s r
	printf '\npersistence: msgs/s (fan-in: delivered, lost; retain storm: acknowledged publishes), load %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	{
		printf 'scenario'
		for b in $persist_brokers; do printf '\t%s' "$b"; done
		printf '\tpersist/memory\tpersist/mosquitto-memory\tpersist/mosquitto-persist\n'
		for s in p-fanin-q1 p-retain-q1; do
			printf '%s' "$s"
			for b in $persist_brokers; do
				if [ "$s" = p-retain-q1 ]; then r=$(get "$b-$s" '.rates.sent_per_s | floor'); else r=$(rate "$b" "$s"); fi
				printf '\t%s' "${r:-failed}"
				[ "$s" = p-fanin-q1 ] && [ -n "$r" ] && printf ' (lost %s)' "$(get "$b-$s" '.messages.lost')"
			done
			if [ "$s" = p-retain-q1 ]; then
				f() { get "$1-$s" '.rates.sent_per_s | floor'; }
			else
				f() { rate "$1" "$s"; }
			fi
			printf '\t%s\t%s\t%s\n' "$(ratio "$(f ours-persist)" "$(f ours)")" "$(ratio "$(f ours-persist)" "$(f mosquitto)")" "$(ratio "$(f ours-persist)" "$(f mosquitto-persist)")"
		done
	} | column -t -s "$(printf '\t')"
	for s in p-fanin-q1 p-retain-q1; do
		local line msgs
		line=$(cat "$out/ours-persist-$s.store" 2>/dev/null || true)
		if [ "$s" = p-fanin-q1 ]; then msgs=$(get "ours-persist-$s" '.messages.received'); else msgs=$(get "ours-persist-$s" '.messages.acked'); fi
		if [ -n "$line" ] && [ -n "$msgs" ] && [ "$msgs" != 0 ]; then
			echo "$line" | awk -v m="$msgs" -v s="$s" '{printf "  %-12s %s commits, %s journal writes and %s checkpoints for %s messages: %.3f fdatasyncs per message (1 per journal write, 2 per checkpoint)\n", s, $3, $6, $10, m, ($6 + 2 * $10) / m}'
		fi
	done
	if [ -f "$out/ours-size.json" ]; then
		jq -r '"  store size: \(.bytes) bytes (\(.allocated) allocated) with \(.queued) queued 64-byte messages: \(.bytes / .queued * 100000 / 1048576 * 10 | floor / 10) MiB per 100k, plus the journal, \(.journal / 1048576) MiB whatever it holds"' "$out/ours-size.json"
	fi
	if [ -f "$out/ours-restart.json" ]; then
		jq -r '"  restart with \(.stored) stored messages (\(.bytes / 1048576 | floor) MiB): \(.ms) ms from exec to running"' "$out/ours-restart.json"
	fi
}

# Messages per publisher, and the sizes of the fleet loads.
n_fanin0=$((500000 / scale))
n_fanin1=$((50000 / scale))
n_fanin2=$((20000 / scale))
n_fanout0=$((20000 / scale))
n_pairs1=$((4000 / scale))
n_1k=$((20000 / scale))
n_64k=$((2000 / scale))
if [ "$quick" = 1 ]; then
	fleet=1000 fleet_s=10 retained_n=1000 index=100000 index_s=5 tls_conns=200
else
	fleet=10000 fleet_s=20 retained_n=10000 index=1000000 index_s=10 tls_conns=1000
fi
if [ "$fds" != unlimited ] && [ "$fleet" -gt $((fds - 200)) ]; then
	echo "bench-compare.sh: ulimit -n is $fds; fleet lowered to $((fds - 200)) clients" >&2
	fleet=$((fds - 200))
fi

[ "$persistence" != only ] && for b in $brokers; do
	echo "$b: memory with $conns connections..." >&2
	start "$b"
	sleep 1
	before=$(rss_kb)
	"$mqtt" bench conn -h 127.0.0.1 -p "$port" -c "$conns" -k 600 --duration 8s --json >"$out/$b-memory.json" 2>"$work/bench.err" &
	bpid=$!
	# Sample the broker once every connection is up (or after the time limit).
	for _ in $(seq $((limit * 5))); do
		n=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
		[ "$n" -ge "$conns" ] && break
		kill -0 "$bpid" 2>/dev/null || break
		sleep 0.2
	done
	sleep 2
	during=$(rss_kb)
	wait "$bpid" || echo "bench-compare.sh: $b memory: $(cat "$work/bench.err")" >&2
	echo "{\"before_kb\": $before, \"during_kb\": $during}" >"$out/$b-rss.json"

	stop

	load fanin-q0 "$b" -c 4 --subs 1 -q 0 -n "$n_fanin0"
	load fanin-q1 "$b" -c 4 --subs 1 -q 1 -n "$n_fanin1"
	load fanin-q2 "$b" -c 4 --subs 1 -q 2 -n "$n_fanin2"
	load fanout-q0 "$b" -c 1 --subs 50 -q 0 -n "$n_fanout0"
	load pairs-q1 "$b" -c 50 --subs 50 -q 1 -t 'bench/%i' --sub-topic 'bench/%i' -n "$n_pairs1"
	if [ "$b" = nats ]; then
		na v5-pairs-q1 "$b" "nats-server speaks MQTT 3.1.1 only"
	else
		load v5-pairs-q1 "$b" -V 5 --topic-alias -D publish user-property app bench -D publish message-expiry-interval 300 \
			-D publish content-type application/octet-stream -c 50 --subs 50 -q 1 -t 'bench/%i' --sub-topic 'bench/%i' -n "$n_pairs1"
	fi
	load fanin-1k "$b" -c 4 --subs 1 -q 1 -s 1024 -n "$n_1k"
	load fanin-64k "$b" -c 4 --subs 1 -q 1 -s 65536 -n "$n_64k"
	load fleet "$b" -c "$fleet" --subs 4 -q 1 -t 'fleet/%c' --rate 1 --stagger --duration "${fleet_s}s" -k 60
	load index "$b" -c 10 --subs 1 -q 0 --rate 1000 --duration "${index_s}s" --index "$index"

	echo "$b: retained..." >&2
	start "$b"
	scenario_of retained retained "$b" -c 10 -n "$retained_n" --subs 10 --sub-topic '#' --inflight 100
	stop

	echo "$b: tls with $tls_conns connections..." >&2
	start "$b" tls
	scenario_of conn tls "$b" --cafile "$work/ca.pem" -c "$tls_conns" -k 600 --duration 5s
	stop
done

[ "$persistence" != skip ] && persist_runs

# The generator alone: bench pub into a sink that only parses and acknowledges.
[ "$persistence" != only ] && {
echo "generator: bench pub into a discard sink..." >&2
start sink
scenario_of pub q0 sink -c 4 -q 0 -n $((4000000 / scale))
scenario_of pub q1 sink -c 4 -q 1 -n $((1000000 / scale))
scenario_of pub q1-w1000 sink -c 4 -q 1 --inflight 1000 -n $((1000000 / scale))
stop
}

fi

# The tables.
get() { jq -r "$2 // empty" "$out/$1.json" 2>/dev/null || true; }
rate() { get "$1-$2" '.rates.received_per_s | floor'; }
ratio() { # ours/peer for a numeric field; "-" when either is missing
	if [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo -; fi
}
# status BROKER-NAME: "n/a" (the broker cannot do it: the script knew, or bench found a
# missing feature) or "failed" when the report has no figures, else empty. The notes at the
# end say why.
status() {
	if [ -n "$(get "$1" '.na')" ]; then echo n/a; return; fi
	case "$(get "$1" '.failed')" in *"allows no topic aliases"*) echo n/a; return ;; esac
	if [ ! -s "$out/$1.json" ] || [ -n "$(get "$1" '.failed')" ] || [ "$(get "$1" '.scenario')" = "" ]; then echo failed; fi
}
peers=""
for b in $brokers; do [ "$b" != ours ] && peers="$peers $b"; done
has_ours() { case " $brokers " in *" ours "*) return 0 ;; esac; return 1; }
tsv() { column -t -s "$(printf '\t')"; }
loads="fanin-q0 fanin-q1 fanin-q2 fanout-q0 pairs-q1 v5-pairs-q1 fanin-1k fanin-64k fleet index"
if [ "$persistence" != only ]; then

printf '\nmqtt bench on %s, %s cores, loopback; msgs/s delivered (loss); ours/peer: higher is better for ours\n' "$(uname -sr)" "$(nproc)"
{
	printf 'scenario'
	for b in $brokers; do printf '\t%s' "$b"; done
	has_ours && for p in $peers; do printf '\tours/%s' "$p"; done
	printf '\n'
	for s in $loads; do
		[ -n "$(ls "$out"/*-"$s".json 2>/dev/null)" ] || continue
		printf '%s' "$s"
		for b in $brokers; do
			st=$(status "$b-$s")
			if [ -n "$st" ]; then printf '\t%s' "$st"; continue; fi
			r=$(rate "$b" "$s")
			l=$(get "$b-$s" '.messages.lost')
			e=$(get "$b-$s" '.messages.expected')
			i=$(get "$b-$s" 'if .interrupted then "interrupted" else empty end')
			printf '\t%s (lost %s of %s%s)' "${r:-0}" "$l" "$e" "${i:+, $i}"
		done
		if has_ours; then for p in $peers; do printf '\t%s' "$(ratio "$(rate ours "$s")" "$(rate "$p" "$s")")"; done; fi
		printf '\n'
	done
} | tsv

printf '\nend-to-end latency in ms, p50 / p99 (publisher write to subscriber read, same host)\n'
{
	printf 'scenario'
	for b in $brokers; do printf '\t%s' "$b"; done
	printf '\n'
	for s in $loads; do
		[ -n "$(ls "$out"/*-"$s".json 2>/dev/null)" ] || continue
		printf '%s' "$s"
		for b in $brokers; do
			st=$(status "$b-$s")
			if [ -n "$st" ]; then printf '\t%s' "$st"; continue; fi
			printf '\t%s' "$(get "$b-$s" '"\(.latency_us.p50 / 1000 * 10 | floor / 10) / \(.latency_us.p99 / 1000 * 10 | floor / 10)"')"
		done
		printf '\n'
	done
} | tsv

printf '\nwhat each load cost the broker: CPU seconds while publishing and draining / peak RSS MiB\n'
{
	printf 'scenario'
	for b in $brokers; do printf '\t%s' "$b"; done
	has_ours && for p in $peers; do printf '\tCPU ours/%s' "$p"; done
	printf '\n'
	for s in $loads; do
		[ -n "$(ls "$out"/*-"$s".json 2>/dev/null)" ] || continue
		printf '%s' "$s"
		for b in $brokers; do
			st=$(status "$b-$s")
			c=$(get "$b-$s" '.broker.run_cpu_s * 100 | floor / 100')
			if [ -n "$st" ] || [ -z "$c" ]; then printf '\t%s' "${st:--}"; continue; fi
			printf '\t%s / %s' "$c" "$(get "$b-$s" '.broker.rss_peak_kb / 1024 | floor')"
		done
		if has_ours; then for p in $peers; do printf '\t%s' "$(ratio "$(get "ours-$s" '.broker.run_cpu_s')" "$(get "$p-$s" '.broker.run_cpu_s')")"; done; fi
		printf '\n'
	done
} | tsv

if [ -n "$(ls "$out"/*-fleet.json 2>/dev/null)" ]; then
	printf '\nfleet: %s clients at 1 msg/s each (QoS 1, staggered) to fleet/ID, 4 subscribers on fleet/+\n' \
		"$(jq -r '.config.clients // empty' "$out"/*-fleet.json 2>/dev/null | head -1)"
	{
		printf 'broker\tconnected\tmsgs/s delivered\tlost\tp99 ms\tbroker CPU s\tCPU %% of a core\tRSS MiB (peak)\tours/broker CPU\n'
		for b in $brokers; do
			st=$(status "$b-fleet")
			if [ -n "$st" ]; then printf '%s\t%s\n' "$b" "$st"; continue; fi
			printf '%s\t%s\t%s\t%s of %s\t%s\t%s\t%s\t%s (%s)\t%s\n' "$b" "$(get "$b-fleet" '.connections.connected')" \
				"$(rate "$b" fleet)" "$(get "$b-fleet" '.messages.lost')" "$(get "$b-fleet" '.messages.expected')" \
				"$(get "$b-fleet" '.latency_us.p99 / 1000 * 10 | floor / 10')" "$(get "$b-fleet" '.broker.run_cpu_s * 100 | floor / 100')" \
				"$(get "$b-fleet" '.broker.run_cpu_util * 100 | floor')" "$(get "$b-fleet" '.broker.rss_kb / 1024 | floor')" \
				"$(get "$b-fleet" '.broker.rss_peak_kb / 1024 | floor')" \
				"$(has_ours && ratio "$(get ours-fleet '.broker.run_cpu_s')" "$(get "$b-fleet" '.broker.run_cpu_s')")"
		done
	} | tsv
fi

if [ -n "$(ls "$out"/*-retained.json 2>/dev/null)" ]; then
	printf '\nretained: subscribe storm of 10 subscribers on "#" onto %s stored retained messages; time until all arrived (lower is better)\n' \
		"$(jq -r '.retained.stored // empty' "$out"/*-retained.json 2>/dev/null | sort -n | tail -1)"
	{
		printf 'broker\tstored\tstore s\tsubscribers with all\tfirst s\tall s\tmsgs/s\tlost\tbroker CPU s\tRSS MiB (peak)\tours/broker time\n'
		for b in $brokers; do
			st=$(status "$b-retained")
			if [ -n "$st" ]; then printf '%s\t%s\n' "$b" "$st"; continue; fi
			allq='if .retained.all_s > 0 then .retained.all_s else empty end'
			all=$(get "$b-retained" 'if .retained.all_s > 0 then .retained.all_s * 1000 | floor / 1000 else empty end')
			printf '%s\t%s\t%s\t%s of %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$(get "$b-retained" '.retained.stored')" \
				"$(get "$b-retained" '.retained.preload_s * 100 | floor / 100')" \
				"$(get "$b-retained" '.retained.complete')" "$(get "$b-retained" '.retained.subscribers')" \
				"$(get "$b-retained" '.retained.first_s * 1000 | floor / 1000')" "${all:-never}" \
				"$(get "$b-retained" '.retained.rate_per_s | floor')" "$(get "$b-retained" '.messages.lost')" \
				"$(get "$b-retained" '.broker.run_cpu_s * 100 | floor / 100')" "$(get "$b-retained" '.broker.rss_peak_kb / 1024 | floor')" \
				"$(has_ours && ratio "$(get ours-retained "$allq")" "$(get "$b-retained" "$allq")")"
		done
	} | tsv
fi

if [ -n "$(ls "$out"/*-index.json 2>/dev/null)" ]; then
	printf '\nindex: %s subscriptions held while 10 publishers send 1,000 msgs/s each to 1 subscriber\n' \
		"$(jq -r '.config.index // empty' "$out"/*-index.json 2>/dev/null | head -1)"
	{
		printf 'broker\tsubscribed\tsubscribe s\tsubs/s\tmsgs/s delivered\tlost\tp99 ms\tbroker CPU s (run)\tRSS MiB\tours/broker RSS\n'
		for b in $brokers; do
			st=$(status "$b-index")
			if [ -n "$st" ]; then printf '%s\t%s\n' "$b" "$st"; continue; fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$(get "$b-index" '.index.subscriptions')" \
				"$(get "$b-index" '.index.subscribe_s * 100 | floor / 100')" "$(get "$b-index" '.index.rate_per_s | floor')" \
				"$(rate "$b" index)" "$(get "$b-index" '.messages.lost')" "$(get "$b-index" '.latency_us.p99 / 1000 * 10 | floor / 10')" \
				"$(get "$b-index" '.broker.run_cpu_s * 100 | floor / 100')" "$(get "$b-index" '.broker.rss_kb / 1024 | floor')" \
				"$(has_ours && ratio "$(get ours-index '.broker.rss_kb')" "$(get "$b-index" '.broker.rss_kb')")"
		done
	} | tsv
fi

if [ -n "$(ls "$out"/*-tls.json 2>/dev/null)" ]; then
	printf '\ntls: %s TLS connections held (ECDSA P-256 certificate); KiB per connection from the broker RSS before and while held\n' \
		"$(jq -r '.config.clients // empty' "$out"/*-tls.json 2>/dev/null | head -1)"
	{
		printf 'broker\tconnected\thandshakes/s\tCONNACK p50 / p99 ms\tbroker CPU s\tKiB per connection\tours/broker KiB\n'
		tlsper() {
			get "$1-tls" 'if .connections.connected > 0 then ((.broker.rss_kb - .broker.rss_before_kb) / .connections.connected * 100 | floor / 100) else empty end'
		}
		for b in $brokers; do
			st=$(status "$b-tls")
			if [ -n "$st" ]; then printf '%s\t%s\n' "$b" "$st"; continue; fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$(get "$b-tls" '.connections.connected')" \
				"$(get "$b-tls" '.connections.rate_per_s | floor')" \
				"$(get "$b-tls" '"\(.connections.connack_latency_us.p50 / 1000 * 10 | floor / 10) / \(.connections.connack_latency_us.p99 / 1000 * 10 | floor / 10)"')" \
				"$(get "$b-tls" '.broker.cpu_s * 100 | floor / 100')" "$(tlsper "$b")" "$(has_ours && ratio "$(tlsper ours)" "$(tlsper "$b")")"
		done
	} | tsv
fi

printf '\nresident memory with %s idle connections (RSS of the broker process)\n' "$conns"
{
	printf 'broker\tconnected\tRSS before\tRSS held\tKiB per connection\tours/broker\n'
	per() { # KiB per connection of broker $1
		local c before during
		c=$(get "$1-memory" '.connections.connected')
		before=$(get "$1-rss" '.before_kb')
		during=$(get "$1-rss" '.during_kb')
		if [ -n "$c" ] && [ "$c" -gt 0 ]; then awk -v a="$before" -v b="$during" -v c="$c" 'BEGIN {printf "%.2f", (b - a) / c}'; fi
	}
	ours=""
	case " $brokers " in *" ours "*) ours=$(per ours) ;; esac
	for b in $brokers; do
		c=$(get "$b-memory" '.connections.connected')
		before=$(get "$b-rss" '.before_kb')
		during=$(get "$b-rss" '.during_kb')
		p=$(per "$b")
		printf '%s\t%s\t%s MiB\t%s MiB\t%s\t%s\n' "$b" "${c:-failed}" "$((${before:-0} / 1024))" "$((${during:-0} / 1024))" "${p:--}" "$(ratio "$ours" "$p")"
	done
} | column -t -s "$(printf '\t')"

printf '\nbench cost (CPU ns per message sent+received, from the %s runs)\n' "$(echo "$brokers" | awk '{print $1}')"
for s in $loads; do
	b=$(echo "$brokers" | awk '{print $1}')
	printf '  %-10s %s ns/msg, %s%% of a core\n' "$s" "$(get "$b-$s" '.bench.cpu_ns_per_msg | floor')" "$(get "$b-$s" '.bench.cpu_util * 100 | floor')"
done
printf '\ngenerator alone: 4 x bench pub into a sink that parses and acknowledges (scripts/mochi -sink)\n'
{
	printf 'load\tmsgs/s sent\tbench ns/msg\tbench CPU\tvs mosquitto fan-in\n'
	for l in "q0 fanin-q0" "q1 fanin-q1" "q1-w1000 fanin-q1"; do
		set -- $l
		r=$(get "sink-$1" '.rates.sent_per_s | floor')
		printf '%s\t%s\t%s\t%s%%\t%sx\n' "$1" "${r:-failed}" "$(get "sink-$1" '.bench.cpu_ns_per_msg | floor')" \
			"$(get "sink-$1" '.bench.cpu_util * 100 | floor')" "$(ratio "$r" "$(rate mosquitto "$2")")"
	done
} | column -t -s "$(printf '\t')"
fi
persist_tables
# Why a cell says n/a or failed, and what else bench reported going wrong.
notes=$(for f in "$out"/*.json; do
	n=$(basename "$f" .json)
	case "$n" in *-rss) continue ;; esac
	why=$(jq -r '.na // .failed // empty' "$f" 2>/dev/null | head -1 | sed 's/^mqtt bench: error: //')
	if [ -n "$why" ]; then printf '  %s: %s\n' "$n" "$why"; fi
	errs=$(jq -r '(.errors // [])[:3][]' "$f" 2>/dev/null || true)
	if [ -n "$errs" ]; then printf '%s\n' "$errs" | sed "s/^/  $n: bench reported: /"; fi
done)
if [ -n "$notes" ]; then printf '\nnotes\n%s\n' "$notes"; fi
[ -n "$keep" ] && printf '\nreports kept in %s\n' "$keep"
exit 0
