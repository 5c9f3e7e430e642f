package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// smallDisk mounts a 2 MiB tmpfs for the test: a disk that fills up for
// real (ENOSPC from write(2)), with no loop device and nothing left behind.
// Mounting needs root (CAP_SYS_ADMIN); without it the test is skipped,
// unless MQTT_REQUIRE_INTEROP is set (CI runs as root).
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		if os.Getenv(testutil.RequireInteropEnv) != "" {
			t.Fatalf("mounting a 2 MiB tmpfs for the full-disk test: %v (%s is set)", err, testutil.RequireInteropEnv)
		}
		t.Skipf("cannot mount a small tmpfs (%v); run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// A full disk: new messages that must be stored are refused (MQTT 5
// 0x97, 3.1.1 no PUBACK) with one log line, what was stored before stays
// and is delivered in order, and once deliveries have freed room messages
// are accepted again. The file is intact afterwards.
func TestDiskFull(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 512 << 10 // a quarter of the disk; the store file gets the rest
	path := filepath.Join(smallDisk(t), "mqtt.db")
	logs := &testutil.LogLines{}
	logger := slog.New(logs)
	st, err := Open(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	opts := broker.DefaultOptions()
	opts.Listeners = []string{"127.0.0.1:0"}
	opts.SysInterval = 0
	opts.Store = st
	b, err := broker.New(opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed := false
	shut := func() {
		if !closed {
			closed = true
			b.Close()
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	defer shut()
	addr := b.Addrs()[0].String()

	sub := testutil.DialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "f/#", QoS: 1})
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(5 * time.Second)

	pub := testutil.ConnectRaw(t, addr, packet.V5, "pub5")
	payload := bytes.Repeat([]byte("x"), 1000)
	acked := fill(t, pub, payload)
	t.Logf("%d messages of 1 KB acknowledged before the disk was full", acked)
	// Further ones are refused too; a 3.1.1 publisher gets no PUBACK and
	// is disconnected (it resends the message when it reconnects).
	pub.Send(&packet.Publish{Topic: "f/a", QoS: 1, PacketID: 60001, Payload: payload})
	if a, ok := pub.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("second refusal: %+v", a)
	}
	p3 := testutil.ConnectRaw(t, addr, packet.V311, "pub3")
	p3.Send(&packet.Publish{Topic: "f/a", QoS: 1, PacketID: 1, Payload: payload})
	for _, p := range p3.ExpectClosed(5 * time.Second) {
		if _, ok := p.(*packet.Puback); ok {
			t.Fatal("3.1.1: a PUBACK for a message that was not stored")
		}
	}
	// Messages nobody must keep still flow.
	pub.Send(&packet.Publish{Topic: "nobody/listens", QoS: 1, PacketID: 60002, Payload: payload})
	if a, ok := pub.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("a message with no durable recipient: %+v", a)
	}

	// Delivery goes on: the subscriber gets every acknowledged message, in order.
	sub = testutil.DialRaw(t, addr, packet.V5)
	if ack := sub.Connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}}); !ack.SessionPresent {
		t.Fatal("no session present")
	}
	for i := range acked {
		m := sub.RecvPublish()
		if want := fmt.Sprintf("%06d", i); !bytes.HasSuffix(m.Payload, []byte(want)) {
			t.Fatalf("message %d: got ...%s", i, m.Payload[len(m.Payload)-6:])
		}
		sub.Send(&packet.Puback{PacketID: m.PacketID})
	}
	// The refused messages were routed before the store failed: they may
	// follow (at least once). Then, with room again, new ones are kept.
	accepted := false
	for i := range 200 {
		pub.Send(&packet.Publish{Topic: "f/b", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("again")})
		if a, ok := pub.Recv().(*packet.Puback); ok && a.ReasonCode == packet.Success {
			accepted = true
			break
		}
		for {
			m, err := sub.RecvErr(200 * time.Millisecond)
			if err != nil {
				break
			}
			if m, ok := m.(*packet.Publish); ok {
				sub.Send(&packet.Puback{PacketID: m.PacketID})
			}
		}
	}
	if !accepted {
		t.Fatal("no message accepted after the queue was delivered")
	}
	failed, again := 0, 0
	for _, l := range logs.Lines() {
		if strings.HasPrefix(l, "store: writing failed") {
			failed++
		}
		if strings.HasPrefix(l, "store: writing works again") {
			again++
		}
	}
	if failed != 1 || again != 1 {
		t.Errorf("log: %d 'writing failed' and %d 'works again' lines; want one of each (one a minute at most):\n%s", failed, again, strings.Join(logs.Lines(), "\n"))
	}
	t.Logf("log: %d 'writing failed', %d 'works again'", failed, again)
	shut()
	r, err := Check(path)
	if err != nil {
		t.Fatalf("the store after a full disk: %v", err)
	}
	t.Logf("after: %+v", *r)
}

