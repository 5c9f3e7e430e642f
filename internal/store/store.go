package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FormatVersion is the version of the store's layout, kept in the file.
// A store of another version is refused, never rewritten; version 1
// (values without their checksum) is still read and written as it is.
const FormatVersion = 2

// sumLen is the CRC-32C (Castagnoli) that ends every value of a format 2
// store: of its session's client id, its key and its value, so a flipped
// byte in a payload, a topic or a key is reported, not delivered or lost.
const sumLen = 4

// The layout: top-level buckets, and one bucket per session.
var (
	bucketMeta     = []byte("meta")     // "format": FormatVersion, 4 bytes big-endian
	bucketRetained = []byte("retained") // topic -> message
	bucketSessions = []byte("sessions") // client id -> bucket:
	keyFormat      = []byte("format")
	keyJournalSize = []byte("journal-size") // the journal's size when made, 8 bytes big-endian (absent in older stores)
	keyState       = []byte("state")        //   "state" -> session
	bucketDeliv    = []byte("d")            //   "d"/seq (8 bytes big-endian) -> delivery
	bucketInbound  = []byte("i")            //   "i"/packet id (2 bytes big-endian) -> empty
)

// lockWait is how long Open waits for another process to let go of the
// file (a broker still shutting down) before it reports it in use.
var lockWait = 2 * time.Second

// ErrClosed is given to the done of a Commit after Close.
var ErrClosed = errors.New("store: closed")

// Error is a store that cannot be used: which file, and what is wrong.
type Error struct {
	Path string
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := "store " + e.Path + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Store is the broker's durable store: a bbolt file and its journal. It
// implements broker.Store: Commit queues, one writer goroutine appends
// everything queued as one journal record (one group commit, one
// fdatasync) and then calls the dones; checkpoints copy the journal into
// the bbolt file behind it.
type Store struct {
	path   string
	db     *bolt.DB
	sums   bool // format 2: every value ends with its checksum (sumLen)
	format int
	j      *journal
	log    *slog.Logger

	mu      sync.Mutex // guards pending, spare, closed
	pending []commit
	spare   []commit
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
	once    sync.Once

	// The writer's own (and Load's, before it starts):
	rec      []byte      // the record being written
	behind   []broker.Op // in the journal, not yet in the bbolt file
	ckptRun  bool        // a checkpoint goroutine is running
	ckptOps  []broker.Op // what it applies
	ckptDone chan error
	ckptErr  error // the last checkpoint's failure
	ckptAt   time.Time
	ckptOff  int64 // the journal offset the last checkpoint started at

	commits, appends, ckpts atomic.Uint64

	// lastAlive is when the broker that used the store last was known to
	// run: the journal's modification time at open, which the writer
	// touches every aliveEvery while it runs (Snapshot.LastAlive).
	lastAlive time.Time
}

type commit struct {
	ops  []broker.Op
	done func(error)
}

// Stats counts what the store has done since Open.
type Stats struct {
	Commits     uint64 // Commit calls, barriers included
	Appends     uint64 // journal records (group commits): one fdatasync each
	Checkpoints uint64 // bbolt transactions: two fdatasyncs each
}

// mosquittoMagic starts a Mosquitto persistence file.
var mosquittoMagic = []byte{0x00, 0xB5, 0x00, 'm', 'o', 's', 'q', 'u', 'i', 't', 't', 'o', ' ', 'd', 'b'}

// Open opens the store at path, creating it (and its directory) when it
// does not exist. A file that is not a store of this format, damaged, or
// held by another process is an *Error; it is left as it is.
func Open(path string, logger *slog.Logger) (*Store, error) {
	return open(path, logger, false)
}

func open(path string, logger *slog.Logger, readOnly bool) (s *Store, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	jpath := journalPath(path)
	fresh := false
	switch fi, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist):
		if readOnly {
			if _, err := os.Lstat(jpath); err == nil {
				return nil, journalAlone(jpath, path)
			}
			return nil, &Error{Path: path, Msg: "no such file"}
		}
		fresh = true
	case err != nil:
		return nil, &Error{Path: path, Msg: "cannot read it", Err: err}
	case fi.IsDir():
		return nil, &Error{Path: path, Msg: "is a directory"}
	case fi.Size() == 0:
		// Left by an earlier mqtt whose first start was interrupted (it
		// created the file in place): nothing was ever stored in it.
		if readOnly {
			if _, err := os.Lstat(jpath); err == nil {
				return nil, journalAlone(jpath, path)
			}
			return nil, &Error{Path: path, Msg: "empty (0 bytes): not a store; nothing was ever stored in it (a first start that was interrupted?), and the next start creates the store"}
		}
		fresh = true
	default:
		if err := sniff(path); err != nil {
			return nil, err
		}
	}
	if fresh {
		if _, err := os.Lstat(jpath); err == nil || !errors.Is(err, os.ErrNotExist) {
			return nil, journalAlone(jpath, path)
		}
		if err := create(path, logger); err != nil {
			return nil, err
		}
	}
	s, err = openBolt(path, logger, readOnly)
	if err != nil && interrupted(path) {
		// An earlier mqtt made the store file in place, and a crash during its
		// first start left it without its format record, its journal never
		// put in place: nothing was ever stored in it.
		if readOnly {
			return nil, &Error{Path: path, Msg: "its creation was interrupted (a crash during the first start: no format record, and only " + jpath + ".new); nothing was ever stored in it, and the next start creates the store again"}
		}
		logger.Warn("Store " + path + ": its creation was interrupted (a crash during the first start); nothing was stored in it: creating it again.")
		os.Remove(path)
		os.Remove(jpath + ".new")
		if err := create(path, logger); err != nil {
			return nil, err
		}
		s, err = openBolt(path, logger, readOnly)
	}
	return s, err
}

