package store

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
)

// openFDs counts this process's descriptors open on path.
func openFDs(t *testing.T, path string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == path {
			n++
		}
	}
	return n
}

// Another broker waiting for the store's lock while the store is
// compacted gets it on the old file once that is closed: it must notice
// that the name is the copy's now, and open that, else what it writes
// goes to a removed file.
func TestCompactWhileAnotherWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	want := bloated(t, path, 400)
	on := noCompaction(t)
	a, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	on()
	type result struct {
		s   *Store
		err error
	}
	opened := make(chan result, 1)
	compactHook = func(step string) {
		if step != "copied" {
			return
		}
		go func() {
			s, err := Open(path, nil)
			opened <- result{s, err}
		}()
		// Until it has the file open, waiting for the lock.
		for deadline := time.Now().Add(10 * time.Second); openFDs(t, path) < 2; runtime.Gosched() {
			if time.Now().After(deadline) {
				t.Fatal("the second Open did not open the file")
			}
		}
	}
	defer func() { compactHook = nil }()
	big := fileSize(t, path)
	if err := a.Close(); err != nil { // compacts
		t.Fatal(err)
	}
	compactHook = nil
	r := <-opened
	if r.err != nil {
		t.Fatal(r.err)
	}
	if small := fileSize(t, path); small*4 > big {
		t.Fatalf("not compacted: %d bytes, then %d", big, small)
	}
	b := r.s
	if openFDs(t, path+" (deleted)") != 0 {
		t.Fatal("the second store has the old file open, removed by the rename")
	}
	commitWait(t, b, broker.Op{Kind: broker.OpSetRetained, Message: &broker.Message{Topic: "home/after", Payload: []byte("x"), Retain: true}})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	want.Retained = byTopic(append(want.Retained, &broker.Message{Topic: "home/after", Payload: []byte("x"), Retain: true}))
	loadEqual(t, path, nil, want)
}
