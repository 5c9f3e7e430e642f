package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if binDir != "" {
			os.RemoveAll(binDir) // the mqtt binary of the crash tests
		}
	}))
}

func openT(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// commitWait commits ops and waits for their done.
func commitWait(t testing.TB, s broker.Store, ops ...broker.Op) {
	t.Helper()
	done := make(chan error, 1)
	s.Commit(ops, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func reload(t testing.TB, s *Store) (*Store, *broker.Snapshot) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, s.Path())
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s, snap
}

// at is a wall-clock time as the store gives it back (no monotonic reading).
func at(sec int64) time.Time { return time.Unix(sec, 123456789) }

// Every field of every record comes back as it was written.
func TestRoundTrip(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "data", "mqtt.db"))
	props := &packet.Properties{PayloadFormat: 1, HasPayloadFormat: true, MessageExpiry: 60, HasMessageExpiry: true,
		ContentType: "text/plain", ResponseTopic: "reply/to", CorrelationData: []byte{1, 2, 3},
		User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}
	full := &broker.Message{Topic: "a/b", Payload: []byte("payload"), QoS: 2, Retain: true, Props: props, Expiry: at(2000000000), From: "pub"}
	bare := &broker.Message{Topic: "x", Payload: []byte{}, QoS: 0}
	emptyCorr := &broker.Message{Topic: "e", Payload: []byte("p"), QoS: 1, Props: &packet.Properties{CorrelationData: []byte{}}}
	will := &broker.Message{Topic: "wills/c1", Payload: []byte("gone"), QoS: 1, From: "c1", Props: &packet.Properties{MessageExpiry: 5, HasMessageExpiry: true}}
	sess := &broker.SessionState{ClientID: "c1", ProtocolVersion: packet.V5, Username: "u", HasUsername: true, Expiry: 0xFFFFFFFF,
		DisconnectedAt: at(1700000000),
		Subscriptions: []broker.SubscriptionState{
			{Filter: "$share/g/s/#", Options: topic.Options{QoS: 1}},
			{Filter: "a/+", Options: topic.Options{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, Identifier: 268435455}},
		},
		Will: will, WillDelay: 30, WillAt: at(1700000030)}
	d1 := &broker.DeliveryState{Seq: 1, Message: full, QoS: 1, Retain: true, SubIDs: []uint32{7, 9}}
	d2 := &broker.DeliveryState{Seq: 2, Message: emptyCorr, QoS: 2, Dup: true, PacketID: 65535, Group: "g", Filter: "s/#"}
	d3 := &broker.DeliveryState{Seq: 1 << 40, QoS: 2, PacketID: 3, Released: true}
	commitWait(t, s,
		broker.Op{Kind: broker.OpSetRetained, Message: full},
		broker.Op{Kind: broker.OpSetRetained, Message: bare},
		broker.Op{Kind: broker.OpPutSession, Session: sess},
		broker.Op{Kind: broker.OpPutDelivery, ClientID: "c1", Delivery: d3},
		broker.Op{Kind: broker.OpPutDelivery, ClientID: "c1", Delivery: d2},
		broker.Op{Kind: broker.OpPutDelivery, ClientID: "c1", Delivery: d1},
		broker.Op{Kind: broker.OpPutInbound, ClientID: "c1", PacketID: 300},
		broker.Op{Kind: broker.OpPutInbound, ClientID: "c1", PacketID: 2},
		broker.Op{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "", ProtocolVersion: packet.V311}},
	)
	_, snap := reload(t, s)
	if want := []*broker.Message{bare, full}; !reflect.DeepEqual(byTopic(snap.Retained), byTopic(want)) {
		t.Errorf("retained:\n got %+v\nwant %+v", snap.Retained, want)
	}
	if len(snap.Sessions) != 2 {
		t.Fatalf("sessions: %+v", snap.Sessions)
	}
	got := snap.Sessions[1]
	if snap.Sessions[0].ClientID != "" {
		got = snap.Sessions[0]
	}
	want := *sess
	want.Deliveries = []*broker.DeliveryState{d1, d2, d3}
	want.Inbound = []uint16{2, 300}
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("session:\n got %+v\nwant %+v", got, &want)
		for i := range min(len(got.Deliveries), 3) {
			if !reflect.DeepEqual(got.Deliveries[i], want.Deliveries[i]) {
				t.Errorf("delivery %d:\n got %+v %+v\nwant %+v %+v", i, got.Deliveries[i], got.Deliveries[i].Message, want.Deliveries[i], want.Deliveries[i].Message)
			}
		}
	}
}

