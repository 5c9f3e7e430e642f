package store

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// These tests run the real thing: `mqtt serve --data DIR` built from
// ./cmd/mqtt in a child process, killed with SIGKILL while clients are in
// the middle of their exchanges, and started again on the same directory.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// mqttBinary builds ./cmd/mqtt once per test run.
func mqttBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the mqtt binary")
	}
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if binDir, buildErr = os.MkdirTemp("", "mqtt-store-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mqtt")
		out, err := exec.Command(goBin, "build", "-o", binPath, "github.com/mqttkit/mqtt/cmd/mqtt").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// child is a running `mqtt serve`.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	out  *testutil.LockedBuffer
	done chan struct{}
}

// serve starts `mqtt serve --data dir` on a free loopback port and waits
// until it says it is running.
func serve(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	bin := mqttBinary(t)
	for attempt := 0; ; attempt++ {
		port := testutil.FreePort(t)
		c := &child{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &testutil.LockedBuffer{}, done: make(chan struct{})}
		c.cmd = exec.Command(bin, append([]string{"serve", "--listen", c.addr, "--data", dir}, args...)...)
		c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { c.cmd.Wait(); close(c.done) }()
		t.Cleanup(func() {
			c.kill()
			if t.Failed() {
				t.Logf("mqtt serve output:\n%s", c.out.String())
			}
		})
		if c.wait(t) || attempt == 2 {
			return c
		}
	}
}

// wait waits until the child says it is running; false if it exited
// because its port was taken meanwhile (serve tries another).
func (c *child) wait(t *testing.T) bool {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.out.String(), " running\n") { // "mqtt version X running"
		select {
		case <-c.done:
			if strings.Contains(c.out.String(), "address already in use") {
				return false
			}
			t.Fatalf("mqtt serve exited:\n%s", c.out.String())
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("mqtt serve did not start:\n%s", c.out.String())
			}
		}
	}
	return true
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
	}
	<-c.done
}

// conn is a client connection driven from one goroutine without a
// testing.T (a broker killed under it is expected).
type conn struct {
	r *testutil.Raw
}

func dial(t *testing.T, addr string, id string, version byte, clean bool) (*conn, *packet.Connack) {
	t.Helper()
	r := testutil.DialRaw(t, addr, version)
	c := &packet.Connect{ClientID: id, CleanStart: clean, KeepAlive: 60}
	if version == packet.V5 && !clean {
		c.Properties = packet.Properties{SessionExpiry: 0xFFFFFFFF, HasSessionExpiry: true}
	}
	ack := r.Connect(c)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("%s: CONNACK %v", id, ack.ReasonCode)
	}
	return &conn{r: r}, ack
}

func (c *conn) send(p packet.Packet) error {
	b, err := packet.Append(nil, p, c.r.Version)
	if err != nil {
		return err
	}
	c.r.NC.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.r.NC.Write(b)
	return err
}

func (c *conn) recv() (packet.Packet, error) { return c.r.RecvErr(20 * time.Second) }

func payloadIndex(b []byte) int {
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "m"))
	if err != nil {
		return -1
	}
	return n
}

