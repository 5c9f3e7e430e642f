package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Interrupted {
		t.Fatalf("run timed out: %+v", rep)
	}
	return rep
}

// An outside mosquitto_sub sees exactly as many messages as bench says it published.
func TestPubWitness(t *testing.T) {
	subBin := testutil.RequireTool(t, "mosquitto_sub")
	m := testutil.StartMosquitto(t, "log_type all")
	const clients, count = 3, 200
	total := clients * count
	// One more than expected with -W: the witness prints every message and then times out,
	// so a surplus would show too.
	cmd := exec.Command(subBin, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-t", "bench/#", "-q", "1",
		"-F", "%t", "-i", "witness", "-C", strconv.Itoa(total+1), "-W", "3")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	counted := make(chan int, 1)
	go func() {
		n := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "bench/") {
				n++
			}
		}
		counted <- n
	}()
	// The witness's stdout is a pipe, so it is flushed only at exit; the broker's log
	// says when the subscription is in place.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(m.Log(), "Sending SUBACK to witness"); {
		if time.Now().After(deadline) {
			t.Fatal("mosquitto_sub did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep := run(t, Config{Scenario: ScenarioPub, Server: m.Addr, Clients: clients, Count: count, QoS: 1, Topic: "bench/%i/x"})
	if rep.Messages.Sent != uint64(total) || rep.Messages.Acked != uint64(total) {
		t.Fatalf("sent %d acked %d, want %d", rep.Messages.Sent, rep.Messages.Acked, total)
	}
	select {
	case n := <-counted:
		if n != total {
			t.Fatalf("witness saw %d messages, bench published %d", n, total)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("witness did not finish")
	}
	_ = cmd.Wait()
}

func TestPubSub(t *testing.T) {
	m := testutil.StartMosquitto(t)
	for _, tc := range []struct {
		name          string
		version, qos  byte
		pubs, subs, n int
		subTopic      string
		wantPerPub    int // subscribers per publisher
	}{
		{"fan-in qos0", packet.V311, 0, 3, 1, 200, "", 1},
		{"fan-out qos1 v5", packet.V5, 1, 1, 3, 300, "", 3},
		{"pairs qos2", packet.V311, 2, 3, 3, 200, "bench/%i", 1},
		{"qos1 v3.1", packet.V31, 1, 2, 2, 200, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Version: tc.version, QoS: tc.qos,
				Clients: tc.pubs, Subs: tc.subs, Count: tc.n, SubTopic: tc.subTopic, IDPrefix: "b" + strconv.Itoa(tc.pubs)})
			want := uint64(tc.pubs * tc.n * tc.wantPerPub)
			msg := rep.Messages
			if msg.Sent != uint64(tc.pubs*tc.n) || msg.Expected != want || msg.Received != want || msg.Lost != 0 || msg.Duplicated != 0 {
				t.Fatalf("messages %+v, want %d received and no loss; errors %v", msg, want, rep.Errors)
			}
			if rep.Latency.Count != int64(want) || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.Latency.Max < rep.Latency.P999 {
				t.Fatalf("latency %+v", rep.Latency)
			}
			if rep.Connections.Connected != tc.pubs+tc.subs || rep.Connections.Lost != 0 {
				t.Fatalf("connections %+v", rep.Connections)
			}
			if rep.Rates.SentPerS <= 0 || rep.Bench.NsPerMsg <= 0 {
				t.Fatalf("rates %+v bench %+v", rep.Rates, rep.Bench)
			}
		})
	}
}

// A rate-limited publisher keeps to its rate, and --duration ends the run.
func TestRateAndDuration(t *testing.T) {
	m := testutil.StartMosquitto(t)
	rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Clients: 2, Rate: 200, Duration: time.Second})
	// Timers are late on a loaded machine, so compare with the time the run really took.
	s := rep.Messages.Sent
	if limit := uint64(2 * (200*rep.Durations.Run + 2)); s < 100 || s > limit {
		t.Fatalf("sent %d at 2×200/s in %.2fs (at most %d)", s, rep.Durations.Run, limit)
	}
	if rep.Messages.Lost != 0 || rep.Messages.Received != s {
		t.Fatalf("messages %+v", rep.Messages)
	}
}

// bench sub checks payloads of a bench pub in another run.
func TestSubAgainstPub(t *testing.T) {
	m := testutil.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(ctx, Config{Scenario: ScenarioSub, Server: m.Addr, Clients: 2, Count: 300, QoS: 1, Topic: "bench/#", IDPrefix: "sub"})
		done <- result{rep, err}
	}()
	time.Sleep(500 * time.Millisecond) // let the subscribers subscribe
	run(t, Config{Scenario: ScenarioPub, Server: m.Addr, Clients: 1, Count: 300, QoS: 1, IDPrefix: "pub"})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rep.Messages.Received != 600 || r.rep.Messages.Lost != 0 || r.rep.Messages.Expected != 600 || r.rep.Latency.Count != 600 {
		t.Fatalf("sub report %+v", r.rep.Messages)
	}
}

