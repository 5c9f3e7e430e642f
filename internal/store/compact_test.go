package store

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
	bolt "go.etcd.io/bbolt"
)

// noCompaction turns compaction off until the test (or the returned
// func) turns it on again.
func noCompaction(t *testing.T) func() {
	floor := compactFloor
	compactFloor = 1 << 62
	on := func() { compactFloor = floor }
	t.Cleanup(on)
	return on
}

// queue stores n deliveries of size bytes for session id, from seq on, in
// commits of 32, or of 64 KiB.
func queue(t *testing.T, s *Store, id string, from, n, size int) {
	t.Helper()
	var ops []broker.Op
	for i := from; i < from+n; i++ {
		payload := bytes.Repeat([]byte{byte(i)}, size)
		m := &broker.Message{Topic: "q/" + id, Payload: payload, QoS: 1, From: "pub"}
		ops = append(ops, broker.Op{Kind: broker.OpPutDelivery, ClientID: id, Delivery: &broker.DeliveryState{Seq: uint64(i), Message: m, QoS: 1, PacketID: uint16(i%60000 + 1)}})
		if len(ops) == 32 || len(ops)*size >= 64<<10 || i == from+n-1 {
			commitWait(t, s, ops...)
			ops = nil
		}
	}
}

// bloated makes a store at path (compaction off) that once held n
// deliveries of 32 KiB for the session "gone", since deleted, and still
// holds the session "kept" (subscriptions, 5 deliveries, 2 inbound QoS 2
// ids) and two retained messages. It returns what the store holds.
func bloated(t *testing.T, path string, n int) *broker.Snapshot {
	t.Helper()
	defer noCompaction(t)()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	props := &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}}
	commitWait(t, s,
		broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "home/mode", Payload: []byte("away"), QoS: 1, Retain: true, Props: props}},
		broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "home/temp", Payload: []byte("21.5"), Retain: true}},
		broker.Op{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "kept", ProtocolVersion: packet.V5, Expiry: 3600, DisconnectedAt: at(1700000000),
			Subscriptions: []broker.SubscriptionState{{Filter: "q/#", Options: topic.Options{QoS: 1}}}}},
		broker.Op{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "gone", ProtocolVersion: packet.V311, Expiry: 3600,
			Subscriptions: []broker.SubscriptionState{{Filter: "q/gone", Options: topic.Options{QoS: 1}}}}},
		broker.Op{Kind: broker.OpPutInbound, ClientID: "kept", PacketID: 7},
		broker.Op{Kind: broker.OpPutInbound, ClientID: "kept", PacketID: 300},
	)
	queue(t, s, "kept", 1, 5, 1000)
	queue(t, s, "gone", 1, n, 32<<10)
	commitWait(t, s, broker.Op{Kind: broker.OpDeleteSession, ClientID: "gone"})
	want, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	normalize(want)
	return want
}