// journalAlone is the refusal of a journal whose store file is missing or
// empty: Open and Check (`mqtt serve --check`) say the same.
func journalAlone(jpath, path string) error {
	return &Error{Path: jpath, Msg: "a journal without its store file " + path + " (missing or empty: was the store removed? remove the journal too to start empty); nothing was changed"}
}

// interrupted reports whether path is a store file whose creation by an
// earlier mqtt was cut short: a bbolt file without a single bucket,
// beside a journal under its temporary name and no journal.
func interrupted(path string) bool {
	jpath := journalPath(path)
	if _, err := os.Stat(jpath); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	if _, err := os.Stat(jpath + ".new"); err != nil {
		return false
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guard
	defer func() { recover() }()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	if err != nil {
		return false
	}
	defer db.Close()
	empty := true
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return errors.New("not empty") })
	})
	return empty
}

// create makes a new store at path: its journal and its file under
// temporary names, the file complete (format, buckets) before it is
// renamed into place, then the journal (by openJournal). A crash on the
// way leaves either no store file (the next start creates one) or a
// complete one whose journal openJournal puts in place.
func create(path string, logger *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return &Error{Path: path, Msg: "cannot create its directory", Err: err}
	}
	jnew, fnew := journalPath(path)+".new", path+".new"
	os.Remove(jnew) // left by a creation that was interrupted
	os.Remove(fnew)
	j, err := createJournal(jnew, 1)
	if err != nil {
		return &Error{Path: journalPath(path), Msg: "cannot create it", Err: err}
	}
	j.close()
	db, err := bolt.Open(fnew, 0o600, &bolt.Options{Timeout: lockWait})
	if err != nil {
		os.Remove(jnew)
		return &Error{Path: path, Msg: "cannot create it", Err: err}
	}
	s := &Store{path: path, db: db, log: logger}
	err = s.initFormat(true)
	if e := db.Close(); err == nil && e != nil {
		err = &Error{Path: path, Msg: "cannot create it", Err: e}
	}
	if err == nil {
		if e := os.Rename(fnew, path); e != nil {
			err = &Error{Path: path, Msg: "cannot create it", Err: e}
		} else if e := syncDir(filepath.Dir(path)); e != nil {
			err = &Error{Path: path, Msg: "cannot create it", Err: e}
		}
	}
	if err != nil {
		os.Remove(fnew)
		os.Remove(jnew)
		return err
	}
	return nil
}