func TestConn500(t *testing.T) {
	m := testutil.StartMosquitto(t)
	rep := run(t, Config{Scenario: ScenarioConn, Server: m.Addr, Clients: 500, Duration: 200 * time.Millisecond, KeepAlive: 30})
	c := rep.Connections
	if c.Attempted != 500 || c.Connected != 500 || c.Failed != 0 || c.Lost != 0 {
		t.Fatalf("connections %+v, errors %v", c, rep.Errors)
	}
	if c.Connack.Count != 500 || c.RatePerS <= 0 {
		t.Fatalf("connack %+v", c)
	}
	// The bench's own CPU time for the connects and the hold, as the other scenarios report
	// theirs (it stayed 0).
	if b := rep.Bench; b.CPUSeconds <= 0 || b.CPUUtil <= 0 || b.NsPerMsg != 0 {
		t.Fatalf("bench cost %+v, want CPU time and utilisation, no ns per message", b)
	}
}

func TestRefused(t *testing.T) {
	m := testutil.StartMosquitto(t, "allow_anonymous false")
	for _, v := range []byte{packet.V311, packet.V5} {
		rep, err := Run(context.Background(), Config{Scenario: ScenarioConn, Server: m.Addr, Clients: 3, Version: v})
		if !errors.Is(err, ErrAllFailed) {
			t.Fatalf("v%d: err %v, want ErrAllFailed", v, err)
		}
		want := "CONNACK return code 5 (not authorised)"
		if v == packet.V5 {
			want = "CONNACK reason code 0x87"
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("v%d: error %q does not name the CONNACK code (%s)", v, err, want)
		}
		if rep.Connections.Failed != 3 || rep.Connections.Connected != 0 {
			t.Fatalf("connections %+v", rep.Connections)
		}
	}
}

func TestUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	_, err := Run(context.Background(), Config{Scenario: ScenarioPubSub, Server: addr})
	if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v", err)
	}
}

// Ctrl-C (a cancelled context) ends a run early with the summary so far.
func TestInterrupt(t *testing.T) {
	m := testutil.StartMosquitto(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	rep, err := Run(ctx, Config{Scenario: ScenarioPubSub, Server: m.Addr, Rate: 100, Duration: time.Minute, QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || time.Since(start) > 10*time.Second || rep.Messages.Sent == 0 {
		t.Fatalf("interrupted %v after %s, sent %d", rep.Interrupted, time.Since(start), rep.Messages.Sent)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scenario: "x"}, "unknown scenario"},
		{Config{Scenario: ScenarioPub, Size: 10}, "-s/--size must be at least 24"},
		{Config{Scenario: ScenarioPub, Topic: "a/#"}, "-t/--topic"},
		{Config{Scenario: ScenarioPubSub, SubTopic: "a/#/b"}, "--sub-topic"},
		{Config{Scenario: ScenarioPub, QoS: 3}, "-q/--qos"},
		{Config{Scenario: ScenarioPub, Inflight: 70000}, "--inflight"},
		{Config{Scenario: ScenarioPub, Subs: 2}, "--subs applies to pubsub and retained only"},
		{Config{Scenario: ScenarioPub, TopicAlias: true}, "--topic-alias needs MQTT 5"},
		{Config{Scenario: ScenarioConn, TopicAlias: true, Version: 5}, "--topic-alias applies to pub and pubsub only"},
		{Config{Scenario: ScenarioPub, Stagger: true}, "--stagger needs --rate"},
		{Config{Scenario: ScenarioPub, Index: 10}, "--index applies to pubsub only"},
		{Config{Scenario: ScenarioPubSub, Index: 10, IndexTopic: "idx/%i"}, "must contain %n"},
		{Config{Scenario: ScenarioPubSub, Index: 10, IndexTopic: "idx/#/%n"}, "--index-topic"},
		{Config{Scenario: ScenarioPub, Topic: "a/%n"}, "applies to the retained scenario only"},
		{Config{Scenario: ScenarioRetained, Topic: "a/%i"}, "must contain %n"},
		{Config{Scenario: ScenarioRetained, SubTopic: "a/#/b"}, "--sub-topic"},
		{Config{Scenario: ScenarioRetained, SN: true, SNGateway: "127.0.0.1:1"}, "--sn applies to pub, pubsub and conn"},
		{Config{Scenario: ScenarioPub, SN: true, SNGateway: "127.0.0.1:1", TopicAlias: true, Version: 5}, "--topic-alias does not apply with --sn"},
		{Config{Scenario: ScenarioPub, SN: true, SNGateway: "127.0.0.1:1", Stagger: true, Rate: 1}, "--stagger does not apply with --sn"},
	} {
		c := tc.cfg
		c.Server = "127.0.0.1:1"
		c.setDefaults()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	if got := expand("a/%i/%c/%%/x%", 7, "id"); got != "a/7/id/%/x%" {
		t.Fatalf("expand: %q", got)
	}
	if got := expandN("a/%i/%n/%%n", 7, "id", 42); got != "a/7/42/%n" {
		t.Fatalf("expandN: %q", got)
	}
	if got := expand("a/%n", 7, "id"); got != "a/%n" {
		t.Fatalf("expand leaves %%n alone: %q", got)
	}
	for tmpl, want := range map[string]string{
		"bench/%i": "bench/+", "bench/%i/x": "bench/+/x", "b/c%i/%c": "b/+/+", "fixed": "fixed", "r/%i/%n": "r/+/+",
	} {
		c := Config{Topic: tmpl}
		if got := c.subFilterTemplate(); got != want {
			t.Errorf("filter for %q: %q, want %q", tmpl, got, want)
		}
	}
}

func TestTrack(t *testing.T) {
	var tr pubTrack
	for _, s := range []uint64{0, 1, 3, 2, 2, 200, 5, 0} {
		tr.add(s)
	}
	if tr.unique != 6 || tr.dups != 2 || tr.outOfOrder != 2 || tr.minSeq != 0 || tr.maxSeq != 200 {
		t.Fatalf("%+v", tr)
	}
}

func TestPublishPayload(t *testing.T) {
	for _, v := range []byte{packet.V311, packet.V5} {
		for qos := byte(0); qos < 3; qos++ {
			p := &packet.Publish{Topic: "a/b", QoS: qos, Payload: []byte("hello")}
			if qos > 0 {
				p.PacketID = 42
			}
			if v == packet.V5 {
				p.Properties.ContentType = "text/plain"
			}
			b, err := packet.Append(nil, p, v)
			if err != nil {
				t.Fatal(err)
			}
			first, _, n, _ := packet.ParseHeader(b)
			q, id, payload, ok := publishPayload(v, first, b[n:])
			if !ok || q != qos || id != p.PacketID || string(payload) != "hello" {
				t.Fatalf("v%d qos%d: %d %d %q %v", v, qos, q, id, payload, ok)
			}
		}
	}
}

// Messages a broker drops never arrive: the drain ends once nothing arrives for a second,
// long before --drain, and the report counts them lost. Mosquitto drops every PUBLISH above
// message_size_limit.
func TestDrainEndsWhenNothingArrives(t *testing.T) {
	m := testutil.StartMosquitto(t, "message_size_limit 100")
	rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Count: 10, Size: 200, Drain: 40 * time.Second})
	if rep.Messages.Sent != 10 || rep.Messages.Received != 0 || rep.Messages.Lost != 10 {
		t.Fatalf("messages %+v, want 10 sent and lost", rep.Messages)
	}
	if rep.Durations.Drain >= 20 {
		t.Fatalf("drained for %.1fs with nothing arriving", rep.Durations.Drain)
	}
}