// metaOf is the store file's meta bucket: format, journal size and the
// checkpoint position.
func metaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := map[string]string{}
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
	})
	return m
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// loadEqual opens the store at path, checks that it holds want, and
// returns it open.
func loadEqual(t *testing.T, path string, logger *slog.Logger, want *broker.Snapshot) *Store {
	t.Helper()
	s, err := Open(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	normalize(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the compaction:\n got %s\nwant %s", dump(got), dump(want))
	}
	return s
}

func logged(logs *testutil.LogLines, part string) string {
	for _, l := range logs.Lines() {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

// A store whose deliveries were deleted shrinks at the next open, and
// holds what it held: retained messages, sessions, deliveries, inbound
// ids, the checkpoint position; it is not compacted again.
func TestCompactAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	want := bloated(t, path, 400)
	before, meta := fileSize(t, path), metaOf(t, path)
	fi0, _ := os.Stat(path)
	logs := &testutil.LogLines{}
	s := loadEqual(t, path, slog.New(logs), want)
	line := logged(logs, "Store: compacted "+path+" from ")
	if line == "" {
		t.Fatalf("no compaction logged:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	t.Log(line)
	after := fileSize(t, path)
	if after*4 > before {
		t.Errorf("%d bytes, compacted to %d", before, after)
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("the copy is still there: %v", err)
	}
	// The store goes on with the new file: a commit, a reopen.
	queue(t, s, "kept", 6, 1, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := metaOf(t, path); got["checkpoint"] == meta["checkpoint"] || got["format"] != meta["format"] || got["journal-size"] != meta["journal-size"] {
		t.Errorf("meta after a commit: %q, before %q", got, meta)
	}
	if r, err := Check(path); err != nil || r.Deliveries != 6 || r.Retained != 2 || r.Sessions != 1 || r.Inbound != 2 {
		t.Fatalf("Check: %+v %v", r, err)
	}
	fi1, _ := os.Stat(path)
	if os.SameFile(fi0, fi1) {
		t.Error("the same file")
	}
	logs2 := &testutil.LogLines{}
	s2, err := Open(path, slog.New(logs2))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if fi2, _ := os.Stat(path); !os.SameFile(fi1, fi2) || logged(logs2, "compacted") != "" {
		t.Errorf("compacted again:\n%s", strings.Join(logs2.Lines(), "\n"))
	}

	// The checkpoint record is copied as it is.
	path2 := filepath.Join(t.TempDir(), "mqtt.db")
	bloated(t, path2, 400)
	meta = metaOf(t, path2)
	s, err = Open(path2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // nothing written: the checkpoint stays
	if fileSize(t, path2) > 4<<20 {
		t.Errorf("not compacted: %d bytes", fileSize(t, path2))
	}
	if got := metaOf(t, path2); !reflect.DeepEqual(got, meta) {
		t.Errorf("meta: %q, before the compaction %q", got, meta)
	}
}

// A store mostly in use is not rewritten.
func TestCompactNotWhenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	on := noCompaction(t)
	s := openT(t, path)
	queue(t, s, "a", 1, 400, 32<<10)
	var del []broker.Op
	for i := 1; i <= 150; i++ { // 37% deleted
		del = append(del, broker.Op{Kind: broker.OpDeleteDelivery, ClientID: "a", Seq: uint64(i)})
	}
	commitWait(t, s, del...)
	s.Close()
	on()
	fi0, _ := os.Stat(path)
	logs := &testutil.LogLines{}
	s, err := Open(path, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi1, _ := os.Stat(path); !os.SameFile(fi0, fi1) || fi1.Size() != fi0.Size() || logged(logs, "compacted") != "" {
		t.Errorf("rewritten (%d bytes, then %d):\n%s", fi0.Size(), fi1.Size(), strings.Join(logs.Lines(), "\n"))
	}
}

// Close compacts too: the broker deleted most of the store while it ran.
func TestCompactAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	logs := &testutil.LogLines{}
	s, err := Open(path, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "r", Payload: []byte("kept"), Retain: true}})
	queue(t, s, "gone", 1, 400, 32<<10)
	queue(t, s, "kept", 1, 3, 100)
	commitWait(t, s, broker.Op{Kind: broker.OpDeleteSession, ClientID: "gone"})
	want, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	normalize(want)
	big := fileSize(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if logged(logs, "Store: compacted ") == "" {
		t.Fatalf("no compaction at Close:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	if small := fileSize(t, path); small*4 > big {
		t.Errorf("%d bytes, compacted to %d", big, small)
	}
	loadEqual(t, path, nil, want)
}

// copyFiles copies the store's files in dir (as a crash would leave them
// there) to a new directory, and returns the store's path in it.
func copyFiles(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		src, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
	return filepath.Join(to, "mqtt.db")
}

// A crash at each step of a compaction leaves the old complete store or
// the new complete one; a copy left behind is removed at the next open,
// with a log line, and the store compacted then.
func TestCompactCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mqtt.db")
	want := bloated(t, path, 400)
	states := map[string]string{}
	compactHook = func(step string) { states[step] = copyFiles(t, dir) }
	defer func() { compactHook = nil }()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	compactHook = nil
	if len(states) != 2 {
		t.Fatalf("steps: %v", states)
	}
	// Also: the copy half written, and just created.
	for _, cut := range []string{"half", "empty"} {
		p := copyFiles(t, filepath.Dir(states["copied"]))
		tmp := p + compactSuffix
		n := int64(0)
		if cut == "half" {
			n = fileSize(t, tmp) / 2
		}
		if err := os.Truncate(tmp, n); err != nil {
			t.Fatal(err)
		}
		states[cut] = p
	}
	for _, step := range []string{"empty", "half", "copied", "renamed"} {
		t.Run(step, func(t *testing.T) {
			p := states[step]
			_, tmpErr := os.Stat(p + compactSuffix)
			if r, err := Check(p); err != nil || r.Deliveries != 5 {
				t.Fatalf("Check: %+v %v", r, err)
			}
			logs := &testutil.LogLines{}
			loadEqual(t, p, slog.New(logs), want)
			if _, err := os.Stat(p + compactSuffix); !os.IsNotExist(err) {
				t.Errorf("the copy is still there: %v", err)
			}
			if removed := logged(logs, "left by a compaction that was interrupted"); (tmpErr == nil) != (removed != "") {
				t.Errorf("a copy there: %v; logged: %q", tmpErr == nil, removed)
			}
			// Either the old file, compacted now, or the new one.
			if step != "renamed" && logged(logs, "Store: compacted") == "" {
				t.Errorf("not compacted:\n%s", strings.Join(logs.Lines(), "\n"))
			}
			if fileSize(t, p) > 4<<20 {
				t.Errorf("%d bytes", fileSize(t, p))
			}
		})
	}
}

// The copy's meta records are compared with the original's.
func TestSameMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s := openT(t, path)
	other := filepath.Join(t.TempDir(), "mqtt.db")
	o := openT(t, other)
	if err := sameMeta(s.db, o.db); err != nil {
		t.Fatal(err)
	}
	commitWait(t, o, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "r", Payload: []byte("x")}})
	o.Close()
	o = openT(t, other)
	if err := sameMeta(s.db, o.db); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("another checkpoint: %v", err)
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[int64]string{473_200_000: "473 MB", 2_140_000: "2.1 MB", 840_100: "840 kB", 10_000_000: "10 MB"} {
		if got := sizeString(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}