// openBolt opens an existing store file and its journal.
func openBolt(path string, logger *slog.Logger, readOnly bool) (s *Store, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guard
	var file *os.File
	defer func() {
		if r := recover(); r != nil { // bbolt panics on some damage
			err = damaged(path, "damaged", r)
			if file != nil {
				file.Close() // and its lock
			}
		}
	}()
	var db *bolt.DB
	for attempt := 0; ; attempt++ {
		db, err = bolt.Open(path, 0o600, boltOptions(&file, readOnly))
		if err != nil {
			return nil, openError(path, err)
		}
		// A broker that compacted the file while this waited for its lock put
		// a new file in its place: this one is no longer the store.
		fi, err1 := file.Stat()
		cur, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || os.SameFile(fi, cur) {
			break
		}
		db.Close()
		if attempt == 2 {
			return nil, &Error{Path: path, Msg: "in use by another process (replaced again and again while it was being opened)"}
		}
	}
	s = &Store{path: path, db: db, log: logger, wake: make(chan struct{}, 1), stopped: make(chan struct{}), ckptDone: make(chan error, 1)}
	if !readOnly {
		s.removeLeftover()
	}
	if err := s.initFormat(false); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openJournal(false, readOnly); err != nil {
		db.Close()
		return nil, err
	}
	if fi, err := os.Stat(journalPath(path)); err == nil {
		s.lastAlive = fi.ModTime() // before the writer touches it (aliveEvery)
	}
	if readOnly {
		close(s.stopped)
		s.closed = true
		return s, nil
	}
	if err := s.maybeCompact(false); err != nil {
		s.j.close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// boltOptions are the store file's: file, if not nil, is set to the file
// bbolt opens (to close it, and its lock, after a panic).
func boltOptions(file **os.File, readOnly bool) *bolt.Options {
	return &bolt.Options{
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			if file != nil {
				*file = f
			}
			return f, err
		},
		Timeout:  lockWait,
		ReadOnly: readOnly,
		// The freelist is written with each transaction (one page more, no extra sync):
		// without it bbolt rebuilds it at open in a goroutine of its own that panics,
		// out of our reach, on a damaged page.
		NoFreelistSync: false,
		FreelistType:   bolt.FreelistMapType,
	}
}

// openJournal opens the journal (or makes the first one) and reads the
// records the store file does not hold yet into s.behind: a crash left
// them. They go to the store file now, or, if it cannot be written (a
// full disk), stay in the journal and Load adds them to what it reads.
func (s *Store) openJournal(fresh, readOnly bool) error {
	jpath := journalPath(s.path)
	epoch, off := uint64(1), int64(journalHeadLen)
	if !fresh {
		err := s.db.View(func(tx *bolt.Tx) error {
			v := tx.Bucket(bucketMeta).Get(keyCheckpoint)
			if len(v) != 16 {
				return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: checkpoint record of %d bytes", len(v))}
			}
			epoch, off = binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
			return nil
		})
		if err != nil {
			return err
		}
	}
	j, err := openJournalFile(jpath, readOnly)
	if errors.Is(err, os.ErrNotExist) && !readOnly {
		// A store is made journal first (under a temporary name), then its file,
		// then the journal is put in place: one made before a crash is finished.
		if os.Rename(jpath+".new", jpath) == nil {
			if err := syncDir(filepath.Dir(jpath)); err != nil {
				return &Error{Path: jpath, Msg: "cannot create it", Err: err}
			}
			j, err = openJournalFile(jpath, false)
		}
	}
	switch {
	case fresh && err == nil && epoch == 1:
		if j.epoch != 1 || j.records(journalHeadLen, func([]byte, int64) error { return errors.New("records") }) != nil {
			j.close()
			return &Error{Path: jpath, Msg: "a journal without its store file " + s.path + " (was the store removed? remove the journal too to start empty); nothing was changed"}
		}
		s.j, s.ckptOff = j, j.off
		return nil
	case errors.Is(err, os.ErrNotExist):
		return &Error{Path: jpath, Msg: "missing: the store " + s.path + " needs its journal; nothing was read or changed"}
	case err != nil:
		return &Error{Path: jpath, Msg: "cannot be read", Err: err}
	}
	if !readOnly {
		// The journal under its temporary name beside the journal itself
		// can only be left over (its creation renames it): it would lie
		// there for ever.
		if _, err := os.Lstat(jpath + ".new"); err == nil && os.Remove(jpath+".new") == nil {
			s.log.Info("Store: removed " + jpath + ".new, left over beside the journal.")
		}
	}
	// The journal never changes size: a shorter (or longer) one lost
	// records, or is not this store's.
	var made int64
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyJournalSize); len(v) == 8 {
			made = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if made != 0 && j.size != made {
		j.close()
		return &Error{Path: jpath, Msg: fmt.Sprintf("damaged: %d bytes, but it was made with %d (truncated? the records past its end are lost); nothing was changed", j.size, made)}
	}
	s.j = j
	from := off
	switch j.epoch {
	case epoch:
	case epoch + 1:
		from = journalHeadLen
	default:
		j.close()
		return &Error{Path: jpath, Msg: fmt.Sprintf("journal epoch %d does not follow the store's checkpoint (epoch %d); nothing was changed", j.epoch, epoch)}
	}
	err = j.records(from, func(p []byte, end int64) error {
		d := dec{b: p}
		ops := d.ops()
		if err := d.end(); err != nil {
			return fmt.Errorf("record before offset %d: %w", end, err)
		}
		s.behind = append(s.behind, ops...)
		return nil
	})
	if err != nil {
		j.close()
		return &Error{Path: jpath, Msg: "damaged", Err: err}
	}
	s.ckptOff = j.off
	if readOnly || len(s.behind) == 0 {
		return nil
	}
	if err := s.checkpoint(s.behind, j.epoch, j.off); err != nil {
		s.log.Warn("Store: " + err.Error() + "; the journal's " + fmt.Sprint(len(s.behind)) + " operations stay in it and are read from there.")
		s.ckptErr, s.ckptAt = err, time.Now()
		return nil
	}
	s.log.Info(fmt.Sprintf("Store: %d operations from the journal written to %s.", len(s.behind), s.path))
	s.behind = nil
	return nil
}

// guard: bbolt reads the file through a memory mapping and trusts the
// page numbers it finds there, so a damaged or truncated file can make
// it read past the mapping. Go crashes the process on such a fault
// unless the goroutine asked for a panic instead (debug.SetPanicOnFault,
// meant for memory-mapped files); every goroutine of ours that reads the
// mapping asks, and recovers the panic into an *Error. bbolt's own
// goroutine in tx.Check only runs after Load has read every page.

// sniff names files that are certainly not ours before bbolt reads them.
func sniff(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{Path: path, Msg: "cannot read it", Err: err}
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Path: path, Msg: "cannot read it", Err: err}
	}
	head = head[:n]
	if bytes.HasPrefix(head, mosquittoMagic) {
		return &Error{Path: path, Msg: "is a Mosquitto persistence file, which mqtt cannot read; move it away or set persistence_file to another name"}
	}
	if len(bytes.Trim(head, "\x00")) == 0 {
		return &Error{Path: path, Msg: "damaged: it starts with zeros (a crash during its creation?); nothing was read or changed"}
	}
	fi, err := f.Stat()
	if err != nil {
		return &Error{Path: path, Msg: "cannot read it", Err: err}
	}
	want, bad := metaPages(f)
	if bad != "" {
		return &Error{Path: path, Msg: "damaged: " + bad + "; nothing was read or changed"}
	}
	if want > fi.Size() {
		return &Error{Path: path, Msg: fmt.Sprintf("damaged: truncated to %d bytes, its header says %d; nothing was read or changed", fi.Size(), want)}
	}
	return nil
}

