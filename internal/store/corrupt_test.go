package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	bolt "go.etcd.io/bbolt"
)

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// filled is a closed store holding retained messages and a session with
// a queue.
func filled(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := []broker.Op{{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "sub", ProtocolVersion: 4, Expiry: 0xFFFFFFFF}}}
	for i := range n {
		m := &broker.Message{Topic: fmt.Sprintf("t/%d", i), Payload: bytes.Repeat([]byte{byte(i)}, 100), QoS: 1}
		ops = append(ops, broker.Op{Kind: broker.OpSetRetained, Message: m},
			broker.Op{Kind: broker.OpPutDelivery, ClientID: "sub", Delivery: &broker.DeliveryState{Seq: uint64(i + 1), Message: m, QoS: 1}})
	}
	commitWait(t, s, ops...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// summed is v with its checksum, as the store writes it (format 2): a
// record whose damage the checksum cannot see (written so by a buggy
// mqtt), for the decoder to find.
func summed(scope string, k, v []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(v), valueSum(scope, k, v))
}

// wantRefused opens path, expecting an *Error mentioning want, and checks
// that the file was not changed.
func wantRefused(t *testing.T, path, want string) {
	t.Helper()
	before := sum(t, path)
	s, err := Open(path, nil)
	if err == nil {
		var snap *broker.Snapshot
		snap, err = s.Load()
		s.Close()
		if err == nil {
			t.Fatalf("%s opened and loaded (%d retained, %d sessions)", path, len(snap.Retained), len(snap.Sessions))
		}
	}
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v (%T): want an *Error naming %s and saying %q", err, err, path, want)
	}
	if _, cerr := Check(path); cerr == nil || !strings.Contains(cerr.Error(), path) {
		t.Errorf("Check: %v", cerr)
	}
	if sum(t, path) != before {
		t.Fatal("the file was changed")
	}
}

func TestRefusesWhatItCannotRead(t *testing.T) {
	write := func(t *testing.T, data []byte) string {
		path := filepath.Join(t.TempDir(), "mqtt.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("all zeros", func(t *testing.T) {
		wantRefused(t, write(t, make([]byte, 64<<10)), "starts with zeros")
	})
	t.Run("mosquitto.db", func(t *testing.T) {
		data := append(append([]byte{}, mosquittoMagic...), make([]byte, 100)...)
		path := write(t, data)
		wantRefused(t, path, "Mosquitto persistence file")
		if !IsMosquittoFile(path) || IsMosquittoFile(filepath.Join(t.TempDir(), "none")) {
			t.Error("IsMosquittoFile")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		data := make([]byte, 32<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		wantRefused(t, write(t, data), "not a store file")
	})
	t.Run("another format version", func(t *testing.T) {
		path := filled(t, 3)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantRefused(t, path, fmt.Sprintf("store format version %d; this mqtt reads version %d", FormatVersion+1, FormatVersion))
	})
	t.Run("a bbolt file that is not a store", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantRefused(t, path, "not an mqtt store")
	})
	t.Run("a damaged record", func(t *testing.T) {
		path := filled(t, 3)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRetained).Put([]byte("t/1"), summed("", []byte("t/1"), []byte{recordV1, 1, 200}))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantRefused(t, path, `retained message of "t/1": record ends too early`)
	})
	t.Run("a damaged key", func(t *testing.T) {
		// One flipped bit in a session's "state" key: the session must not
		// look expired (it was dropped with its queue, and --check said OK).
		path := filled(t, 3)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketSessions).Bucket([]byte("sub"))
			v := append([]byte(nil), b.Get(keyState)...)
			if err := b.Delete(keyState); err != nil {
				return err
			}
			return b.Put([]byte("stbte"), v)
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantRefused(t, path, `session "sub": an unknown key "stbte"`)
	})
	t.Run("a record of a later version", func(t *testing.T) {
		path := filled(t, 3)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			d := tx.Bucket(bucketSessions).Bucket([]byte("sub")).Bucket(bucketDeliv)
			k := binary.BigEndian.AppendUint64(nil, 2)
			return d.Put(k, summed("sub", k, []byte{recordV1 + 1}))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		wantRefused(t, path, `session "sub": delivery 2: delivery record version 2 (this mqtt reads 1)`)
	})
	t.Run("truncated", func(t *testing.T) {
		path := filled(t, 2000)
		fi, _ := os.Stat(path)
		if err := os.Truncate(path, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, path, "damaged: truncated to ")
	})
	t.Run("journal truncated", func(t *testing.T) {
		// A journal cut short loses the records past its new end: refused,
		// not opened with fewer records (a fresh tester's --check said OK).
		path := filled(t, 20)
		jpath := journalPath(path)
		fi, _ := os.Stat(jpath)
		if err := os.Truncate(jpath, fi.Size()-4096); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, path, "but it was made with")
	})
	t.Run("in use", func(t *testing.T) {
		defer func(d time.Duration) { lockWait = d }(lockWait)
		lockWait = 100 * time.Millisecond
		path := filled(t, 1)
		s := openT(t, path)
		_, err := Open(path, nil)
		if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), path) {
			t.Fatalf("second Open: %v", err)
		}
		if _, err := Check(path); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("Check while in use: %v", err)
		}
		s.Close()
	})
}