// The drain stops at --drain or after quietDrain with nothing arriving; only the first,
// while messages still arrive, marks the loss as possibly late.
func TestDrainEnds(t *testing.T) {
	t0 := time.Now()
	for _, c := range []struct {
		name                string
		now, deadline, last time.Duration // from t0
		stop, cut           bool
	}{
		{"arriving, before --drain", 500 * time.Millisecond, 2 * time.Second, 400 * time.Millisecond, false, false},
		{"quiet for a second", 1500 * time.Millisecond, 2 * time.Second, 400 * time.Millisecond, true, false},
		{"--drain while arriving", 2 * time.Second, 2 * time.Second, 1900 * time.Millisecond, true, true},
		{"--drain while quiet", 3 * time.Second, 2 * time.Second, 1 * time.Second, true, false},
	} {
		stop, cut := drainEnds(t0.Add(c.now), t0.Add(c.deadline), t0.Add(c.last))
		if stop != c.stop || cut != c.cut {
			t.Errorf("%s: stop %v cut %v, want %v %v", c.name, stop, cut, c.stop, c.cut)
		}
	}
}

// A subscriber that resumes its session (--disable-clean-session) gets
// the messages queued for it, which a broker may send before SUBACK
// [MQTT-3.8.4]: they are acknowledged and counted, not dropped
// unacknowledged while the SUBACK is awaited (a fresh tester's find).
func TestSubResumesSession(t *testing.T) {
	m := testutil.StartMosquitto(t)
	sub := Config{Scenario: ScenarioSub, Server: m.Addr, Clients: 1, QoS: 1, Topic: "resume/%i", IDPrefix: "keep",
		KeepSession: true, Duration: 100 * time.Millisecond}
	run(t, sub) // makes the session and its subscription
	run(t, Config{Scenario: ScenarioPub, Server: m.Addr, Clients: 1, Count: 3, QoS: 1, Topic: "resume/%i", IDPrefix: "pub"})
	sub.Count, sub.Duration = 3, 10*time.Second
	start := time.Now()
	rep := run(t, sub)
	if rep.Messages.Received != 3 || rep.Messages.Lost != 0 {
		t.Fatalf("resumed subscriber: %+v", rep.Messages)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("it ran %v: it did not see its 3 messages arrive", d)
	}
}