func byTopic(ms []*broker.Message) []*broker.Message {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b *broker.Message) int {
		switch {
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	return out
}

// Random sequences of operations leave the store holding what MemoryStore
// (the broker's reference) holds, across reopening.
func TestMatchesMemoryStore(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			mem := broker.NewMemoryStore()
			s := openT(t, filepath.Join(t.TempDir(), "mqtt.db"))
			ids := []string{"a", "b", "c", "d"}
			topics := []string{"t/1", "t/2", "t/3"}
			for range 40 {
				var ops []broker.Op
				for range 1 + r.IntN(30) {
					ops = append(ops, randomOp(r, ids, topics))
				}
				mem.Commit(slices.Clone(ops), nil)
				s.Commit(ops, nil)
			}
			var snap *broker.Snapshot
			s, snap = reload(t, s)
			want, _ := mem.Load()
			normalize(snap)
			normalize(want)
			if !reflect.DeepEqual(snap, want) {
				t.Fatalf("store and MemoryStore differ:\n got %s\nwant %s", dump(snap), dump(want))
			}
		})
	}
}

func randomOp(r *rand.Rand, ids, topics []string) broker.Op {
	id := ids[r.IntN(len(ids))]
	msg := func() *broker.Message {
		return &broker.Message{Topic: topics[r.IntN(len(topics))], Payload: fmt.Appendf(nil, "p%d", r.IntN(1000)), QoS: byte(r.IntN(3)), From: id}
	}
	switch r.IntN(9) {
	case 0:
		return broker.Op{Kind: broker.OpSetRetained, Message: msg()}
	case 1:
		return broker.Op{Kind: broker.OpClearRetained, Topic: topics[r.IntN(len(topics))]}
	case 2:
		return broker.Op{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: id, ProtocolVersion: 4, Expiry: uint32(r.IntN(100)),
			Subscriptions: []broker.SubscriptionState{{Filter: topics[r.IntN(len(topics))], Options: topic.Options{QoS: 1}}}}}
	case 3:
		if r.IntN(4) == 0 {
			return broker.Op{Kind: broker.OpDeleteSession, ClientID: id}
		}
		fallthrough
	case 4, 5:
		return broker.Op{Kind: broker.OpPutDelivery, ClientID: id, Delivery: &broker.DeliveryState{Seq: uint64(r.IntN(20)), Message: msg(), QoS: 1, PacketID: uint16(r.IntN(3))}}
	case 6:
		return broker.Op{Kind: broker.OpDeleteDelivery, ClientID: id, Seq: uint64(r.IntN(20))}
	case 7:
		return broker.Op{Kind: broker.OpPutInbound, ClientID: id, PacketID: uint16(1 + r.IntN(5))}
	}
	return broker.Op{Kind: broker.OpDeleteInbound, ClientID: id, PacketID: uint16(1 + r.IntN(5))}
}

// normalize makes snapshots comparable: retained by topic, empty slices nil.
func normalize(s *broker.Snapshot) {
	s.Retained = byTopic(s.Retained)
	s.LastAlive = time.Time{} // the file's, which a MemoryStore has no notion of
	for _, st := range s.Sessions {
		if len(st.Deliveries) == 0 {
			st.Deliveries = nil
		}
		if len(st.Inbound) == 0 {
			st.Inbound = nil
		}
		if len(st.Subscriptions) == 0 {
			st.Subscriptions = nil
		}
	}
	slices.SortFunc(s.Sessions, func(a, b *broker.SessionState) int {
		if a.ClientID < b.ClientID {
			return -1
		}
		return 1
	})
}

func dump(s *broker.Snapshot) string {
	out := ""
	for _, m := range s.Retained {
		out += fmt.Sprintf("\n  retained %s=%s", m.Topic, m.Payload)
	}
	for _, st := range s.Sessions {
		out += fmt.Sprintf("\n  session %+v", *st)
		for _, d := range st.Deliveries {
			out += fmt.Sprintf("\n    delivery %d %+v", d.Seq, d.Message)
		}
	}
	return out
}

// Commits that arrive together share a transaction; dones come in order,
// barriers included, and only after what was committed before them.
func TestGroupCommitOrder(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "mqtt.db"))
	const writers, each = 8, 200
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				done := make(chan error, 1)
				s.Commit([]broker.Op{{Kind: broker.OpPutDelivery, ClientID: "c", Delivery: &broker.DeliveryState{Seq: uint64(n), QoS: 1,
					Message: &broker.Message{Topic: "t", Payload: []byte("x")}}}}, nil)
				s.Commit(nil, func(err error) {
					mu.Lock()
					order = append(order, n)
					mu.Unlock()
					done <- err
				})
				if err := <-done; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Commits != 2*writers*each || st.Appends >= writers*each {
		t.Errorf("stats %+v: want %d commits in fewer than %d journal writes", st, 2*writers*each, writers*each)
	}
	_, snap := reload(t, s)
	if n := len(snap.Sessions[0].Deliveries); n != writers*each {
		t.Fatalf("%d deliveries stored, want %d", n, writers*each)
	}
	if len(order) != writers*each {
		t.Fatalf("%d barriers done", len(order))
	}
}