// Pages overwritten in the middle of the file: whatever bbolt makes of
// it, the store reports an error (never a panic), and Check finds it.
func TestDamagedPages(t *testing.T) {
	path := filled(t, 2000)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(good) / page
	r := rand.New(rand.NewPCG(3, 4))
	found := 0
	for try := range 12 {
		bad := bytes.Clone(good)
		p := 4 + r.IntN(pages-4) // past the meta pages and the first (freelist, root) pages
		for i := p * page; i < (p+1)*page; i++ {
			bad[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, cerr := Check(path)
		s, err := Open(path, nil)
		if err == nil {
			_, err = s.Load()
			s.Close()
		}
		t.Logf("try %d, page %d: Check: %v; Open/Load: %v", try, p, firstLine(cerr), firstLine(err))
		if cerr != nil {
			found++
			if strings.Contains(cerr.Error(), "panic") || err != nil && strings.Contains(err.Error(), "panic") {
				t.Errorf("a message with Go's panic in it: %v / %v", cerr, err)
			}
			if !strings.Contains(cerr.Error(), path) {
				t.Errorf("Check's error does not name the file: %v", cerr)
			}
		}
	}
	if found == 0 {
		t.Fatal("Check found none of the damaged pages")
	}
}

func firstLine(err error) string {
	if err == nil {
		return "ok"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// journalWith is a closed store whose journal holds records after the
// last checkpoint (as a crash leaves it): n retained messages written one
// commit each, with checkpoints held back.
func journalWith(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: fmt.Sprintf("t/%d", i), Payload: []byte("v")}})
	}
	// As a crash would leave it: the journal written, the last checkpoint not.
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select { // as Close does
	case s.wake <- struct{}{}:
	default:
	}
	<-s.stopped // finish() ran its checkpoint; undo it by rewriting the checkpoint record
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			tx.Bucket(bucketRetained).Delete(fmt.Appendf(nil, "t/%d", i))
		}
		return tx.Bucket(bucketMeta).Put(keyCheckpoint, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, s.j.epoch), journalHeadLen))
	}); err != nil {
		t.Fatal(err)
	}
	s.j.close()
	s.db.Close()
	return path
}

func retainedCount(t *testing.T, path string) int {
	t.Helper()
	s := openT(t, path)
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return len(snap.Retained)
}