// fill publishes 1 KB QoS 1 messages for the offline session until one is
// refused (0x97); it returns how many were acknowledged.
func fill(t *testing.T, pub *testutil.Raw, payload []byte) int {
	t.Helper()
	acked := 0
	for i := 0; ; i++ {
		if i == 5000 {
			t.Fatal("5000 messages of 1 KB stored on a 2 MiB disk")
		}
		pub.Send(&packet.Publish{Topic: "f/a", QoS: 1, PacketID: uint16(i%60000 + 1), Payload: fmt.Appendf(bytes.Clone(payload), "%06d", i)})
		a, ok := pub.Recv().(*packet.Puback)
		if !ok {
			t.Fatal("no PUBACK")
		}
		if a.ReasonCode == packet.QuotaExceeded {
			return acked
		}
		if a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %v", a.ReasonCode)
		}
		acked++
	}
}

// A restart on a full disk: what the journal holds beyond the store file
// cannot be written there, so it is read from the journal; every
// acknowledged message is there, in order.
func TestDiskFullRestart(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 512 << 10
	path := filepath.Join(smallDisk(t), "mqtt.db")
	logs := &testutil.LogLines{}
	start := func() (*broker.Broker, *Store) {
		st, err := Open(path, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		opts := broker.DefaultOptions()
		opts.Listeners = []string{"127.0.0.1:0"}
		opts.SysInterval = 0
		opts.Store = st
		b, err := broker.New(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b, st
	}
	b, st := start()
	addr := b.Addrs()[0].String()
	sub := testutil.DialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "f/#", QoS: 1})
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(5 * time.Second)
	acked := fill(t, testutil.ConnectRaw(t, addr, packet.V5, "pub5"), bytes.Repeat([]byte("y"), 1000))
	b.Close()
	st.Close()

	if r, err := Check(path); err != nil || r.Deliveries < acked {
		t.Fatalf("Check on the full disk: %+v %v (%d acknowledged)", r, err, acked)
	}
	b, st = start()
	defer func() { b.Close(); st.Close() }()
	for _, l := range logs.Lines() {
		if strings.Contains(l, "journal") {
			t.Log(l)
		}
	}
	sub = testutil.DialRaw(t, b.Addrs()[0].String(), packet.V5)
	if ack := sub.Connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}}); !ack.SessionPresent {
		t.Fatal("no session present after the restart")
	}
	for i := range acked {
		m := sub.RecvPublish()
		if want := fmt.Sprintf("%06d", i); !bytes.HasSuffix(m.Payload, []byte(want)) {
			t.Fatalf("message %d after the restart: got ...%s", i, m.Payload[len(m.Payload)-6:])
		}
		sub.Send(&packet.Puback{PacketID: m.PacketID})
	}
}

// A compaction needs room for the copy: on a full disk it fails with a
// warning, the copy is removed and the store opens with its file as it
// was; once there is room, the next open compacts it.
func TestCompactDiskFull(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 256 << 10
	dir := smallDisk(t)
	path := filepath.Join(dir, "mqtt.db")
	on := noCompaction(t)
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := s
	t.Cleanup(func() { first.Close() }) // before the unmount, if the test stops early
	commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "r", Payload: []byte("kept"), Retain: true}})
	queue(t, s, "kept", 1, 12, 16<<10)
	queue(t, s, "gone", 1, 60, 16<<10)
	commitWait(t, s, broker.Op{Kind: broker.OpDeleteSession, ClientID: "gone"})
	want, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	normalize(want)
	s.Close()
	size := fileSize(t, path)
	// The rest of the disk, but 32 KiB.
	ballast, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := ballast.Write(chunk); err != nil {
			break
		}
	}
	st, err := ballast.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := ballast.Truncate(st.Size() - 32<<10); err != nil {
		t.Fatal(err)
	}
	ballast.Close()

	defer func(n int64) { compactFloor = n }(compactFloor)
	on()
	compactFloor = 128 << 10
	logs := &testutil.LogLines{}
	s = loadEqual(t, path, slog.New(logs), want)
	warn := logged(logs, "Store: compacting "+path)
	if !strings.Contains(warn, "failed; it is used as it is") || !strings.Contains(warn, "no space left on device") {
		t.Fatalf("no warning:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	t.Log(warn)
	if fileSize(t, path) != size {
		t.Errorf("%d bytes, then %d", size, fileSize(t, path))
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("the copy is still there: %v", err)
	}
	// It works: a delivery acknowledged, one more stored.
	commitWait(t, s, broker.Op{Kind: broker.OpDeleteDelivery, ClientID: "kept", Seq: 1})
	s.Close()
	if _, err := Check(path); err != nil {
		t.Fatal(err)
	}

	os.Remove(filepath.Join(dir, "ballast"))
	logs = &testutil.LogLines{}
	s, err = Open(path, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if logged(logs, "Store: compacted") == "" || fileSize(t, path) >= size/2 {
		t.Fatalf("not compacted with room (%d bytes, then %d):\n%s", size, fileSize(t, path), strings.Join(logs.Lines(), "\n"))
	}
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.Sessions[0].Deliveries); n != 11 {
		t.Errorf("%d deliveries, want 11", n)
	}
}
