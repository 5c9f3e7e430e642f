package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The journal is the store's write-ahead log, a file beside the bbolt file
// (mqtt.db-journal). Each group commit is one record appended to it and
// made durable with one fdatasync; only then are the commits' dones
// called. A checkpoint applies the records to the bbolt file in one large
// transaction, which also stores how far it got (meta/checkpoint: epoch
// and offset); once everything in the journal is in bbolt, the journal
// starts over under the next epoch. At open, the records after the
// checkpoint are applied again (ops are idempotent: puts and deletes by
// key).
//
// The file is preallocated and written once with zeros when created, so
// an append changes no file metadata (fdatasync writes the data alone) and
// never needs disk space.
//
//	header   "MQTTJRN1", epoch (8 bytes LE), CRC-32C of both (4 bytes LE); 4096 bytes
//	record   payload length (4 bytes LE), CRC-32C of epoch and payload (4 bytes LE),
//	         payload (appendOps), zeros to the next multiple of 8
//
// The epoch in each record's checksum tells its records from those an
// earlier epoch left further on in the file. The end of the records is
// the first one that does not check: normally the zeros after the last
// append, or the last append itself if the process died during it (it
// was never acknowledged). A bad record with a good one of the epoch
// after it is damage, and is reported.

const (
	journalMagic   = "MQTTJRN1"
	journalHeadLen = 4096
	recordHeadLen  = 8
)

// journalSize is the size of a new journal: at ~150 bytes per QoS 1
// message to a persistent session (stored, then deleted), 16 MiB holds
// ~100,000 messages between checkpoints.
var journalSize int64 = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type journal struct {
	f     *os.File
	path  string
	size  int64
	epoch uint64
	off   int64 // where the next record goes
	buf   []byte
}

func journalPath(store string) string { return store + "-journal" }

// createJournal makes a new journal of journalSize at path with epoch.
func createJournal(path string, epoch uint64) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	j := &journal{f: f, path: path, size: journalSize, epoch: epoch, off: journalHeadLen}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < j.size; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), j.size-off)], off); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
	}
	if err := j.writeHeader(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (j *journal) writeHeader() error {
	h := make([]byte, 0, 20)
	h = append(h, journalMagic...)
	h = binary.LittleEndian.AppendUint64(h, j.epoch)
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
	if _, err := j.f.WriteAt(h, 0); err != nil {
		return err
	}
	return fdatasync(j.f)
}

// openJournalMode opens an existing journal and reads its header.
func openJournalMode(path string, flag int) (*journal, error) {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	h := make([]byte, 20)
	if _, err := f.ReadAt(h, 0); err != nil || string(h[:8]) != journalMagic || crc32.Checksum(h[:16], castagnoli) != binary.LittleEndian.Uint32(h[16:]) {
		f.Close()
		return nil, errors.New("its header is damaged or missing")
	}
	if fi.Size() < journalHeadLen+recordHeadLen {
		f.Close()
		return nil, fmt.Errorf("truncated to %d bytes", fi.Size())
	}
	return &journal{f: f, path: path, size: fi.Size(), epoch: binary.LittleEndian.Uint64(h[8:]), off: journalHeadLen}, nil
}

func recordLen(payload int) int64 { return int64(recordHeadLen + (payload+7)&^7) }

// fits reports whether a record of this payload fits after the last.
func (j *journal) fits(payload int) bool { return j.off+recordLen(payload) <= j.size }

// append writes one record and makes it durable.
func (j *journal) append(payload []byte) error {
	n := recordLen(len(payload))
	if j.off+n > j.size {
		return errors.New("journal full")
	}
	b := j.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, j.sum(payload))
	b = append(b, payload...)
	for int64(len(b)) < n {
		b = append(b, 0)
	}
	j.buf = b
	if _, err := j.f.WriteAt(b, j.off); err != nil {
		return err
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.off += n
	if cap(j.buf) > 1<<20 {
		j.buf = nil
	}
	return nil
}

func (j *journal) sum(payload []byte) uint32 {
	var e [8]byte
	binary.LittleEndian.PutUint64(e[:], j.epoch)
	return crc32.Update(crc32.Update(0, castagnoli, e[:]), castagnoli, payload)
}

// restart starts the next epoch at the front of the file.
func (j *journal) restart() error {
	j.epoch++
	if err := j.writeHeader(); err != nil {
		j.epoch-- // the records go on under the epoch the file names
		return err
	}
	j.off = journalHeadLen
	return nil
}

// records reads the records of the current epoch from offset from on,
// calls fn with each payload and leaves j.off after the last. A damaged
// record followed by a good one of this epoch is an error.
func (j *journal) records(from int64, fn func(payload []byte, end int64) error) error {
	if from < journalHeadLen || from > j.size {
		return fmt.Errorf("checkpoint offset %d outside the journal (%d bytes)", from, j.size)
	}
	data := make([]byte, j.size-from)
	if _, err := j.f.ReadAt(data, from); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	off := int64(0)
	for {
		p, ok := j.recordAt(data, off)
		if !ok {
			break
		}
		off += recordLen(len(p))
		if err := fn(p, from+off); err != nil {
			return err
		}
	}
	j.off = from + off
	// What follows the last record must not hold a good record of this
	// epoch: that would mean a damaged one in between.
	for o := off + 8; o+recordHeadLen <= int64(len(data)); o += 8 {
		if _, ok := j.recordAt(data, o); ok {
			return fmt.Errorf("damaged record at offset %d (a good one follows at %d)", from+off, from+o)
		}
	}
	return nil
}

func (j *journal) recordAt(data []byte, off int64) ([]byte, bool) {
	if off+recordHeadLen > int64(len(data)) {
		return nil, false
	}
	n := int64(binary.LittleEndian.Uint32(data[off:]))
	if n == 0 || off+recordLen(int(n)) > int64(len(data)) {
		return nil, false
	}
	p := data[off+recordHeadLen : off+recordHeadLen+n]
	if j.sum(p) != binary.LittleEndian.Uint32(data[off+4:]) {
		return nil, false
	}
	return p, true
}

func (j *journal) close() error { return j.f.Close() }

// used is how full the journal is, 0 to 1.
func (j *journal) used() float64 {
	return float64(j.off-journalHeadLen) / float64(j.size-journalHeadLen)
}

// openJournalFile is openJournal, read-only for Check.
func openJournalFile(path string, readOnly bool) (*journal, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		return openJournalMode(path, os.O_RDONLY)
	}
	return openJournalMode(path, os.O_RDWR)
}