// The journal: its records after the checkpoint are applied at open; a
// record cut short by a crash (never acknowledged) ends it; a damaged
// record with good ones after it, a missing journal, one of another
// epoch and one without its store file are errors.
func TestJournal(t *testing.T) {
	t.Run("replayed", func(t *testing.T) {
		path := journalWith(t, 5)
		if n := retainedCount(t, path); n != 5 {
			t.Fatalf("%d retained after the replay, want 5", n)
		}
		if r, err := Check(path); err != nil || r.Retained != 5 {
			t.Fatalf("Check after the replay: %+v %v", r, err)
		}
	})
	t.Run("torn tail", func(t *testing.T) {
		path := journalWith(t, 5)
		j, err := openJournalMode(journalPath(path), os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		var ends []int64
		j.records(journalHeadLen, func(_ []byte, end int64) error { ends = append(ends, end); return nil })
		// The last record half written.
		j.f.WriteAt(make([]byte, 8), ends[3]+recordHeadLen+2)
		j.close()
		if _, err := Check(path); err != nil {
			t.Fatalf("Check with a torn last record: %v", err)
		}
		if n := retainedCount(t, path); n != 4 {
			t.Fatalf("%d retained, want the 4 whole records", n)
		}
	})
	t.Run("damaged in the middle", func(t *testing.T) {
		path := journalWith(t, 5)
		jp := journalPath(path)
		f, _ := os.OpenFile(jp, os.O_RDWR, 0)
		f.WriteAt([]byte{0xFF, 0xFF}, journalHeadLen+recordHeadLen+1)
		f.Close()
		before := sum(t, jp)
		_, err := Open(path, nil)
		if err == nil || !strings.Contains(err.Error(), jp) || !strings.Contains(err.Error(), "damaged record at offset") {
			t.Fatalf("Open: %v", err)
		}
		if _, err := Check(path); err == nil {
			t.Fatal("Check passed")
		}
		if sum(t, jp) != before {
			t.Fatal("the journal was changed")
		}
	})
	t.Run("missing", func(t *testing.T) {
		path := journalWith(t, 2)
		os.Remove(journalPath(path))
		if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "missing: the store") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("another epoch", func(t *testing.T) {
		path := journalWith(t, 2)
		j, _ := openJournalMode(journalPath(path), os.O_RDWR)
		j.epoch += 5
		j.writeHeader()
		j.close()
		if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "does not follow the store's checkpoint") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("without its store", func(t *testing.T) {
		path := journalWith(t, 2)
		os.Remove(path)
		if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "a journal without its store file") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("full: starts over", func(t *testing.T) {
		defer func(n int64) { journalSize = n }(journalSize)
		journalSize = 64 << 10
		path := filepath.Join(t.TempDir(), "mqtt.db")
		s := openT(t, path)
		for i := range 400 { // ~60 KiB of records each 100: several epochs
			commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: fmt.Sprintf("t/%d", i%100), Payload: bytes.Repeat([]byte{'x'}, 600)}})
		}
		s, snap := reload(t, s)
		if len(snap.Retained) != 100 || s.j.epoch < 3 {
			t.Fatalf("%d retained, journal epoch %d", len(snap.Retained), s.j.epoch)
		}
	})
}

// A store whose creation was cut short by an earlier mqtt (which made the
// file in place: a bbolt file without a bucket, the journal only under
// its temporary name) held nothing: it is made again, with a log line;
// Check explains it. Leftovers of the current creation (both files under
// temporary names) are replaced.
func TestInterruptedCreation(t *testing.T) {
	t.Run("in place, by an earlier mqtt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mqtt.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		j, err := createJournal(journalPath(path)+".new", 1)
		if err != nil {
			t.Fatal(err)
		}
		j.close()
		if _, err := Check(path); err == nil || !strings.Contains(err.Error(), "creation was interrupted") {
			t.Fatalf("Check: %v", err)
		}
		s := openT(t, path)
		commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "t", Payload: []byte("v")}})
		s.Close()
		if n := retainedCount(t, path); n != 1 {
			t.Fatalf("%d retained", n)
		}
	})
	t.Run("under temporary names", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mqtt.db")
		os.WriteFile(path+".new", []byte("half"), 0o600)
		os.WriteFile(journalPath(path)+".new", []byte("half"), 0o600)
		s := openT(t, path)
		s.Close()
		for _, p := range []string{path + ".new", journalPath(path) + ".new"} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", p, err)
			}
		}
		if _, err := Check(path); err != nil {
			t.Fatal(err)
		}
	})
}

