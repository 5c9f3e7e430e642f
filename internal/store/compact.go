package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Compaction: bbolt reuses the pages a transaction frees but never gives
// them back to the filesystem, so a store that once held much (sessions
// with long queues, since expired) keeps its largest size for ever. At open
// and at Close, a store file whose free pages are more than half of it, and
// that is larger than compactFloor, is copied without them (bbolt.Compact:
// every bucket, key and value byte for byte, the checkpoint record
// included) into compactSuffix beside it, synced, and renamed over it. See
// doc.go, "Compaction".

// compactFloor is the smallest store file that is compacted. Below it, the
// space given back would be less than half the journal beside it (16 MiB),
// and bbolt grows a file by doubling up to 16 MiB: a small store that
// grows and shrinks in normal use would be rewritten at every start, for
// little, on flash that wears.
var compactFloor int64 = 8 << 20

// compactTxMax bounds the size of each transaction writing the copy (the
// keys and values it holds), so the memory the copy takes does not grow
// with the store.
var compactTxMax int64 = 4 << 20

// compactSuffix names the copy while it is written, beside the store file.
// One left behind (a crash during a compaction) is removed at the next
// open: the store file is the complete one until the rename.
const compactSuffix = ".compact"

// compactHook, in tests, is called at each step of a compaction (after
// "copied": the copy complete and synced, not renamed; after "renamed"),
// so a test can take the files as a crash would leave them there.
var compactHook func(step string)

// removeLeftover removes the copy of a compaction that was interrupted. It
// runs with the store file locked, so no other process is compacting it.
func (s *Store) removeLeftover() {
	tmp := s.path + compactSuffix
	if _, err := os.Lstat(tmp); err != nil {
		return
	}
	if err := os.Remove(tmp); err != nil {
		s.log.Warn("Store: cannot remove " + tmp + ", left by a compaction that was interrupted: " + err.Error())
		return
	}
	s.log.Info("Store: removed " + tmp + ", left by a compaction that was interrupted (" + s.path + " was not replaced and holds everything).")
}

// space is the store file's size on disk, its size as bbolt uses it (its
// pages up to the last one in use) and how much of that is in free pages.
func (s *Store) space() (size, used, free int64, err error) {
	if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		return 0, 0, 0, err
	}
	st := s.db.Stats()
	// The file holds at least its pages. A broker that opened its store
	// before it dropped privileges may not reach the path any more: the
	// stop's compaction then fails, and says why, rather than being
	// skipped without a word.
	size = used
	if fi, err := os.Stat(s.path); err == nil {
		size = fi.Size()
	}
	return size, used, int64(st.FreePageN+st.PendingPageN) * int64(s.db.Info().PageSize), nil
}

// maybeCompact compacts the store file when more than half of its pages
// are free and it is larger than compactFloor. It is called with no writer
// running and everything of the journal in the file (at open after the
// journal was applied, at Close after the last checkpoint). A failure is a
// warning: the store goes on with its file as it was.
//
// The pages are bbolt's up to the last one in use, not the room past it
// that bbolt adds to the file as it grows (up to 16 MiB, or doubling the
// file below that), which a copy would take again: counted against the
// file, a file of 16 MiB of pages all free, and 16 MiB more for growth,
// would never be compacted; counted as free, a small store whose copy
// takes the same room again would be rewritten at every start.
func (s *Store) maybeCompact(closing bool) error {
	if s.db.IsReadOnly() || s.ckptErr != nil || len(s.behind) > 0 {
		return nil // Check's; or the file cannot be written now (a full disk)
	}
	size, used, free, err := s.space()
	if err != nil || size < compactFloor || free*2 <= used {
		return nil
	}
	start := time.Now()
	newSize, err := s.compact(size)
	if err != nil {
		var fatal *compactFatal
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if closing && errors.Is(err, fs.ErrPermission) {
			// A broker that opened its store before it dropped privileges.
			s.log.Info(fmt.Sprintf("Store: %s (%s, %d%% of its pages free) is not compacted at the stop: %v; the next start compacts it if it may write there.", s.path, sizeString(size), free*100/used, err))
			return nil
		}
		s.log.Warn(fmt.Sprintf("Store: compacting %s (%s, %d%% of its pages free) failed; it is used as it is: %v.", s.path, sizeString(size), free*100/used, err))
		return nil
	}
	elapsed := time.Since(start)
	took := fmt.Sprintf("%.1f s", elapsed.Seconds())
	if elapsed < 100*time.Millisecond {
		took = fmt.Sprintf("%d ms", elapsed.Milliseconds())
	}
	s.log.Info(fmt.Sprintf("Store: compacted %s from %s to %s in %s.", s.path, sizeString(size), sizeString(newSize), took))
	return nil
}