// A bracket (OpBegin..OpEnd) is never cut: the writer waits for its end,
// and a barrier before the bracket's start does not wait for it.
func TestBracketWholeInOneTransaction(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "mqtt.db"))
	put := func(seq uint64) broker.Op {
		return broker.Op{Kind: broker.OpPutDelivery, ClientID: "c", Delivery: &broker.DeliveryState{Seq: seq, QoS: 2, Message: &broker.Message{Topic: "t", Payload: []byte("x")}}}
	}
	before := make(chan error, 1)
	s.Commit([]broker.Op{put(1)}, nil)
	s.Commit(nil, func(err error) { before <- err })
	s.Commit([]broker.Op{{Kind: broker.OpBegin}}, nil)
	s.Commit([]broker.Op{put(2)}, nil)
	inside := make(chan error, 1)
	s.Commit(nil, func(err error) { inside <- err })
	if err := <-before; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-inside:
		t.Fatalf("a barrier inside an open bracket completed (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.Commit([]broker.Op{{Kind: broker.OpPutInbound, ClientID: "p", PacketID: 9}}, nil)
	s.Commit([]broker.Op{{Kind: broker.OpEnd}}, nil)
	if err := <-inside; err != nil {
		t.Fatal(err)
	}
	if c := cut([]commit{{ops: []broker.Op{{Kind: broker.OpBegin}}}, {}, {ops: []broker.Op{{Kind: broker.OpBegin}}}, {ops: []broker.Op{{Kind: broker.OpEnd}}}, {}, {ops: []broker.Op{{Kind: broker.OpEnd}}}, {}}); c != 7 {
		t.Errorf("cut of nested brackets = %d, want 7", c)
	}
	if c := cut([]commit{{}, {ops: []broker.Op{{Kind: broker.OpBegin}}}, {ops: []broker.Op{{Kind: broker.OpBegin}}}, {ops: []broker.Op{{Kind: broker.OpEnd}}}, {}}); c != 1 {
		t.Errorf("cut with a bracket open = %d, want 1", c)
	}
}

// After Close, a commit's done reports ErrClosed; Close twice is fine.
func TestCommitAfterClose(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "mqtt.db"))
	s.Commit([]broker.Op{{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "a", Payload: []byte("1")}}}, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	s.Commit(nil, func(err error) { got <- err })
	if err := <-got; err != ErrClosed {
		t.Fatalf("commit after Close: %v", err)
	}
	s = openT(t, s.Path())
	if snap, err := s.Load(); err != nil || len(snap.Retained) != 1 {
		t.Fatalf("what was queued before Close: %+v, %v", snap, err)
	}
}

// TestTouchMarksTheJournal: the writer's mark of the time (touch, the
// next start's LastAlive) goes through the journal's descriptor, which
// works after a broker started as root has dropped to a user that cannot
// reach the path.
func TestTouchMarksTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	s.touch(at)
	fi, err := os.Stat(journalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(at) {
		t.Fatalf("journal modified at %v, want %v", fi.ModTime(), at)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A journal under its temporary name beside the journal itself is a
// leftover (its creation renames it): the next start removes it, with a
// log line, instead of leaving it there for ever. Check writes nothing.
func TestLeftoverNewJournalRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	stale := journalPath(path) + ".new"
	if err := os.WriteFile(stale, []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("Check removed it: %v", err)
	}
	var logs testutil.LockedBuffer
	s, err = Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
	if !strings.Contains(logs.String(), "removed "+stale) {
		t.Fatalf("no log line:\n%s", logs.String())
	}
}

// The journal is never two epochs ahead of the checkpoint the store file
// records: a start accepts the journal at that epoch or the next only, so
// a crash in between left a store no start would open. Large commits
// that cross the journal's half (fullAt) checkpoint everything behind
// them and start the journal over; the checkpoint itself may already
// have started it over (a commit larger than half the journal), and it
// was started over a second time. A fresh tester hit it with kill -9 during 3 MB QoS 2
// messages. The state is checked after every commit, the journal's epoch
// first: the file's only grows, so a correct store never fails the check.
func TestJournalNeverTwoEpochsAhead(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 1 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "mqtt.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Each commit alone takes the journal past half: the next finds a
	// checkpoint of it running, and that checkpoint starts the journal
	// over as it ends.
	payload := make([]byte, 600<<10)
	for i := range 20 {
		m := &broker.Message{Topic: fmt.Sprintf("big/%d", i%5), QoS: 1, Retain: true, Payload: payload}
		commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: m})
		h := make([]byte, 16)
		jf, err := os.Open(journalPath(path))
		if err != nil {
			t.Fatal(err)
		}
		jf.ReadAt(h, 0)
		jf.Close()
		journal := binary.LittleEndian.Uint64(h[8:])
		var file uint64
		s.db.View(func(tx *bolt.Tx) error {
			file = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyCheckpoint))
			return nil
		})
		if journal > file+1 {
			t.Fatalf("commit %d: journal at epoch %d, the store file's checkpoint at %d: a crash now leaves a store no start opens", i, journal, file)
		}
	}
}