// A journal without its store file (missing, or empty) is refused at
// every start, and nothing is created or changed; Check names an empty
// file as such.
func TestJournalWithoutStoreRefusedAlways(t *testing.T) {
	for _, name := range []string{"missing", "empty"} {
		t.Run(name, func(t *testing.T) {
			path := journalWith(t, 2)
			jp := journalPath(path)
			os.Remove(path)
			if name == "empty" {
				os.WriteFile(path, nil, 0o600)
			}
			before := sum(t, jp)
			for try := range 2 {
				if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "a journal without its store file") {
					t.Fatalf("Open %d: %v", try+1, err)
				}
				fi, err := os.Stat(path)
				if name == "missing" && !errors.Is(err, os.ErrNotExist) || name == "empty" && (err != nil || fi.Size() != 0) {
					t.Fatalf("Open %d changed the store file: %v %v", try+1, fi, err)
				}
				if sum(t, jp) != before {
					t.Fatal("the journal was changed")
				}
			}
			// --check says what the start says.
			if _, err := Check(path); err == nil || !strings.Contains(err.Error(), "a journal without its store file") {
				t.Fatalf("Check: %v", err)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "mqtt.db")
	os.WriteFile(path, nil, 0o600)
	if _, err := Check(path); err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") || strings.Contains(err.Error(), "file descriptor") {
		t.Fatalf("Check of an empty file: %v", err)
	}
}

// A damaged header (either meta page) is refused by Open as by Check:
// bbolt would fall back on the other page and start, while its page
// check fails. No message carries Go's "panic".
func TestDamagedHeader(t *testing.T) {
	for _, off := range []int64{0, 20, 64, 4096, 4096 + 20} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			path := filled(t, 3)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			f.ReadAt(b, off)
			b[0] ^= 0xFF
			f.WriteAt(b, off)
			f.Close()
			wantRefused(t, path, "meta page")
			_, cerr := Check(path)
			if strings.Contains(cerr.Error(), "panic") {
				t.Fatalf("Check: %v", cerr)
			}
		})
	}
}

// Every value carries a checksum (format 2): a flipped byte in a payload
// or in a key is reported by Open/Load and Check, naming the record,
// never delivered corrupted or silently lost.
func TestValueChecksums(t *testing.T) {
	for _, c := range []struct {
		name string
		find []byte
		want string
	}{
		{"payload", bytes.Repeat([]byte{2}, 100), "checksum mismatch"},
		{"topic key", []byte("t/2"), "checksum mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filled(t, 3)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(data, c.find)
			if i < 0 {
				t.Fatalf("%q not in the file", c.find)
			}
			data[i+len(c.find)-1] ^= 0x01
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, path, c.want)
		})
	}
	// A format 1 store (no checksums) is still read.
	path := filepath.Join(t.TempDir(), "mqtt.db")
	s := openT(t, path)
	commitWait(t, s, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "t", Payload: []byte("v")}})
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRetained).Get([]byte("t"))
		if err := tx.Bucket(bucketRetained).Put([]byte("t"), bytes.Clone(v[:len(v)-sumLen])); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Check(path); err != nil || r.Format != 1 || r.Retained != 1 {
		t.Fatalf("Check of a format 1 store: %+v %v", r, err)
	}
	if n := retainedCount(t, path); n != 1 {
		t.Fatalf("%d retained in a format 1 store", n)
	}
}