// metaPages checks a bbolt file's two meta pages (its header), which
// bbolt writes in turn, and returns the size the newer one claims (its
// high-water page times the page size). bbolt itself falls back on the
// other page when one is damaged, and its page check then fails on it:
// the store refuses a damaged one at once, so that serving and --check
// agree. Layout: a page header (id uint64, flags uint16, count uint16,
// overflow uint32), then magic, version, page size, flags (uint32
// each), root bucket (16 bytes), freelist, pgid, txid, checksum (uint64
// each; FNV-64a of what precedes it), little-endian.
func metaPages(f *os.File) (size int64, bad string) {
	const magic, version, metaLen, metaFlag = 0xED0CDAED, 2, 64, 0x04
	le := binary.LittleEndian
	var best, txid uint64
	read := func(id uint64, off int64) (pageSize uint32, bad string) {
		p := make([]byte, 16+metaLen)
		if _, err := f.ReadAt(p, off); err != nil {
			return 0, fmt.Sprintf("its header (meta page %d at offset %d) cannot be read: %v", id, off, err)
		}
		m := p[16:]
		h := fnv.New64a()
		h.Write(m[:56])
		switch {
		case le.Uint32(m[0:]) != magic:
			return 0, fmt.Sprintf("its header (meta page %d at offset %d) lacks bbolt's magic number (not a store file?)", id, off)
		case h.Sum64() != le.Uint64(m[56:]):
			return 0, fmt.Sprintf("its header (meta page %d at offset %d) fails its checksum", id, off)
		case le.Uint32(m[4:]) != version:
			return 0, fmt.Sprintf("its header (meta page %d at offset %d) names bbolt format version %d, not %d", id, off, le.Uint32(m[4:]), version)
		case le.Uint64(p[0:]) != id || le.Uint16(p[8:])&metaFlag == 0:
			return 0, fmt.Sprintf("its header (meta page %d at offset %d) has a damaged page header (id %d, flags %#x)", id, off, le.Uint64(p[0:]), le.Uint16(p[8:]))
		}
		pageSize = le.Uint32(m[8:])
		if t := le.Uint64(m[48:]); best == 0 || t > txid {
			best, txid = le.Uint64(m[40:])*uint64(pageSize), t
		}
		return pageSize, ""
	}
	ps, bad0 := read(0, 0)
	if ps == 0 {
		ps = uint32(os.Getpagesize())
	}
	_, bad1 := read(1, int64(ps))
	switch {
	case bad0 != "" && bad1 != "" && strings.Contains(bad0, "magic") && strings.Contains(bad1, "magic"):
		return 0, "" // not bbolt's at all: bbolt says so (openError)
	case bad0 != "":
		return int64(min(best, 1<<62)), bad0
	case bad1 != "":
		return int64(min(best, 1<<62)), bad1
	}
	return int64(min(best, 1<<62)), ""
}

