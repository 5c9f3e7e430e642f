package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// benchArgs is `mqtt bench SCENARIO` against 127.0.0.1:port plus args.
func benchArgs(scenario string, port int, args ...string) []string {
	return append([]string{"mqtt", "bench", scenario, "-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
}

// benchJSON runs bench with --json, checks it succeeded with nothing on stderr (not a
// terminal: no progress), and decodes the document.
func benchJSON(t *testing.T, argv ...string) map[string]any {
	t.Helper()
	code, out, errOut := runArgs(append(argv, "--json")...)
	if code != 0 || errOut != "" {
		t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", argv, code, out, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	return doc
}

// num reads a number at a dotted path of a decoded JSON document, failing when it is absent.
func num(t *testing.T, doc map[string]any, path string) float64 {
	t.Helper()
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("JSON has no %s", path)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("JSON has no %s", path)
		}
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("JSON %s = %v, want a number", path, v)
	}
	return f
}

// The --json document parses and carries rates per second, counts and latency percentiles in
// microseconds; %c in -t names the client.
func TestBenchJSON(t *testing.T) {
	m := startBroker(t)
	doc := benchJSON(t, benchArgs("pubsub", m.Port, "-c", "2", "--subs", "2", "-n", "200", "-q", "1",
		"-V", "5", "-t", "b/%c/x", "-s", "100", "-i", "jsontest")...)
	if doc["scenario"] != "pubsub" || doc["interrupted"] != false {
		t.Fatalf("scenario %v interrupted %v", doc["scenario"], doc["interrupted"])
	}
	want := map[string]float64{
		"messages.sent": 400, "messages.acked": 400, "messages.received": 800, "messages.expected": 800,
		"messages.lost": 0, "messages.duplicated": 0, "messages.out_of_order": 0,
		"connections.connected": 4, "connections.failed": 0, "connections.lost": 0,
		"latency_us.count": 800, "config.size": 100, "config.qos": 1, "config.protocol_version": 5,
	}
	for path, v := range want {
		if got := num(t, doc, path); got != v {
			t.Errorf("%s = %v, want %v", path, got, v)
		}
	}
	for _, path := range []string{"rates.sent_per_s", "rates.received_per_s", "connections.rate_per_s",
		"latency_us.p50", "latency_us.max", "connections.connack_latency_us.p50", "bench.cpu_ns_per_msg", "durations.run_s"} {
		if num(t, doc, path) <= 0 {
			t.Errorf("%s is not positive", path)
		}
	}
	p := []float64{num(t, doc, "latency_us.p50"), num(t, doc, "latency_us.p90"), num(t, doc, "latency_us.p99"),
		num(t, doc, "latency_us.p99_9"), num(t, doc, "latency_us.max")}
	for i := 1; i < len(p); i++ {
		if p[i] < p[i-1] {
			t.Errorf("latency percentiles not ordered: %v", p)
		}
	}
	if cfg := doc["config"].(map[string]any); cfg["sub_topic"] != "b/+/x" || cfg["client_id_prefix"] != "jsontest" {
		t.Errorf("config %v", cfg)
	}
}

// The table goes to stdout; -r publishes retained messages; --rate and --duration bound the run.
func TestBenchTableRetainedRate(t *testing.T) {
	m := startBroker(t)
	code, out, errOut := runArgs(benchArgs("pub", m.Port, "-c", "2", "--rate", "50", "--duration", "400ms", "-r", "-t", "ret/%i", "-q", "1")...)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, s := range []string{"mqtt bench pub → tcp://127.0.0.1:", "QoS 1, 64 B", "2 connected, 0 failed", "acknowledged", "bench CPU"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "interrupted") {
		t.Errorf("a run that ended by --duration says interrupted:\n%s", out)
	}
	ch, _ := subscriber(t, m, "ret/#", 0, 4)
	got := map[string]bool{}
	for deadline := time.After(5 * time.Second); len(got) < 2; {
		select {
		case msg := <-ch:
			if !msg.Retain || len(msg.Payload) != 64 {
				t.Fatalf("message on %s: retain %v, %d bytes", msg.Topic, msg.Retain, len(msg.Payload))
			}
			got[msg.Topic] = true
		case <-deadline:
			t.Fatalf("retained messages: %v, want ret/0 and ret/1", got)
		}
	}
}

// Bad flags: a message naming the flag, exit 1, nothing on stdout, no stack trace.
func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mqtt", "bench"}, "missing scenario"},
		{[]string{"mqtt", "bench", "flood"}, `unknown bench scenario "flood": expected conn, pub, sub, pubsub or retained`},
		{[]string{"mqtt", "bench", "-c", "3", "pub"}, "give the options after the scenario"},
		{[]string{"mqtt", "bench", "pub", "extra"}, `unexpected argument "extra"`},
		{[]string{"mqtt", "bench", "pub", "-c", "0"}, "-c/--clients must be at least 1"},
		{[]string{"mqtt", "bench", "pub", "-c", "x"}, "-c"},
		{[]string{"mqtt", "bench", "pub", "-n", "-5"}, "-n/--count must not be negative"},
		{[]string{"mqtt", "bench", "pub", "--rate", "fast"}, "--rate"},
		{[]string{"mqtt", "bench", "pub", "--rate", "-1"}, "--rate must not be negative"},
		{[]string{"mqtt", "bench", "pub", "--duration", "10"}, "--duration"},
		{[]string{"mqtt", "bench", "pub", "-q", "3"}, "-q"},
		{[]string{"mqtt", "bench", "pub", "-s", "8"}, "-s/--size must be at least 24"},
		{[]string{"mqtt", "bench", "pub", "-t", "a/+/%i"}, "-t/--topic"},
		{[]string{"mqtt", "bench", "sub", "-t", "a/#/b"}, "-t/--topic"},
		{[]string{"mqtt", "bench", "pub", "--subs", "2"}, "--subs applies to pubsub and retained only"},
		{[]string{"mqtt", "bench", "pub", "--topic-alias"}, "--topic-alias needs MQTT 5"},
		{[]string{"mqtt", "bench", "conn", "--topic-alias", "-V", "5"}, "does not apply to conn"},
		{[]string{"mqtt", "bench", "pub", "--stagger"}, "--stagger needs --rate"},
		{[]string{"mqtt", "bench", "pub", "--index", "10"}, "--index applies to pubsub only"},
		{[]string{"mqtt", "bench", "pubsub", "--index", "-1"}, "--index must not be negative"},
		{[]string{"mqtt", "bench", "pubsub", "--index", "10", "--index-topic", "x/%i"}, "--index-topic \"x/%i\" must contain %n"},
		{[]string{"mqtt", "bench", "pubsub", "--index-topic", "x/%n"}, "--index-topic needs --index"},
		{[]string{"mqtt", "bench", "pubsub", "--broker-pid", "0"}, "--broker-pid must be a process id"},
		{[]string{"mqtt", "bench", "pubsub", "--broker-pid", "x"}, "--broker-pid"},
		{[]string{"mqtt", "bench", "retained", "--duration", "5s"}, "--duration does not apply to retained"},
		{[]string{"mqtt", "bench", "retained", "-r"}, "--retain does not apply to retained"},
		{[]string{"mqtt", "bench", "retained", "-t", "r/%i"}, "must contain %n"},
		{[]string{"mqtt", "bench", "pub", "-t", "r/%n"}, "applies to the retained scenario only"},
		{[]string{"mqtt", "bench", "pub", "-D", "subscribe", "user-property", "a", "b"}, "-D/--property"},
		{[]string{"mqtt", "bench", "pubsub", "--subs", "0"}, "--subs must be at least 1"},
		{[]string{"mqtt", "bench", "pubsub", "--sub-topic", "a/#/b"}, "--sub-topic"},
		{[]string{"mqtt", "bench", "conn", "-n", "5"}, "does not apply to conn"},
		{[]string{"mqtt", "bench", "conn", "-t", "x"}, "does not apply to conn"},
		{[]string{"mqtt", "bench", "pub", "--inflight", "0"}, "--inflight must be 1 to 65535"},
		{[]string{"mqtt", "bench", "pub", "--interval", "-1s"}, "--interval must not be negative"},
		{[]string{"mqtt", "bench", "pub", "--will-topic", "w"}, "bench clients send no will"},
		{[]string{"mqtt", "bench", "pub", "-V", "7"}, "-V"},
		{[]string{"mqtt", "bench", "pub", "--cafile", "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{[]string{"mqtt", "bench", "pub", "--no-such-flag"}, "no-such-flag"},
	} {
		code, out, errOut := runArgs(tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args[1:], code, out, errOut, tc.want)
		}
		noStackTrace(t, errOut)
	}
}

