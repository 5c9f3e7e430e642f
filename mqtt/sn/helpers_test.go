package sn

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/client"
)

// readWatch is the test broker's Authorizer: it allows everything and records which client
// was handed which topic (CanRead runs per delivery), so a test knows when an outside
// subscriber is subscribed.
type readWatch struct {
	broker.AllowAll
	mu    sync.Mutex
	reads map[string]bool // clientID + " " + topic
}

func (w *readWatch) CanRead(_ context.Context, c broker.ClientInfo, topic string) bool {
	w.mu.Lock()
	w.reads[c.ClientID+" "+topic] = true
	w.mu.Unlock()
	return true
}

func (w *readWatch) saw(clientID, topic string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reads[clientID+" "+topic]
}

var brokerWatch sync.Map // broker address -> *readWatch
var brokers sync.Map     // broker address -> *broker.Broker

// startBroker runs an mqtt/broker on a loopback port for one test and returns its address.
func startBroker(t testing.TB) string {
	t.Helper()
	o := broker.DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.SysInterval = 0
	w := &readWatch{reads: map[string]bool{}}
	o.Authorizer = w
	b, err := broker.New(o, slog.New(&testutil.LogLines{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := b.Addrs()[0].String()
	brokerWatch.Store(addr, w)
	brokers.Store(addr, b)
	t.Cleanup(func() { b.Close(); brokerWatch.Delete(addr); brokers.Delete(addr) })
	return addr
}

// embeddedUpstream: SN_TEST_UPSTREAM=broker runs the suite with the gateway attached to the
// broker in-process (BrokerUpstream) instead of over TCP (NetUpstream); make test runs both.
var embeddedUpstream = os.Getenv("SN_TEST_UPSTREAM") == "broker"

// upstreamFor is the upstream of a gateway in front of the test broker at brokerAddr.
func upstreamFor(t testing.TB, brokerAddr string, embedded bool) Upstream {
	t.Helper()
	if embedded {
		b, ok := brokers.Load(brokerAddr)
		if !ok {
			t.Fatalf("no test broker at %s", brokerAddr)
		}
		return &BrokerUpstream{Broker: b.(*broker.Broker)}
	}
	return &NetUpstream{Dial: client.Options{Server: brokerAddr}}
}

// testOptions are short timers, so that keep alive and retransmission tests take
// milliseconds.
func testOptions() Options {
	return Options{GatewayID: 7, SweepInterval: 10 * time.Millisecond, RetryInterval: 300 * time.Millisecond,
		MaxRetries: 3, ConnectTimeout: 5 * time.Second}
}

// startGateway runs a gateway in front of the broker at brokerAddr.
func startGateway(t testing.TB, brokerAddr string, mod func(*Options)) (*Gateway, *net.UDPAddr) {
	t.Helper()
	return startGatewayUp(t, upstreamFor(t, brokerAddr, embeddedUpstream), mod)
}

// startGatewayUp runs a gateway with the given upstream.
func startGatewayUp(t testing.TB, up Upstream, mod func(*Options)) (*Gateway, *net.UDPAddr) {
	t.Helper()
	var logger *slog.Logger
	if os.Getenv("SN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return startGatewayLog(t, up, logger, mod)
}

// startGatewayLog runs a gateway with the given upstream and logger.
func startGatewayLog(t testing.TB, up Upstream, logger *slog.Logger, mod func(*Options)) (*Gateway, *net.UDPAddr) {
	t.Helper()
	o := testOptions()
	if mod != nil {
		mod(&o)
	}
	g, err := New(o, up, logger)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ListenUDP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("gateway Close: %v", err)
		}
	})
	return g, pc.LocalAddr().(*net.UDPAddr)
}

// rawSN is a hand-driven MQTT-SN client on a real UDP socket, for asserting the gateway's
// messages one by one. With node set it acts as a forwarder for that wireless node.
type rawSN struct {
	t    testing.TB
	c    *net.UDPConn
	node []byte
}

func dialSN(t testing.TB, gw *net.UDPAddr) *rawSN {
	t.Helper()
	c, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawSN{t: t, c: c}
}

func (r *rawSN) send(m Message) {
	r.t.Helper()
	if r.node != nil {
		m = &Encapsulated{WirelessNodeID: r.node, Msg: m}
	}
	b, err := Append(nil, m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendRaw(b)
}

func (r *rawSN) sendRaw(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// recvTimeout returns the next message, or nil after d.
func (r *rawSN) recvTimeout(d time.Duration) Message {
	r.t.Helper()
	buf := make([]byte, MaxMessageSize)
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	n, err := r.c.Read(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		r.t.Fatal(err)
	}
	m, err := Decode(buf[:n])
	if err != nil {
		r.t.Fatalf("the gateway sent % X: %v", buf[:n], err)
	}
	if e, ok := m.(*Encapsulated); ok {
		if r.node == nil || string(e.WirelessNodeID) != string(r.node) {
			r.t.Fatalf("encapsulated reply for node %X, we are %X", e.WirelessNodeID, r.node)
		}
		return e.Msg
	}
	if r.node != nil {
		r.t.Fatalf("reply %T not encapsulated for node %X", m, r.node)
	}
	return m
}

func (r *rawSN) recv() Message {
	r.t.Helper()
	m := r.recvTimeout(5 * time.Second)
	if m == nil {
		r.t.Fatal("no message from the gateway within 5s")
	}
	return m
}

// expect reads the next message and requires it to be a T.
func expect[T Message](r *rawSN) T {
	r.t.Helper()
	m := r.recv()
	v, ok := m.(T)
	if !ok {
		var zero T
		r.t.Fatalf("got %T %+v, want %T", m, m, zero)
	}
	return v
}

// expectNothing requires silence for d.
func (r *rawSN) expectNothing(d time.Duration) {
	r.t.Helper()
	if m := r.recvTimeout(d); m != nil {
		r.t.Fatalf("unexpected %T %+v", m, m)
	}
}

func (r *rawSN) connect(id string, clean bool, keep uint16) {
	r.t.Helper()
	r.send(&Connect{CleanSession: clean, ProtocolID: ProtocolID, Duration: keep, ClientID: id})
	if ca := expect[*Connack](r); ca.ReturnCode != Accepted {
		r.t.Fatalf("CONNACK %v", ca.ReturnCode)
	}
}

func (r *rawSN) register(name string, msgID uint16) uint16 {
	r.t.Helper()
	r.send(&Register{MsgID: msgID, TopicName: name})
	ra := expect[*Regack](r)
	if ra.ReturnCode != Accepted || ra.MsgID != msgID || ra.TopicID == 0 {
		r.t.Fatalf("REGACK %+v", ra)
	}
	return ra.TopicID
}

func (r *rawSN) subscribe(m *Subscribe) *Suback {
	r.t.Helper()
	r.send(m)
	sa := expect[*Suback](r)
	if sa.MsgID != m.MsgID {
		r.t.Fatalf("SUBACK %+v for MsgId %d", sa, m.MsgID)
	}
	return sa
}

func mustEqual(t testing.TB, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(normalizeAny(got), normalizeAny(want)) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func normalizeAny(v any) any {
	if m, ok := v.(Message); ok {
		return normalize(m)
	}
	return v
}

// mosqSub is a mosquitto_sub -v on the test broker that exits after count messages.
type mosqSub struct {
	t    testing.TB
	done chan struct{}
	out  testutil.LockedBuffer
	err  error
}

var mosqSubN sync.Mutex
var mosqSubSeq int

// startMosqSub starts mosquitto_sub and returns once it is subscribed: it also subscribes to
// a probe topic holding a retained message, and the broker's Authorizer sees that message
// handed to it. The probe line is left out of the output.
func startMosqSub(t testing.TB, brokerAddr string, count int, args ...string) *mosqSub {
	t.Helper()
	bin := testutil.RequireTool(t, "mosquitto_sub")
	mosqSubN.Lock()
	mosqSubSeq++
	id := fmt.Sprintf("mosqsub-%d-%d", os.Getpid(), mosqSubSeq)
	mosqSubN.Unlock()
	probe := "probe/" + id
	pubRetained(t, brokerAddr, probe)
	host, port, _ := net.SplitHostPort(brokerAddr)
	all := append([]string{"-h", host, "-p", port, "-i", id, "-v", "-C", fmt.Sprint(count + 1), "-W", "20"}, args...)
	all = append(all, "-t", probe)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, all...)
	s := &mosqSub{t: t, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { cancel(); <-s.done })
	w, _ := brokerWatch.Load(brokerAddr)
	deadline := time.Now().Add(10 * time.Second)
	for !w.(*readWatch).saw(id, probe) {
		select {
		case <-s.done:
			t.Fatalf("mosquitto_sub %v exited before subscribing: %q", args, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto_sub %v did not subscribe within 10s", args)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

// pubRetained publishes a retained message on topic with our own client.
func pubRetained(t testing.TB, brokerAddr, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Server: brokerAddr, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, client.Message{Topic: topic, Payload: []byte("probe"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
}

func (s *mosqSub) output() []string {
	var lines []string
	for _, l := range strings.Split(s.out.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "probe/") {
			lines = append(lines, l)
		}
	}
	return lines
}

// wait waits for mosquitto_sub to exit (it has its count) and returns the message lines.
func (s *mosqSub) wait() []string {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(25 * time.Second):
		s.t.Fatalf("mosquitto_sub did not finish; so far %q", s.out.String())
	}
	if s.err != nil {
		s.t.Fatalf("mosquitto_sub: %v; output %q", s.err, s.out.String())
	}
	return s.output()
}

// mosqPub runs mosquitto_pub against the broker.
func mosqPub(t testing.TB, brokerAddr string, args ...string) {
	t.Helper()
	bin := testutil.RequireTool(t, "mosquitto_pub")
	host, port, _ := net.SplitHostPort(brokerAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineLog is a slog.Handler that writes "message key=value ..." lines with the values as they
// are, as the command line's log does, and keeps them for a test to read.
type lineLog struct {
	level slog.Level
	mu    sync.Mutex
	buf   strings.Builder
}

func (l *lineLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.level }

func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		l.buf.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.buf.WriteByte('\n')
	return nil
}

func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineLog) WithGroup(string) slog.Handler      { return l }

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits until the log holds want.
func (l *lineLog) wait(t testing.TB, want string) {
	t.Helper()
	waitFor(t, "the log line "+strconv.Quote(want), func() bool { return strings.Contains(l.String(), want) })
}

// tcpProxy relays TCP connections to a broker; cut breaks every relayed connection at once,
// as a network failure between the gateway and the broker would.
type tcpProxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
	wg       sync.WaitGroup
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.accepted++
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(b, c); b.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// cut closes every relayed connection; a closed TCP connection with unread data is reset.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}