// damaged is the *Error of a panic bbolt raised reading path: its
// message, without the words of Go's runtime.
func damaged(path, what string, r any) *Error {
	msg := fmt.Sprint(r)
	msg = strings.TrimPrefix(msg, "panic: ")
	msg = strings.TrimPrefix(msg, "assertion failed: ")
	return &Error{Path: path, Msg: what, Err: errors.New(msg)}
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return &Error{Path: path, Msg: "in use by another process (is another broker running on it?)"}
	case errors.Is(err, berrors.ErrInvalid):
		return &Error{Path: path, Msg: "not a store file, or its header is damaged", Err: err}
	case errors.Is(err, berrors.ErrVersionMismatch):
		return &Error{Path: path, Msg: "not a store of this format (bbolt version mismatch)", Err: err}
	case errors.Is(err, berrors.ErrChecksum):
		return &Error{Path: path, Msg: "damaged: checksum mismatch in its header", Err: err}
	}
	return &Error{Path: path, Msg: "cannot open it", Err: err}
}

// initFormat writes the format of a new store, or checks an existing one's.
func (s *Store) initFormat(fresh bool) error {
	if fresh {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMeta, bucketRetained, bucketSessions} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(keyCheckpoint, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), journalHeadLen)); err != nil {
				return err
			}
			if err := meta.Put(keyJournalSize, binary.BigEndian.AppendUint64(nil, uint64(journalSize))); err != nil {
				return err
			}
			return meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
		})
		if err != nil {
			return &Error{Path: s.path, Msg: "cannot initialise it", Err: err}
		}
		s.log.Info("Created the store " + s.path + ".")
		s.sums, s.format = true, FormatVersion
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return &Error{Path: s.path, Msg: "not an mqtt store (no format record)"}
		}
		v := meta.Get(keyFormat)
		if len(v) != 4 {
			return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: format record of %d bytes", len(v))}
		}
		f := binary.BigEndian.Uint32(v)
		if f != FormatVersion && f != 1 {
			return &Error{Path: s.path, Msg: fmt.Sprintf("store format version %d; this mqtt reads version %d (and 1) (written by another mqtt version?); nothing was changed", f, FormatVersion)}
		}
		s.sums, s.format = f >= 2, int(f)
		if tx.Bucket(bucketRetained) == nil || tx.Bucket(bucketSessions) == nil {
			return &Error{Path: s.path, Msg: "damaged: a top-level bucket is missing"}
		}
		return nil
	})
}

// storeOverhead bounds what a stored delivery adds to its PUBLISH packet:
// the client id, the publisher's id, a shared subscription's group and
// filter (up to 64 KiB each), the operation's own fields.
const storeOverhead = 4<<16 + 1024

// MaxPacketSize is the largest PUBLISH packet whose message the store can
// always hold (broker.StoreSizeLimit): one copy must fit in one journal
// record. With the default 16 MiB journal, 16,509,936 bytes (about 15.7 MiB).
func (s *Store) MaxPacketSize() int {
	return int(s.j.size - journalHeadLen - recordHeadLen - 8 - storeOverhead)
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Appends: s.appends.Load(), Checkpoints: s.ckpts.Load()}
}

// Commit queues ops for the writer (broker.Store). It never waits.
func (s *Store) Commit(ops []broker.Op, done func(error)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	s.pending = append(s.pending, commit{ops, done})
	wake := len(s.pending) == 1 || len(ops) == 1 && ops[0].Kind == broker.OpEnd // the writer may wait for it
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Close writes what is queued, stops the writer and closes the file.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.stopped
		st := s.Stats()
		s.log.Info(fmt.Sprintf("Store closed: %d commits in %d journal writes and %d checkpoints.", st.Commits, st.Appends, st.Checkpoints))
		// The writer is gone and its last checkpoint wrote everything (or
		// failed: then nothing is compacted).
		if e := s.maybeCompact(true); e != nil {
			err = e
		}
		if s.j != nil {
			if e := s.j.close(); e != nil {
				err = &Error{Path: s.j.path, Msg: "closing it", Err: e}
			}
		}
		if s.db == nil { // a compaction that failed past the rename (Windows)
			return
		}
		if e := s.db.Close(); e != nil {
			err = &Error{Path: s.path, Msg: "closing it", Err: e}
		}
	})
	return err
}