// compactFatal is a failure after which the store has no open file (only
// on Windows, where the old file must be closed before the rename).
type compactFatal struct{ err error }

func (e *compactFatal) Error() string { return e.err.Error() }

// compact writes the copy and puts it in place of the store file; s.db is
// the new file afterwards. On an error the copy is removed and s.db is the
// old file, untouched.
func (s *Store) compact(size int64) (newSize int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guard
	tmp := s.path + compactSuffix
	var ndb *bolt.DB
	defer func() {
		if r := recover(); r != nil { // bbolt panics on a damaged page
			err = damaged(s.path, "damaged", r)
		}
		if err != nil {
			if ndb != nil {
				ndb.Close()
			}
			os.Remove(tmp)
		}
	}()
	os.Remove(tmp)
	if err := s.copyTo(tmp); err != nil {
		return 0, err
	}
	if compactHook != nil {
		compactHook("copied")
	}
	// The copy holds the same checkpoint and format records: the journal
	// goes on with it as with the old file.
	ndb, err = bolt.Open(tmp, 0o600, boltOptions(nil, false))
	if err != nil {
		return 0, err
	}
	if err := sameMeta(s.db, ndb); err != nil {
		return 0, err
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, err
	}
	if newSize = fi.Size(); newSize >= size {
		return 0, fmt.Errorf("the copy is no smaller (%s)", sizeString(newSize))
	}
	if runtime.GOOS == "windows" {
		// Windows renames no file that is open: the old one is closed first,
		// the copy put in place and opened again.
		ndb.Close()
		ndb = nil
		if err := s.db.Close(); err != nil {
			return 0, &compactFatal{&Error{Path: s.path, Msg: "closing it", Err: err}}
		}
		renameErr := os.Rename(tmp, s.path)
		db, err := bolt.Open(s.path, 0o600, boltOptions(nil, false))
		if s.db = db; err != nil {
			return 0, &compactFatal{openError(s.path, err)}
		}
		if renameErr != nil {
			return 0, renameErr // the old file, open again
		}
		return newSize, nil
	}
	// The copy is opened (and locked) before the rename and the old file
	// closed after it, so that no other process can take the lock of either
	// in between (one waiting for the old file's lock finds, once it has
	// it, that the name is the copy's: openBolt tries again).
	if err := os.Rename(tmp, s.path); err != nil {
		return 0, err
	}
	if compactHook != nil {
		compactHook("renamed")
	}
	old := s.db
	s.db, ndb = ndb, nil
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		// The rename may not be durable yet; either file is complete.
		s.log.Warn("Store: syncing the directory of " + s.path + " after its compaction failed: " + err.Error())
	}
	old.Close()
	return newSize, nil
}

// copyTo writes a compact copy of the store file at tmp and syncs it. It
// takes the store file's permissions and, where it can, its owner (a root
// that compacts the store of the user it runs the broker as).
func (s *Store) copyTo(tmp string) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	opts := boltOptions(nil, false)
	opts.NoSync = true // one sync at the end
	opts.PageSize = s.db.Info().PageSize
	dst, err := bolt.Open(tmp, fi.Mode().Perm(), opts)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed { // a panic in Compact (a damaged page): its transactions are rolled back
			dst.Close()
		}
	}()
	if err := sameOwner(tmp, fi); err != nil {
		return err
	}
	if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil { // as it was, whatever the umask
		return err
	}
	err = bolt.Compact(dst, s.db, compactTxMax)
	if err == nil {
		err = dst.Sync()
	}
	closed = true
	if e := dst.Close(); err == nil {
		err = e
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync() // its size and metadata too
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// sameMeta checks that the copy's meta bucket is the original's, byte for
// byte: its format, journal size and checkpoint position.
func sameMeta(old, cp *bolt.DB) error {
	var want [][2][]byte
	if err := old.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			want = append(want, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
	}); err != nil {
		return err
	}
	return cp.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || meta.Stats().KeyN != len(want) {
			return errors.New("the copy's meta records differ")
		}
		for _, kv := range want {
			if !bytes.Equal(meta.Get(kv[0]), kv[1]) {
				return fmt.Errorf("the copy's meta record %q differs", kv[0])
			}
		}
		return nil
	})
}

// sizeString is a file size as people read it: 473 MB, 2.1 MB, 840 kB.
func sizeString(n int64) string {
	switch {
	case n >= 10e6:
		return fmt.Sprintf("%d MB", (n+500e3)/1e6)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d kB", (n+500)/1000)
}
