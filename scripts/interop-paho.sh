#!/usr/bin/env bash
# interop-paho.sh: run the Eclipse Paho interoperability suite
# (paho.mqtt.testing, interoperability/client_test.py for MQTT 3.1.1 and
# client_test5.py for MQTT 5.0) against `mqtt serve` on a loopback port.
#
#   scripts/interop-paho.sh SUITE_DIR [MQTT_BINARY]
#
# SUITE_DIR is a copy of paho.mqtt.testing/interoperability (client_test.py,
# client_test5.py and the mqtt/ package); this script fetches nothing.
# Without MQTT_BINARY it builds ./cmd/mqtt into a temporary directory.
#
# The broker runs with what the suite expects of its server: an ACL that
# refuses subscriptions to test/nosubscribe (test_subscribe_failure) and
# max_keepalive 60 (test_server_keep_alive). Left out, and why:
#   - client_test5 test_flow_control2 sends Receive Maximum + 1 QoS 2
#     PUBLISHes without reading; with our default Receive Maximum (65535)
#     that is 65,536 messages against a client that never drains its socket.
#     mqtt/broker TestPahoReceiveMaximumExceeded covers the behaviour.
# Known failure, a suite limitation rather than ours:
#   - client_test5 test_subscribe_failure: the suite's MQTT 5 SUBACK parser
#     accepts only 0, 1, 2 and 0x80 (the 3.1.1 rule); an MQTT 5 server may
#     answer a refused subscription with 0x87 Not authorized, as we do.
# Exit status: 0 when nothing else failed.
set -euo pipefail

suite=${1:?usage: $0 SUITE_DIR [MQTT_BINARY]}
suite=$(cd "$suite" && pwd)
for f in client_test.py client_test5.py mqtt; do
	[ -e "$suite/$f" ] || { echo "$0: $suite/$f not found: SUITE_DIR must be paho.mqtt.testing/interoperability" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "$0: python3 not found" >&2; exit 2; }

work=$(mktemp -d)
broker_pid=
cleanup() {
	[ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bin=${2:-}
if [ -z "$bin" ]; then
	bin=$work/mqtt
	(cd "$(dirname "$0")/.." && go build -o "$bin" ./cmd/mqtt)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'topic readwrite #\ntopic deny test/nosubscribe\n' >"$work/acl"
cat >"$work/mqtt.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
acl_file $work/acl
max_keepalive 60
EOF
"$bin" serve -c "$work/mqtt.conf" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.1
done

# client_test.py hands -h/-p to unittest, which rejects them; set the
# globals its __main__ block would set and run unittest directly.
cat >"$work/run.py" <<'EOF'
import sys, unittest, importlib, logging
d, modname, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, d)
m = importlib.import_module(modname)
m.host, m.port = host, port
base = ["TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA"]
wild = ["TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#"]
if modname == "client_test5":
    m.topic_prefix = "client_test5/"
    m.topics = [m.topic_prefix + t for t in base]
    m.wildtopics = [m.topic_prefix + t for t in wild]
else:
    m.topics, m.wildtopics = tuple(base), tuple(wild)
m.nosubscribe_topics = ("test/nosubscribe",)
logging.getLogger().setLevel(logging.ERROR)
unittest.main(module=m, argv=[modname] + sys.argv[5:], verbosity=2)
EOF

unexpected=0
run() { # name module tests...
	local name=$1 mod=$2 log=$work/$1.log
	shift 2
	echo "== $name ($mod)"
	timeout 600 python3 "$work/run.py" "$suite" "$mod" 127.0.0.1 "$port" "$@" >"$log" 2>&1 || true
	grep -E '^(Ran |OK|FAILED)' "$log" || echo "   no unittest summary (log: $log)"
	local failed
	failed=$(grep -E '^(FAIL|ERROR): ' "$log" | awk '{print $2}' || true)
	grep -qE '^(OK|FAILED)' "$log" || { unexpected=1; cp "$log" "/tmp/interop-paho-$name.log"; }
	for t in $failed; do
		case "$mod:$t" in
		client_test5:test_subscribe_failure) echo "   $t: known (suite accepts only 0x80 in an MQTT 5 SUBACK; we send 0x87)" ;;
		*)
			echo "   $t: UNEXPECTED"
			unexpected=1
			cp "$log" "/tmp/interop-paho-$name.log"
			;;
		esac
	done
}

run v3.1.1 client_test
mapfile -t v5tests < <(grep -o 'def test_[a-z0-9_]*' "$suite/client_test5.py" | sed 's/def /Test./' | grep -v 'test_flow_control2$')
run v5 client_test5 "${v5tests[@]}"

if [ "$unexpected" != 0 ]; then
	cp "$work/broker.log" /tmp/interop-paho-broker.log
	echo "unexpected failures; logs kept in /tmp/interop-paho-*.log" >&2
	exit 1
fi