type deliveryKey struct {
	client string
	seq    uint64
}

// superseded finds the ops of batch that a later op of the same batch
// undoes, so the transaction need not write them: a delivery stored and
// then deleted (its subscriber acknowledged it meanwhile: the usual fate
// of a message to an online persistent session), a retained message
// replaced or cleared, anything of a session deleted afterwards. The
// later op is kept (what came before the batch may need it), so the
// file ends as if every op had been applied.
func superseded(batch []commit) map[*broker.Op]struct{} {
	var skip map[*broker.Op]struct{}
	var deleted map[deliveryKey]struct{}
	var topics, gone map[string]struct{}
	mark := func(op *broker.Op) {
		if skip == nil {
			skip = make(map[*broker.Op]struct{})
		}
		skip[op] = struct{}{}
	}
	for i := len(batch) - 1; i >= 0; i-- {
		ops := batch[i].ops
		for j := len(ops) - 1; j >= 0; j-- {
			op := &ops[j]
			switch op.Kind {
			case broker.OpDeleteDelivery:
				if deleted == nil {
					deleted = make(map[deliveryKey]struct{})
				}
				deleted[deliveryKey{op.ClientID, op.Seq}] = struct{}{}
			case broker.OpPutDelivery:
				_, del := deleted[deliveryKey{op.ClientID, op.Delivery.Seq}]
				if _, g := gone[op.ClientID]; del || g {
					mark(op)
				}
			case broker.OpPutSession, broker.OpPutInbound, broker.OpDeleteInbound:
				id := op.ClientID
				if op.Kind == broker.OpPutSession {
					id = op.Session.ClientID
				}
				if _, g := gone[id]; g {
					mark(op)
				}
			case broker.OpDeleteSession:
				if gone == nil {
					gone = make(map[string]struct{})
				}
				gone[op.ClientID] = struct{}{}
			case broker.OpSetRetained, broker.OpClearRetained:
				t := op.Topic
				if op.Kind == broker.OpSetRetained {
					t = op.Message.Topic
				}
				if _, later := topics[t]; later {
					mark(op)
				} else {
					if topics == nil {
						topics = make(map[string]struct{})
					}
					topics[t] = struct{}{}
				}
			}
		}
	}
	return skip
}

type txWriter struct {
	sums               bool
	tx                 *bolt.Tx
	retained, sessions *bolt.Bucket
	// buf holds the encoded values of this transaction, one after the
	// other: bbolt keeps a value's slice (not a copy) until the commit.
	buf enc
	// the session bucket of the last op, since ops come in runs
	lastID string
	last   *bolt.Bucket
}

// sessionKey is the bucket name of a client id (an empty id, which MQTT
// never makes persistent, as a NUL, which MQTT strings cannot contain).
func sessionKey(id string) []byte {
	if id == "" {
		return []byte{0}
	}
	return []byte(id)
}

func (w *txWriter) session(id string, create bool) (*bolt.Bucket, error) {
	if w.last != nil && w.lastID == id {
		return w.last, nil
	}
	var b *bolt.Bucket
	var err error
	if create {
		b, err = w.sessions.CreateBucketIfNotExists(sessionKey(id))
	} else {
		b = w.sessions.Bucket(sessionKey(id))
	}
	if b != nil {
		w.last, w.lastID = b, id
	}
	return b, err
}

// value takes what was appended to w.buf as one value, with its
// checksum (format 2) over scope (the session's client id), key and
// value; it stays as it is until the transaction ends (a later append
// that grows w.buf moves on to new memory).
func (w *txWriter) value(buf enc, scope string, key []byte) []byte {
	start := len(w.buf)
	if w.sums {
		buf = binary.LittleEndian.AppendUint32(buf, valueSum(scope, key, buf[start:]))
	}
	w.buf = buf
	return buf[start:len(buf):len(buf)]
}

func valueSum(scope string, key, v []byte) uint32 {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(scope)))
	c := crc32.Update(0, castagnoli, n[:])
	c = crc32.Update(c, castagnoli, []byte(scope))
	binary.LittleEndian.PutUint32(n[:], uint32(len(key)))
	c = crc32.Update(c, castagnoli, n[:])
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, v)
}