// Kill -9 while QoS 1 messages queue for an offline persistent session:
// after the restart every acknowledged message arrives, in order; the
// subscription matches without a new SUBSCRIBE and the retained message
// is served.
func TestKill9QueuedQoS1(t *testing.T) {
	dir := t.TempDir()
	b := serve(t, dir)
	sub, _ := dial(t, b.addr, "sub", packet.V311, false)
	sub.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
	sub.r.Send(&packet.Disconnect{})
	sub.r.ExpectClosed(5 * time.Second)

	pub, _ := dial(t, b.addr, "pub", packet.V311, true)
	pub.r.Send(&packet.Publish{Topic: "cfg/mode", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("eco")})
	if _, ok := pub.r.Recv().(*packet.Puback); !ok {
		t.Fatal("no PUBACK for the retained message")
	}
	const total, window, killAt = 20000, 50, 3000
	ids := map[uint16]int{}
	var acked []int
	next := 0
	killed := false
	for len(acked) < total {
		for len(ids) < window && next < total && !killed {
			id := uint16(next%60000 + 1)
			if err := pub.send(&packet.Publish{Topic: "q/" + strconv.Itoa(next%7), QoS: 1, PacketID: id, Payload: fmt.Appendf(nil, "m%06d", next)}); err != nil {
				t.Fatalf("publish before the kill: %v", err)
			}
			ids[id] = next
			next++
		}
		p, err := pub.recv()
		if err != nil {
			if !killed {
				t.Fatalf("read before the kill: %v", err)
			}
			break // the broker is gone: every PUBACK it sent has been read
		}
		a, ok := p.(*packet.Puback)
		if !ok {
			t.Fatalf("publisher got %T", p)
		}
		i, ok := ids[a.PacketID]
		if !ok {
			t.Fatalf("PUBACK for unknown id %d", a.PacketID)
		}
		delete(ids, a.PacketID)
		if n := len(acked); n > 0 && i < acked[n-1] {
			t.Fatalf("PUBACKs out of order: %d after %d", i, acked[n-1])
		}
		acked = append(acked, i)
		if len(acked) == killAt && !killed {
			b.cmd.Process.Kill() // SIGKILL, with messages in flight
			killed = true
		}
	}
	<-b.done
	if len(ids) == 0 {
		t.Log("no message was in flight at the kill")
	}
	t.Logf("%d messages sent, %d acknowledged before SIGKILL", next, len(acked))

	b = serve(t, dir)
	sub, ack := dial(t, b.addr, "sub", packet.V311, false)
	if !ack.SessionPresent {
		t.Fatal("no session present after the restart")
	}
	want := map[int]bool{}
	for _, i := range acked {
		want[i] = true
	}
	last := -1
	for got := 0; got < len(acked); {
		p, err := sub.recv()
		if err != nil {
			t.Fatalf("after %d of %d acknowledged messages: %v", got, len(acked), err)
		}
		m, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("subscriber got %T", p)
		}
		i := payloadIndex(m.Payload)
		if i <= last {
			t.Fatalf("message %d after %d: out of order or twice", i, last)
		}
		for j := last + 1; j < i; j++ {
			if want[j] {
				t.Fatalf("acknowledged message %d lost (%d came after %d)", j, i, last)
			}
		}
		if want[i] {
			got++
		}
		last = i
		sub.send(&packet.Puback{PacketID: m.PacketID})
	}
	// The subscription is there without a new SUBSCRIBE; so is the retained message.
	pub, _ = dial(t, b.addr, "pub", packet.V311, true)
	pub.r.Send(&packet.Publish{Topic: "q/after", QoS: 1, PacketID: 1, Payload: []byte("m999999")})
	pub.r.Recv()
	for {
		m := sub.r.RecvPublish()
		if string(m.Payload) == "m999999" {
			break
		}
		if i := payloadIndex(m.Payload); i <= last {
			t.Fatalf("message %d again", i)
		}
		sub.send(&packet.Puback{PacketID: m.PacketID})
	}
	late, _ := dial(t, b.addr, "late", packet.V311, true)
	late.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cfg/#"})
	if m := late.r.RecvPublish(); !m.Retain || string(m.Payload) != "eco" {
		t.Fatalf("retained after the restart: %+v", m)
	}
}

// qos2Pub is a QoS 2 publisher whose state outlives its connections.
type qos2Pub struct {
	total, sent int
	inflight    map[uint16]*outMsg
	order       []uint16 // inflight ids in sending order
	completed   atomic.Int64
}

type outMsg struct {
	idx int
	rec bool // PUBREC received, PUBREL sent
}

// run resends what is unfinished (PUBLISH with DUP, or PUBREL), then
// publishes until total are complete or the connection fails.
func (p *qos2Pub) run(c *conn, window int, resend bool, progress func(int64)) error {
	if resend {
		for _, id := range p.order {
			m := p.inflight[id]
			var err error
			if m.rec {
				err = c.send(&packet.Pubrel{PacketID: id})
			} else {
				err = c.send(&packet.Publish{Topic: "x/y", QoS: 2, Dup: true, PacketID: id, Payload: fmt.Appendf(nil, "m%06d", m.idx)})
			}
			if err != nil {
				return err
			}
		}
	}
	for p.completed.Load() < int64(p.total) {
		for len(p.inflight) < window && p.sent < p.total {
			id := uint16(p.sent%60000 + 1)
			if err := c.send(&packet.Publish{Topic: "x/y", QoS: 2, PacketID: id, Payload: fmt.Appendf(nil, "m%06d", p.sent)}); err != nil {
				return err
			}
			p.inflight[id] = &outMsg{idx: p.sent}
			p.order = append(p.order, id)
			p.sent++
		}
		pk, err := c.recv()
		if err != nil {
			return err
		}
		switch a := pk.(type) {
		case *packet.Pubrec:
			if m := p.inflight[a.PacketID]; m != nil {
				m.rec = true
				if err := c.send(&packet.Pubrel{PacketID: a.PacketID}); err != nil {
					return err
				}
			}
		case *packet.Pubcomp:
			if m := p.inflight[a.PacketID]; m != nil && m.rec {
				delete(p.inflight, a.PacketID)
				for i, id := range p.order {
					if id == a.PacketID {
						p.order = append(p.order[:i], p.order[i+1:]...)
						break
					}
				}
				progress(p.completed.Add(1))
			}
		default:
			return fmt.Errorf("publisher got %T", pk)
		}
	}
	return nil
}

