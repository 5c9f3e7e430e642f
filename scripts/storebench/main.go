// Command storebench measures go.etcd.io/bbolt against github.com/cockroachdb/pebble on the
// write pattern of the broker's store (internal/store): group commits of small records, each
// waited for by a publisher, most deleted again soon after (acknowledged deliveries), retained
// messages overwritten in place, and a restart that reads everything back. Its own module, so
// the product's go.mod carries only the store that was chosen; see internal/store's package
// doc for the figures.
//
//	go run . -engine bbolt|pebble -dir DIR [-n 200000] [-w 80] [-load 1000000]
package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

type op struct {
	del      bool
	key, val []byte
}

type engine interface {
	apply(ops []op) error // one transaction, durable on return
	scan() (int, error)   // read every record (a restart)
	close() error
}

// bbolt: one bucket, as many records as the broker's layout has.
type boltEngine struct{ db *bolt.DB }

var bucket = []byte("d")

func openBolt(dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "store.db"), 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err })
	return &boltEngine{db}, err
}

func (e *boltEngine) apply(ops []op) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		b.FillPercent = 0.9 // keys mostly grow (sequence numbers): split pages nearly full
		for _, o := range ops {
			var err error
			if o.del {
				err = b.Delete(o.key)
			} else {
				err = b.Put(o.key, o.val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) scan() (n int, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error { n++; return nil })
	})
	return n, err
}

func (e *boltEngine) close() error { return e.db.Close() }

// walEngine: each group commit is appended to a preallocated log and made durable with one
// fdatasync; a background goroutine applies the ops to bbolt in large transactions (a
// checkpoint), after which the log could be truncated. What the broker would do with bbolt
// if a second fdatasync per commit were too slow.
type walEngine struct {
	log  *os.File
	off  int64
	bolt *boltEngine
	mu   sync.Mutex
	q    []op
	wake chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
}

func openWAL(dir string) (engine, error) {
	b, err := openBolt(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	// Preallocated and written once with zeros, so that appends change no metadata and
	// fdatasync writes data only.
	zero := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		f.Write(zero)
	}
	f.Sync()
	e := &walEngine{log: f, bolt: b.(*boltEngine), wake: make(chan struct{}, 1), quit: make(chan struct{})}
	e.wg.Add(1)
	go e.checkpoints()
	return e, nil
}