// unsum checks a value's checksum (format 2) and returns the value
// without it.
func (s *Store) unsum(scope string, key, v []byte) ([]byte, error) {
	if !s.sums {
		return v, nil
	}
	if len(v) < sumLen {
		return nil, fmt.Errorf("value of %d bytes, shorter than its checksum", len(v))
	}
	body := v[:len(v)-sumLen]
	if valueSum(scope, key, body) != binary.LittleEndian.Uint32(v[len(body):]) {
		return nil, errors.New("checksum mismatch (a damaged byte in its key or value)")
	}
	return body, nil
}

func (w *txWriter) apply(op *broker.Op) error {
	switch op.Kind {
	case broker.OpSetRetained:
		k := []byte(op.Message.Topic)
		return w.retained.Put(k, w.value(appendMessage(w.buf, op.Message), "", k))
	case broker.OpClearRetained:
		return w.retained.Delete([]byte(op.Topic))
	case broker.OpPutSession:
		b, err := w.session(op.Session.ClientID, true)
		if err != nil {
			return err
		}
		return b.Put(keyState, w.value(appendSession(w.buf, op.Session), op.Session.ClientID, keyState))
	case broker.OpDeleteSession:
		w.last = nil
		err := w.sessions.DeleteBucket(sessionKey(op.ClientID))
		if errors.Is(err, berrors.ErrBucketNotFound) {
			return nil
		}
		return err
	case broker.OpPutDelivery:
		b, err := w.session(op.ClientID, true)
		if err != nil {
			return err
		}
		d, err := b.CreateBucketIfNotExists(bucketDeliv)
		if err != nil {
			return err
		}
		d.FillPercent = 0.9 // keys grow (sequence numbers): split pages nearly full
		k := binary.BigEndian.AppendUint64(nil, op.Delivery.Seq)
		return d.Put(k, w.value(appendDelivery(w.buf, op.Delivery), op.ClientID, k))
	case broker.OpDeleteDelivery:
		if b, _ := w.session(op.ClientID, false); b != nil {
			if d := b.Bucket(bucketDeliv); d != nil {
				return d.Delete(binary.BigEndian.AppendUint64(nil, op.Seq))
			}
		}
		return nil
	case broker.OpPutInbound:
		b, err := w.session(op.ClientID, true)
		if err != nil {
			return err
		}
		i, err := b.CreateBucketIfNotExists(bucketInbound)
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint16(nil, op.PacketID)
		return i.Put(k, w.value(w.buf, op.ClientID, k))
	case broker.OpDeleteInbound:
		if b, _ := w.session(op.ClientID, false); b != nil {
			if i := b.Bucket(bucketInbound); i != nil {
				return i.Delete(binary.BigEndian.AppendUint16(nil, op.PacketID))
			}
		}
		return nil
	case broker.OpBegin, broker.OpEnd: // the writer's batches keep brackets whole
		return nil
	}
	return fmt.Errorf("unknown operation %d", op.Kind)
}

// Load returns everything stored (broker.Store). A record that cannot be
// read is an *Error naming it; nothing is skipped.
func (s *Store) Load() (snap *broker.Snapshot, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guard
	defer func() {
		if r := recover(); r != nil {
			snap, err = nil, damaged(s.path, "damaged", r)
		}
	}()
	snap = &broker.Snapshot{LastAlive: s.lastAlive}
	err = s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketRetained).ForEach(func(k, v []byte) error {
			v, err := s.unsum("", k, v)
			if err != nil {
				return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: retained message of %q", k), Err: err}
			}
			d := dec{b: v}
			m := d.message()
			if err := d.end(); err != nil {
				return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: retained message of %q", k), Err: err}
			}
			if m.Topic != string(k) {
				return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: retained message of %q has the topic %q", k, m.Topic)}
			}
			snap.Retained = append(snap.Retained, m)
			return nil
		})
		if err != nil {
			return err
		}
		sessions := tx.Bucket(bucketSessions)
		return sessions.ForEachBucket(func(k []byte) error {
			st, err := s.loadSession(sessions.Bucket(k), k)
			if err != nil {
				return err
			}
			snap.Sessions = append(snap.Sessions, st)
			return nil
		})
	})
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			err = &Error{Path: s.path, Msg: "reading it failed", Err: err}
		}
		return nil, err
	}
	if len(s.behind) > 0 {
		snap = overlay(snap, s.behind)
	}
	return snap, nil
}