// qos2Sub is a QoS 2 receiver whose state outlives its connections: a
// PUBLISH whose id awaits PUBREL is the same message again [MQTT-4.3.3].
type qos2Sub struct {
	mu        sync.Mutex
	awaiting  map[uint16]bool
	delivered map[int]int
	all       chan struct{} // closed when want distinct messages arrived
	end       chan struct{} // closed when the message "end" arrives
	want      int
}

func (s *qos2Sub) run(c *conn) error {
	for {
		pk, err := c.recv()
		if err != nil {
			return err
		}
		switch m := pk.(type) {
		case *packet.Publish:
			s.mu.Lock()
			if string(m.Payload) == "end" {
				close(s.end)
			} else if !s.awaiting[m.PacketID] {
				s.awaiting[m.PacketID] = true
				i := payloadIndex(m.Payload)
				s.delivered[i]++
				if len(s.delivered) == s.want && s.delivered[i] == 1 {
					close(s.all)
				}
			}
			s.mu.Unlock()
			if err := c.send(&packet.Pubrec{PacketID: m.PacketID}); err != nil {
				return err
			}
		case *packet.Pubrel:
			s.mu.Lock()
			delete(s.awaiting, m.PacketID)
			s.mu.Unlock()
			if err := c.send(&packet.Pubcomp{PacketID: m.PacketID}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("subscriber got %T", pk)
		}
	}
}

// Kill -9 in the middle of QoS 2 exchanges, both ways: afterwards every
// message arrives exactly once.
func TestKill9QoS2ExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	b := serve(t, dir)
	const total, window, killAt = 4000, 20, 1500
	sub := &qos2Sub{awaiting: map[uint16]bool{}, delivered: map[int]int{}, all: make(chan struct{}), end: make(chan struct{}), want: total}
	pub := &qos2Pub{total: total, inflight: map[uint16]*outMsg{}}

	sc, _ := dial(t, b.addr, "sub2", packet.V5, false)
	sc.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x/#", QoS: 2})
	pc, _ := dial(t, b.addr, "pub2", packet.V5, false)
	subDone := make(chan error, 1)
	go func() { subDone <- sub.run(sc) }()
	killed := false
	err := pub.run(pc, window, false, func(n int64) {
		if n == killAt {
			b.cmd.Process.Kill()
			killed = true
		}
	})
	if !killed {
		b.kill()
		t.Fatalf("the publisher stopped before the kill, after %d messages: %v", pub.completed.Load(), err)
	}
	<-b.done
	<-subDone
	t.Logf("before SIGKILL: %d complete, %d in flight (%d released); %d delivered", pub.completed.Load(), len(pub.inflight), countRec(pub), len(sub.delivered))

	b = serve(t, dir)
	sc, ack := dial(t, b.addr, "sub2", packet.V5, false)
	if !ack.SessionPresent {
		t.Fatal("subscriber: no session present after the restart")
	}
	go func() { subDone <- sub.run(sc) }()
	pc, ack = dial(t, b.addr, "pub2", packet.V5, false)
	if !ack.SessionPresent {
		t.Fatal("publisher: no session present after the restart")
	}
	if err := pub.run(pc, window, true, func(int64) {}); err != nil {
		t.Fatalf("publisher after the restart: %v", err)
	}
	select {
	case <-sub.all:
	case <-time.After(30 * time.Second):
		sub.mu.Lock()
		t.Fatalf("%d of %d messages arrived", len(sub.delivered), total)
	}
	// A last message behind everything: a duplicate still queued would come before it.
	end, _ := dial(t, b.addr, "end", packet.V311, true)
	end.r.Send(&packet.Publish{Topic: "x/end", QoS: 1, PacketID: 1, Payload: []byte("end")})
	end.r.Recv()
	select {
	case <-sub.end:
	case <-time.After(10 * time.Second):
		t.Fatal("the last message did not arrive")
	}
	sc.r.NC.Close()
	<-subDone
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i := range total {
		if n := sub.delivered[i]; n != 1 {
			t.Errorf("message %d delivered %d times", i, n)
		}
	}
}

func countRec(p *qos2Pub) int {
	n := 0
	for _, m := range p.inflight {
		if m.rec {
			n++
		}
	}
	return n
}