// The new scenarios and flags against a real broker: a subscribe storm onto retained
// messages, MQTT 5 with topic aliases and -D publish properties at QoS 2, a staggered
// paced fleet with an --index of subscriptions, and --broker-pid naming the broker.
func TestBenchNewScenarios(t *testing.T) {
	m := startBroker(t)
	pid := strconv.Itoa(m.PID)
	doc := benchJSON(t, benchArgs("retained", m.Port, "-c", "2", "-n", "250", "--subs", "4", "--sub-topic", "#", "--broker-pid", pid)...)
	for path, v := range map[string]float64{"retained.stored": 500, "retained.subscribers": 4, "retained.complete": 4,
		"messages.expected": 2000, "messages.received": 2000, "messages.lost": 0, "broker.pid": float64(m.PID)} {
		if got := num(t, doc, path); got != v {
			t.Errorf("retained: %s = %v, want %v", path, got, v)
		}
	}
	for _, path := range []string{"retained.all_s", "retained.first_s", "broker.rss_kb", "broker.rss_peak_kb"} {
		if num(t, doc, path) <= 0 {
			t.Errorf("retained: %s is not positive", path)
		}
	}
	if cfg := doc["config"].(map[string]any); cfg["topic"] != "bench/retained/%i/%n" || cfg["sub_topic"] != "#" {
		t.Errorf("retained config %v", cfg)
	}

	doc = benchJSON(t, benchArgs("pubsub", m.Port, "-V", "5", "--topic-alias", "-D", "publish", "user-property", "k", "v",
		"-D", "publish", "content-type", "x/y", "-q", "2", "-c", "3", "--subs", "3", "-t", "v5/%i", "--sub-topic", "v5/%i", "-n", "200")...)
	if num(t, doc, "messages.received") != 600 || num(t, doc, "messages.lost") != 0 || num(t, doc, "messages.acked") != 600 ||
		doc["config"].(map[string]any)["topic_alias"] != true {
		t.Errorf("v5 aliases: messages %v config %v errors %v", doc["messages"], doc["config"], doc["errors"])
	}

	doc = benchJSON(t, benchArgs("pubsub", m.Port, "-c", "20", "--subs", "2", "-t", "fleet/%i", "--rate", "5", "--stagger",
		"-n", "3", "--index", "12000", "--broker-pid", pid)...)
	if num(t, doc, "messages.received") != 120 || num(t, doc, "messages.lost") != 0 ||
		num(t, doc, "index.subscriptions") != 12000 || num(t, doc, "index.connections") != 2 || num(t, doc, "broker.cpu_s") < 0 {
		t.Errorf("fleet: messages %v index %v broker %v errors %v", doc["messages"], doc["index"], doc["broker"], doc["errors"])
	}

	code, out, errOut := runArgs(benchArgs("retained", m.Port, "-n", "10")...)
	if code != 0 || !strings.Contains(out, "subscribe storm") || !strings.Contains(out, "1 of 1 subscribers got all") {
		t.Errorf("retained table: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Nothing listening: a clear error and exit 1, for every scenario.
func TestBenchUnreachable(t *testing.T) {
	port := testutil.FreePort(t)
	for _, s := range []string{"conn", "pub", "sub", "pubsub", "retained"} {
		code, out, errOut := runArgs(benchArgs(s, port, "-n", "1")...)
		if s == "conn" {
			code, out, errOut = runArgs(benchArgs(s, port)...)
		}
		if code != 1 || out != "" || !strings.Contains(errOut, "every connection failed") || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", s, code, out, errOut)
		}
	}
}

// A broker that refuses every CONNECT: exit 1 naming the CONNACK code.
func TestBenchRefused(t *testing.T) {
	m := startBroker(t, "allow_anonymous false")
	code, _, errOut := runArgs(benchArgs("pubsub", m.Port)...)
	if code != 1 || !strings.Contains(errOut, "not authorised") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// Some connects fail while others succeed: counted and reported, exit 0. The broker is a
// stub that accepts the first 5 CONNECTs and refuses the rest (Mosquitto's max_connections
// lets a burst of connects through).
func TestBenchSomeConnectsFail(t *testing.T) {
	port := stubBroker(t, 5)
	doc := benchJSON(t, benchArgs("conn", port, "-c", "8", "--duration", "300ms")...)
	if a, c, f := num(t, doc, "connections.attempted"), num(t, doc, "connections.connected"), num(t, doc, "connections.failed"); a != 8 || c != 5 || f != 3 {
		t.Fatalf("attempted %v connected %v failed %v, want 8, 5, 3", a, c, f)
	}
	if errs, _ := doc["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(string), "server unavailable") {
		t.Fatalf("errors %v, want the CONNACK code of the 3 refused", doc["errors"])
	}
}

// Connections the broker drops while bench holds them are counted lost, not fatal.
func TestBenchConnectionsLostMidRun(t *testing.T) {
	port := stubBrokerDropping(t, 3, 200*time.Millisecond)
	doc := benchJSON(t, benchArgs("conn", port, "-c", "3", "--duration", "2s")...)
	if c, l := num(t, doc, "connections.connected"), num(t, doc, "connections.lost"); c != 3 || l != 3 {
		t.Fatalf("connected %v lost %v, want 3 and 3; errors %v", c, l, doc["errors"])
	}
	if errs, _ := doc["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(string), "connection lost") {
		t.Fatalf("errors %v", doc["errors"])
	}
}

// A unix socket (--unix) to Mosquitto.
func TestBenchUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "mqb") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := dir + "/m.sock"
	startBroker(t, "listener 0 "+sock)
	doc := benchJSON(t, "mqtt", "bench", "pubsub", "--unix", sock, "-c", "2", "-n", "100", "-q", "1")
	if num(t, doc, "messages.received") != 200 || num(t, doc, "messages.lost") != 0 {
		t.Fatalf("messages %v", doc["messages"])
	}
}

// stubBroker listens on loopback and answers CONNECT with CONNACK: accepted for the first
// accept connections, return code 3 (server unavailable) after that. It reads nothing else.
func stubBroker(t *testing.T, accept int) int { return stubBrokerDropping(t, accept, 0) }

// stubBrokerDropping is stubBroker closing every accepted connection after drop (0: never).
func stubBrokerDropping(t *testing.T, accept int, drop time.Duration) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var mu sync.Mutex
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := packet.ReadPacket(bufio.NewReader(c), packet.V311, 0); err != nil {
					return
				}
				mu.Lock()
				n++
				ok := n <= accept
				mu.Unlock()
				rc := byte(0)
				if !ok {
					rc = 3
				}
				if _, err := c.Write([]byte{0x20, 0x02, 0x00, rc}); err != nil || !ok {
					return
				}
				if drop > 0 {
					time.AfterFunc(drop, func() { c.Close() })
				}
				_, _ = io.Copy(io.Discard, c) // hold it until the client goes
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// 500 connections held open, then closed.
func TestBenchConn500(t *testing.T) {
	m := startBroker(t)
	doc := benchJSON(t, benchArgs("conn", m.Port, "-c", "500", "--duration", "200ms", "-k", "30")...)
	if c, f := num(t, doc, "connections.connected"), num(t, doc, "connections.failed"); c != 500 || f != 0 {
		t.Fatalf("connected %v failed %v, errors %v", c, f, doc["errors"])
	}
	if num(t, doc, "connections.connack_latency_us.count") != 500 {
		t.Fatal("CONNACK latency not measured for every connection")
	}
	if num(t, doc, "bench.cpu_s") <= 0 || num(t, doc, "bench.cpu_util") <= 0 {
		t.Fatalf("bench CPU not measured: %v", doc["bench"])
	}
	// The table: CPU time and share of a core; conn has no messages to divide it by.
	code, out, errOut := runArgs(benchArgs("conn", m.Port, "-c", "20")...)
	if code != 0 || !regexp.MustCompile(`(?m)^bench CPU +\d+\.\d\d s, \d+% of a core$`).MatchString(out) {
		t.Fatalf("conn table: exit %d\n%s\n%s", code, out, errOut)
	}
}

// --fail-on-loss exits 1 when a sequence number is missing. The publisher is hand-made:
// sequence numbers 0 and 2 of one bench publisher, so bench sub counts 1 lost.
func TestBenchFailOnLoss(t *testing.T) {
	m := startBroker(t)
	type res struct {
		code        int
		out, errOut string
	}
	done := make(chan res, 1)
	go func() {
		code, out, errOut := runArgs(benchArgs("sub", m.Port, "-t", "loss/#", "-n", "2", "--duration", "20s", "-q", "1",
			"-i", "lossy", "--fail-on-loss", "--json")...)
		done <- res{code, out, errOut}
	}()
	waitSubscribed(t, m, "lossy-s0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Server: m.Addr, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, seq := range []uint64{0, 2} {
		p := make([]byte, 24)
		binary.BigEndian.PutUint16(p, 0x6d42) // the bench header: magic, run, publisher, sequence, time
		binary.BigEndian.PutUint16(p[2:], 7)
		binary.BigEndian.PutUint64(p[8:], seq)
		binary.BigEndian.PutUint64(p[16:], uint64(time.Now().UnixNano()))
		if err := c.Publish(ctx, client.Message{Topic: "loss/x", Payload: p, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var r res
	select {
	case r = <-done:
	case <-time.After(10 * time.Second): // --duration is 20s: -n must end it first
		t.Fatal("bench sub did not stop after -n messages")
	}
	if r.code != 1 || !strings.Contains(r.errOut, "1 messages lost (--fail-on-loss)") {
		t.Fatalf("exit %d, stderr %q", r.code, r.errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("report: %v\n%s", err, r.out)
	}
	if num(t, doc, "messages.received") != 2 || num(t, doc, "messages.expected") != 3 || num(t, doc, "messages.lost") != 1 {
		t.Fatalf("messages %v", doc["messages"])
	}
}

// Ctrl-C ends a run early and prints the summary so far.
func TestBenchInterrupt(t *testing.T) {
	m := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := mqttCmd(ctx, benchArgs("pubsub", m.Port, "--rate", "100", "--duration", "1m", "-q", "1", "-i", "intr", "--json")[1:]...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, m, "intr-s0")
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err != nil || time.Since(start) > 15*time.Second {
		t.Fatalf("after SIGINT: %v after %s\nstderr: %s", err, time.Since(start), errb.String())
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if doc["interrupted"] != true || num(t, doc, "messages.sent") == 0 || num(t, doc, "messages.received") == 0 {
		t.Fatalf("report after SIGINT: interrupted %v, messages %v", doc["interrupted"], doc["messages"])
	}
}

// TLS with --cafile against Mosquitto; the wrong CA fails with a certificate error.
func TestBenchTLS(t *testing.T) {
	ca := testcerts.New(t, "ca")
	wrong := testcerts.New(t, "wrong")
	m := startBroker(t, "certfile "+ca.ServerCert, "keyfile "+ca.ServerKey)
	doc := benchJSON(t, benchArgs("pubsub", m.Port, "--cafile", ca.CAFile, "-c", "2", "-n", "100", "-q", "1")...)
	if num(t, doc, "messages.received") != 200 || num(t, doc, "messages.lost") != 0 {
		t.Fatalf("messages %v", doc["messages"])
	}
	if cfg := doc["config"].(map[string]any); !strings.HasPrefix(cfg["server"].(string), "tls://") {
		t.Fatalf("server %v", cfg["server"])
	}
	code, _, errOut := runArgs(benchArgs("conn", m.Port, "--cafile", wrong.CAFile)...)
	if code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("wrong CA: exit %d, stderr %q", code, errOut)
	}
}

// Websockets (--ws, plain and over TLS) against our broker: Mosquitto's websockets listener
// does not start in every build.
func TestBenchWebsockets(t *testing.T) {
	ca := testcerts.New(t, "ca")
	opts := broker.DefaultOptions()
	opts.Listeners = nil
	b, err := broker.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	defer func() { cancel(); <-done; <-done }()
	serve := func(spec listener.Spec) int {
		ln, err := listener.Open(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		go func() { defer func() { done <- struct{}{} }(); _ = b.ServeListener(ctx, ln) }()
		return ln.Addr().(*net.TCPAddr).Port
	}
	wsPort := serve(listener.Spec{Network: "tcp4", Address: "127.0.0.1:0", Protocol: "websockets"})
	wssPort := serve(listener.Spec{Network: "tcp4", Address: "127.0.0.1:0", Protocol: "websockets",
		TLS: &listener.TLSSpec{CertFile: ca.ServerCert, KeyFile: ca.ServerKey}})
	for name, args := range map[string][]string{
		"ws":  benchArgs("pubsub", wsPort, "--ws", "-c", "2", "--subs", "2", "-n", "100", "-q", "2", "-V", "5"),
		"wss": benchArgs("pubsub", wssPort, "--ws", "--cafile", ca.CAFile, "-c", "2", "-n", "100", "-q", "1"),
	} {
		doc := benchJSON(t, args...)
		want := 200.0
		if name == "ws" {
			want = 400
		}
		if got := num(t, doc, "messages.received"); got != want || num(t, doc, "messages.lost") != 0 {
			t.Errorf("%s: messages %v", name, doc["messages"])
		}
		if srv := doc["config"].(map[string]any)["server"].(string); !strings.HasPrefix(srv, name+"://") {
			t.Errorf("%s: server %s", name, srv)
		}
	}
}