// overlay is snap with ops applied, as MemoryStore applies them.
func overlay(snap *broker.Snapshot, ops []broker.Op) *broker.Snapshot {
	m := broker.NewMemoryStore()
	var base []broker.Op
	for _, r := range snap.Retained {
		base = append(base, broker.Op{Kind: broker.OpSetRetained, Message: r})
	}
	for _, st := range snap.Sessions {
		base = append(base, broker.Op{Kind: broker.OpPutSession, Session: st})
		for _, d := range st.Deliveries {
			base = append(base, broker.Op{Kind: broker.OpPutDelivery, ClientID: st.ClientID, Delivery: d})
		}
		for _, id := range st.Inbound {
			base = append(base, broker.Op{Kind: broker.OpPutInbound, ClientID: st.ClientID, PacketID: id})
		}
	}
	m.Commit(base, nil)
	m.Commit(ops, nil)
	out, _ := m.Load()
	return out
}

func (s *Store) loadSession(b *bolt.Bucket, key []byte) (*broker.SessionState, error) {
	id := string(key)
	if id == "\x00" {
		id = ""
	}
	bad := func(what string, err error) error {
		return &Error{Path: s.path, Msg: fmt.Sprintf("damaged: session %q: %s", id, what), Err: err}
	}
	// Its keys are known: anything else is a damaged key (a flipped byte in
	// "state" would otherwise make the session look expired, silently).
	if err := b.ForEach(func(k, v []byte) error {
		switch {
		case v == nil && (bytes.Equal(k, bucketDeliv) || bytes.Equal(k, bucketInbound)):
		case v != nil && bytes.Equal(k, keyState):
		default:
			return bad(fmt.Sprintf("an unknown key %q (a damaged one?)", k), nil)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	st := &broker.SessionState{ClientID: id}
	if v := b.Get(keyState); v != nil {
		v, err := s.unsum(id, keyState, v)
		if err != nil {
			return nil, bad("its state", err)
		}
		d := dec{b: v}
		st = d.session(id)
		if err := d.end(); err != nil {
			return nil, bad("its state", err)
		}
	}
	if db := b.Bucket(bucketDeliv); db != nil {
		err := db.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return bad(fmt.Sprintf("a delivery key of %d bytes", len(k)), nil)
			}
			seq := binary.BigEndian.Uint64(k)
			v, err := s.unsum(id, k, v)
			if err != nil {
				return bad(fmt.Sprintf("delivery %d", seq), err)
			}
			d := dec{b: v}
			ds := d.delivery(seq)
			if err := d.end(); err != nil {
				return bad(fmt.Sprintf("delivery %d", seq), err)
			}
			st.Deliveries = append(st.Deliveries, ds)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if ib := b.Bucket(bucketInbound); ib != nil {
		err := ib.ForEach(func(k, v []byte) error {
			if len(k) != 2 {
				return bad(fmt.Sprintf("an inbound packet id key of %d bytes", len(k)), nil)
			}
			if v, err := s.unsum(id, k, v); err != nil || len(v) != 0 {
				return bad(fmt.Sprintf("inbound packet id %d", binary.BigEndian.Uint16(k)), err)
			}
			st.Inbound = append(st.Inbound, binary.BigEndian.Uint16(k))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Report is what Check found in a store.
type Report struct {
	Path       string
	Format     int
	Size       int64 // bytes on disk
	Retained   int
	Sessions   int
	Deliveries int // queued and inflight messages
	Inbound    int // inbound QoS 2 packet ids awaiting PUBREL
}

// Check verifies the store at path without changing it: bbolt's page
// consistency check, the format version, and every record decoded. It
// fails with an *Error (or several, joined) naming what is wrong.
func Check(path string) (*Report, error) {
	s, err := open(path, nil, true)
	if err != nil {
		return nil, err
	}
	defer func() {
		s.j.close()
		s.db.Close()
	}()
	r := &Report{Path: path, Format: s.format}
	if fi, err := os.Stat(path); err == nil {
		r.Size = fi.Size()
	}
	snap, err := s.Load() // every page reached in this goroutine first (guard)
	if err != nil {
		return r, err
	}
	var errs []error
	func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if p := recover(); p != nil {
				errs = append(errs, damaged(path, "damaged", p))
			}
		}()
		_ = s.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() { // drained: its goroutine ends with the channel
				if len(errs) < 10 {
					errs = append(errs, damaged(path, "damaged page", err))
				}
			}
			return nil
		})
	}()
	if len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	r.Retained, r.Sessions = len(snap.Retained), len(snap.Sessions)
	for _, st := range snap.Sessions {
		r.Deliveries += len(st.Deliveries)
		r.Inbound += len(st.Inbound)
	}
	return r, nil
}

// IsMosquittoFile reports whether path is a Mosquitto persistence file.
func IsMosquittoFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(mosquittoMagic))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, mosquittoMagic)
}