// Kill -9 during a burst of retained updates: each topic's retained
// message afterwards is the last one acknowledged for it, or a later one.
func TestKill9RetainedBurst(t *testing.T) {
	dir := t.TempDir()
	b := serve(t, dir)
	const topics, window, killAt = 10, 40, 4000
	pub, _ := dial(t, b.addr, "rpub", packet.V311, true)
	ids := map[uint16]int{}
	highest := make([]int, topics)
	for i := range highest {
		highest[i] = -1
	}
	next, nacked := 0, 0
	killed := false
	for {
		for len(ids) < window && !killed {
			id := uint16(next%60000 + 1)
			if err := pub.send(&packet.Publish{Topic: fmt.Sprintf("state/%d", next%topics), QoS: 1, Retain: true, PacketID: id, Payload: fmt.Appendf(nil, "m%06d", next)}); err != nil {
				t.Fatal(err)
			}
			ids[id] = next
			next++
		}
		p, err := pub.recv()
		if err != nil {
			if !killed {
				t.Fatal(err)
			}
			break
		}
		a := p.(*packet.Puback)
		i := ids[a.PacketID]
		delete(ids, a.PacketID)
		highest[i%topics] = max(highest[i%topics], i)
		if nacked++; nacked == killAt {
			b.cmd.Process.Kill()
			killed = true
		}
	}
	<-b.done
	b = serve(t, dir)
	c, _ := dial(t, b.addr, "reader", packet.V311, true)
	c.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "state/#"})
	for range topics {
		m := c.r.RecvPublish()
		var k int
		fmt.Sscanf(m.Topic, "state/%d", &k)
		v := payloadIndex(m.Payload)
		if !m.Retain || v%topics != k || v < highest[k] || v >= next {
			t.Errorf("%s = %s: want a retained update of this topic, at least m%06d (acknowledged), below %d (sent)", m.Topic, m.Payload, highest[k], next)
		}
	}
	c.r.ExpectNothing(200 * time.Millisecond)
}

// A store mqtt serve cannot use: it exits non-zero naming the file, and
// leaves it as it was; --check says what is wrong, or what it holds.
func TestServeRefusesDamagedStore(t *testing.T) {
	bin := mqttBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mqtt.db")
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(string(out), "Error: store "+path+": damaged: it starts with zeros") {
		t.Fatalf("serve on an all-zero store: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "serve", "--data", dir, "--check").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), path) {
		t.Fatalf("--check on an all-zero store: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(path); len(b) != 8192 || strings.Trim(string(b), "\x00") != "" {
		t.Fatal("the damaged file was changed")
	}

	good := t.TempDir()
	s := serve(t, good)
	c, _ := dial(t, s.addr, "keep", packet.V311, false)
	c.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a", QoS: 1})
	c.r.Send(&packet.Publish{Topic: "r", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("x")})
	c.r.Recv()
	s.kill()
	out, err = exec.Command(bin, "serve", "--data", good, "--check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: format 2") || !strings.Contains(string(out), "1 retained message, 1 session,") {
		t.Fatalf("--check on a good store: %v\n%s", err, out)
	}
}

// Kill -9 during the very first start, at moments spread over the
// store's creation: every later start must work (an interrupted creation
// is either absent or complete), never fail on a half-made store.
func TestKill9DuringCreation(t *testing.T) {
	bin := mqttBinary(t)
	for i := range 16 {
		dir := filepath.Join(t.TempDir(), "data")
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i*4) * time.Millisecond) // the moment of the kill is the point
		cmd.Process.Kill()
		cmd.Wait()
		c := serve(t, dir) // fails the test if it does not start
		c.kill()
	}
}

// A session connected when the broker was killed counts the downtime
// toward its expiry, as one that was offline does [MQTT-3.1.2-23]: with a
// 2 s expiry and 2.5 s down, it is gone after the restart (it was kept,
// counted from the restart).
func TestKill9DowntimeCountsForConnectedSession(t *testing.T) {
	dir := t.TempDir()
	b := serve(t, dir)
	r := testutil.DialRaw(t, b.addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "online", KeepAlive: 60,
		Properties: packet.Properties{SessionExpiry: 2, HasSessionExpiry: true}})
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x", QoS: 1}) // SUBACK once stored
	b.cmd.Process.Kill()
	<-b.done
	time.Sleep(2500 * time.Millisecond) // the downtime itself is what is tested
	b = serve(t, dir)
	_, ack = dial(t, b.addr, "online", packet.V5, false)
	if ack.SessionPresent {
		t.Fatal("a session with a 2 s expiry survived 2.5 s of downtime: its expiry counted from the restart")
	}
	// A longer expiry still finds its session.
	dir2 := t.TempDir()
	b = serve(t, dir2)
	r = testutil.DialRaw(t, b.addr, packet.V5)
	r.Connect(&packet.Connect{ClientID: "kept", KeepAlive: 60,
		Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x", QoS: 1})
	b.cmd.Process.Kill()
	<-b.done
	b = serve(t, dir2)
	if _, ack = dial(t, b.addr, "kept", packet.V5, false); !ack.SessionPresent {
		t.Fatal("a session with a 60 s expiry was lost over a short downtime")
	}
}