func (e *walEngine) apply(ops []op) error {
	var buf []byte
	for _, o := range ops {
		if o.del {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		buf = binary.AppendUvarint(buf, uint64(len(o.key)))
		buf = append(buf, o.key...)
		buf = binary.AppendUvarint(buf, uint64(len(o.val)))
		buf = append(buf, o.val...)
	}
	if e.off+int64(len(buf)) > 64<<20 {
		e.off = 0 // the benchmark wraps around: a real log would start a new segment
	}
	if _, err := e.log.WriteAt(buf, e.off); err != nil {
		return err
	}
	e.off += int64(len(buf))
	if err := syscall.Fdatasync(int(e.log.Fd())); err != nil {
		return err
	}
	e.mu.Lock()
	e.q = append(e.q, ops...)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return nil
}

func (e *walEngine) checkpoints() {
	defer e.wg.Done()
	for {
		select {
		case <-e.quit:
			return
		case <-e.wake:
		}
		time.Sleep(50 * time.Millisecond) // gather
		e.mu.Lock()
		q := e.q
		e.q = nil
		e.mu.Unlock()
		if len(q) > 0 {
			if err := e.bolt.apply(q); err != nil {
				panic(err)
			}
		}
	}
}

func (e *walEngine) scan() (int, error) { return e.bolt.scan() }
func (e *walEngine) close() error {
	close(e.quit)
	e.wg.Wait()
	e.log.Close()
	return e.bolt.close()
}

type pebbleEngine struct{ db *pebble.DB }

func openPebble(dir string) (engine, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	return &pebbleEngine{db}, err
}

func (e *pebbleEngine) apply(ops []op) error {
	b := e.db.NewBatch()
	for _, o := range ops {
		if o.del {
			b.Delete(o.key, nil)
		} else {
			b.Set(o.key, o.val, nil)
		}
	}
	return b.Commit(pebble.Sync)
}

func (e *pebbleEngine) scan() (n int, err error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		_ = it.Value()
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

func (e *pebbleEngine) close() error { return e.db.Close() }

// writer is the group commit: whatever is queued when the previous transaction ends goes into
// the next one, and every waiter of it is released together.
type writer struct {
	e       engine
	mu      sync.Mutex
	ops     []op
	dones   []chan error
	wake    chan struct{}
	batches atomic.Int64
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newWriter(e engine) *writer {
	w := &writer{e: e, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *writer) commit(ops []op, done chan error) {
	w.mu.Lock()
	w.ops = append(w.ops, ops...)
	if done != nil {
		w.dones = append(w.dones, done)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) loop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			return
		}
		w.mu.Lock()
		ops, dones := w.ops, w.dones
		w.ops, w.dones = nil, nil
		w.mu.Unlock()
		if len(ops) == 0 && len(dones) == 0 {
			continue
		}
		err := w.e.apply(ops)
		w.batches.Add(1)
		for _, d := range dones {
			d <- err
		}
	}
}

func (w *writer) stop() { close(w.quit); w.wg.Wait() }

func delivery(client, seq uint64) []byte {
	k := make([]byte, 0, 24)
	k = append(k, 'd', 'c', 'l', 'i', 'e', 'n', 't', byte('0'+client), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// value is a delivery record: a 64-byte payload, topic, flags and header; random and new for
// each record, since payloads rarely compress as well as repeated bytes (pebble compresses).
func value() []byte { v := make([]byte, 100); rand.Read(v); return v }

// fanIn: w waiters, each publishing n/w messages one after the other (a publisher's window
// slot): the delivery is stored and waited for; then the subscriber's acknowledgement deletes
// it without waiting (the broker does not wait on deletes).
func fanIn(e engine, n, w int) {
	wr := newWriter(e)
	var seq atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for j := 0; j < n/w; j++ {
				k := delivery(0, seq.Add(1))
				wr.commit([]op{{key: k, val: value()}}, done)
				if err := <-done; err != nil {
					panic(err)
				}
				wr.commit([]op{{del: true, key: k}}, nil)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	done := make(chan error, 1)
	wr.commit(nil, done)
	<-done
	wr.stop()
	fmt.Printf("fan-in: %d msgs, %d waiting at once: %.0f msgs/s, %d transactions (%.1f msgs each)\n",
		n, w, float64(n)/el.Seconds(), wr.batches.Load(), float64(n)/float64(wr.batches.Load()))
}

// retained: w publishers overwrite 1000 topics' retained messages, each waiting for its write.
func retained(e engine, n, w int) {
	wr := newWriter(e)
	var seq atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for j := 0; j < n/w; j++ {
				k := fmt.Appendf(nil, "rsensors/%d/state", seq.Add(1)%1000)
				wr.commit([]op{{key: k, val: value()}}, done)
				if err := <-done; err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	wr.stop()
	fmt.Printf("retained: %d updates of 1000 topics, %d waiting at once: %.0f updates/s, %d transactions\n",
		n, w, float64(n)/el.Seconds(), wr.batches.Load())
}

// load stores m queued deliveries in transactions of 10,000 (an offline subscriber's queue).
func load(e engine, m int) {
	start := time.Now()
	ops := make([]op, 0, 10000)
	for i := 0; i < m; i++ {
		ops = append(ops, op{key: delivery(1, uint64(i)), val: value()})
		if len(ops) == cap(ops) || i == m-1 {
			if err := e.apply(ops); err != nil {
				panic(err)
			}
			ops = ops[:0]
		}
	}
	fmt.Printf("queued %d deliveries in %v\n", m, time.Since(start).Round(time.Millisecond))
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// full writes until the disk is full, then checks that deleting, reading, closing and opening
// again still work.
func full(open func(string) (engine, error), dir string) {
	e, err := open(dir)
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	var i int
	var werr error
	for i = 0; i < 1_000_000; i++ {
		if werr = e.apply([]op{{key: delivery(2, uint64(i)), val: value()}}); werr != nil {
			break
		}
	}
	fmt.Printf("full: %d records stored, then: %v\n", i, werr)
	fmt.Printf("full: delete of the first record: %v\n", e.apply([]op{{del: true, key: delivery(2, 0)}}))
	fmt.Printf("full: put after the delete: %v\n", e.apply([]op{{key: delivery(3, 0), val: value()}}))
	n, err := e.scan()
	fmt.Printf("full: scan: %d records, %v\n", n, err)
	fmt.Printf("full: close: %v\n", e.close())
	e, err = open(dir)
	if err != nil {
		fmt.Printf("full: reopen: %v\n", err)
		return
	}
	n, err = e.scan()
	fmt.Printf("full: reopened, scan: %d records, %v; close: %v\n", n, err, e.close())
}

func main() {
	name := flag.String("engine", "bbolt", "bbolt or pebble")
	dir := flag.String("dir", "", "an empty directory")
	n := flag.Int("n", 200000, "fan-in messages")
	w := flag.Int("w", 80, "messages waiting at once (4 publishers x 20 in flight)")
	m := flag.Int("load", 1000000, "queued deliveries for the restart")
	fullOnly := flag.Bool("full", false, "only the disk-full test (-dir on a small tmpfs)")
	flag.Parse()
	open := openBolt
	switch *name {
	case "pebble":
		open = openPebble
	case "wal":
		open = openWAL
	}
	if *fullOnly {
		full(open, *dir)
		return
	}
	must := func(e engine, err error) engine {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return e
	}
	e := must(open(filepath.Join(*dir, "fanin")))
	fanIn(e, *n, *w)
	e.close()
	e = must(open(filepath.Join(*dir, "retained")))
	retained(e, *n, *w)
	e.close()
	p := filepath.Join(*dir, "restart")
	e = must(open(p))
	load(e, *m)
	e.close()
	fmt.Printf("store size with %d queued: %.1f MiB (%.1f MiB per 100k)\n", *m, float64(dirSize(p))/(1<<20), float64(dirSize(p))/(1<<20)/float64(*m)*100000)
	start := time.Now()
	e = must(open(p))
	c, err := e.scan()
	fmt.Printf("restart: open and read %d records: %v (%v)\n", c, time.Since(start).Round(time.Millisecond), err)
	e.close()
}

type quiet struct{}

func (quiet) Infof(string, ...any)      {}
func (quiet) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (quiet) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "FATAL: "+f+"\n", a...)
	os.Exit(2)
}
