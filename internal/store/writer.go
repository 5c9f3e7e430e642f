package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	bolt "go.etcd.io/bbolt"
)

// The writer goroutine owns the journal and the checkpoints; one
// checkpoint goroutine at a time writes the bbolt file behind it.

// keyCheckpoint in meta: the journal epoch and offset up to which the
// bbolt file holds every record (8 + 8 bytes big-endian).
var keyCheckpoint = []byte("checkpoint")

// Checkpoint triggers: the journal this full, this many ops behind, or
// the last checkpoint this long ago. After a failed one, the next waits.
const (
	checkpointUsed  = 0.25
	checkpointOps   = 50_000
	checkpointEvery = 500 * time.Millisecond
	checkpointRetry = time.Second
	// fullAt: with checkpoints failing (a full disk), commits that add
	// data are refused once the journal is this full; the rest of it is
	// kept for the ones that remove data (acknowledged deliveries).
	fullAt = 0.5
)

// aliveEvery is how often the writer marks the journal with the time
// while the broker runs, so that after a crash the sessions that were
// connected count their expiry from (at most this long before) the
// crash, not from the restart.
const aliveEvery = 5 * time.Second

// touch sets the journal's modification time to now (Snapshot.LastAlive).
// A failure only makes the next start count from an earlier time.
func (s *Store) touch(now time.Time) {
	if s.j != nil {
		_ = touchFile(s.j.f, s.j.path, now)
	}
}

// errFull refuses a commit that adds data while the store cannot write
// its checkpoints.
var errFull = errors.New("the disk is full: the journal cannot be written to the store file")

func (s *Store) writer() {
	defer close(s.stopped)
	debug.SetPanicOnFault(true) // see guard
	alive := time.NewTicker(aliveEvery)
	defer alive.Stop()
	for {
		s.mu.Lock()
		n := cut(s.pending)
		closed := s.closed
		if n == 0 && closed {
			n = len(s.pending)
		}
		if n == 0 {
			s.mu.Unlock()
			if closed {
				s.finish()
				return
			}
			select {
			case <-s.wake:
			case err := <-s.ckptDone:
				s.checkpointed(err)
			case now := <-alive.C:
				s.touch(now)
			}
			continue
		}
		all := s.pending
		s.pending = append(s.spare[:0], all[n:]...)
		s.mu.Unlock()
		s.write(all[:n])
		clear(all) // keep no ops alive
		s.mu.Lock()
		s.spare = all[:0]
		s.mu.Unlock()
		select {
		case err := <-s.ckptDone:
			s.checkpointed(err)
		default:
		}
		s.maybeCheckpoint()
	}
}

// finish, at Close: the last checkpoint, so the next start replays
// nothing.
func (s *Store) finish() {
	if s.ckptRun {
		s.checkpointed(<-s.ckptDone)
	}
	if len(s.behind) > 0 {
		if err := s.checkpoint(s.behind, s.j.epoch, s.j.off); err != nil {
			s.log.Warn("Store: the last checkpoint failed; the journal keeps what it holds for the next start: " + err.Error())
			return
		}
		s.behind = nil
	}
}

// depth is how a commit changes the number of open brackets.
func depth(c *commit) int {
	d := 0
	for i := range c.ops {
		switch c.ops[i].Kind {
		case broker.OpBegin:
			d++
		case broker.OpEnd:
			d--
		}
	}
	return d
}

// cut is how many commits from the front of pending may be written now:
// up to the last one after which no bracket is open.
func cut(pending []commit) int {
	open, n := 0, 0
	for i := range pending {
		if open += depth(&pending[i]); open <= 0 {
			open, n = 0, i+1
		}
	}
	return n
}

// grows reports whether ops add data to the store (a full disk refuses
// them first).
func grows(ops []broker.Op) bool {
	for i := range ops {
		switch ops[i].Kind {
		case broker.OpSetRetained, broker.OpPutSession, broker.OpPutDelivery, broker.OpPutInbound:
			return true
		}
	}
	return false
}

// fullMark is the journal offset past which only deletes are written
// while checkpoints fail (fullAt).
func (s *Store) fullMark() int64 {
	return int64(fullAt*float64(s.j.size-journalHeadLen)) + journalHeadLen
}

// growth is about how many journal bytes the commits of batch that add
// data take: an estimate from their sizes, not an encoding (this runs
// for every batch). Properties are not counted; fullMark is a soft mark.
func (s *Store) growth(batch []commit) int64 {
	n := int64(0)
	for i := range batch {
		for j := range batch[i].ops {
			op := &batch[i].ops[j]
			switch op.Kind {
			case broker.OpSetRetained, broker.OpPutSession, broker.OpPutDelivery, broker.OpPutInbound:
				n += 32 + int64(len(op.ClientID))
			default:
				continue
			}
			m := op.Message
			if op.Delivery != nil {
				m = op.Delivery.Message
			}
			if m != nil {
				n += int64(len(m.Topic) + len(m.Payload))
			}
			if ss := op.Session; ss != nil {
				n += int64(64 + len(ss.Username))
				for _, sub := range ss.Subscriptions {
					n += int64(16 + len(sub.Filter))
				}
				if ss.Will != nil {
					n += int64(len(ss.Will.Topic) + len(ss.Will.Payload))
				}
			}
		}
	}
	return n
}

// write makes a batch durable as one journal record and calls its dones
// in order: nil, or the error that kept a commit out.
func (s *Store) write(batch []commit) {
	s.commits.Add(uint64(len(batch)))
	errs := make([]error, len(batch))
	if s.ckptErr == nil && s.j.off+s.growth(batch) > s.fullMark() {
		// Adds would take the journal past fullAt. Past it, the rest is
		// for deletes, which free the disk, and it must be there if the
		// checkpoint behind turns out to fail: TestDiskFull saw the
		// journal fill up while a checkpoint that then failed was
		// running, the deletes of the delivered messages refused with
		// it ("journal full"), and the store never working again until
		// a restart (2 runs in 16). So everything behind is checkpointed
		// now, as when the journal is full (appendRecord), and the
		// journal starts over; if that fails, what adds data is refused
		// below.
		if s.ckptRun {
			s.checkpointed(<-s.ckptDone)
		}
		if s.ckptErr == nil && len(s.behind) > 0 {
			err := s.checkpoint(s.behind, s.j.epoch, s.j.off)
			if err == nil {
				s.behind = nil
			}
			s.checkpointed(err)
		}
		// Not when checkpointed just started it over: the store file
		// records the epoch before, and a start accepts the journal at
		// that epoch or the next, never two on. A crash before the next
		// checkpoint left a store no start would open (a fresh tester's
		// kill -9 during 3 MB QoS 2 messages: "journal epoch 83 does not
		// follow the store's checkpoint (epoch 81)").
		if s.ckptErr == nil && len(s.behind) == 0 && s.j.off > journalHeadLen {
			if err := s.j.restart(); err != nil {
				s.log.Warn("Store: restarting the journal failed: " + err.Error())
			}
			s.ckptOff = s.j.off
		}
	}
	if s.ckptErr != nil {
		// Refuse what adds data past fullAt, a bracket as a whole; keep
		// the rest. The mark is checked for each unit with what the units
		// before it add, not once per batch, so one large batch does not
		// take the room kept for deletes.
		adds := int64(0) // bytes of the units kept so far that add data
		limit := s.fullMark()
		for i := 0; i < len(batch); {
			n, open := 1, depth(&batch[i])
			for ; open > 0 && i+n < len(batch); n++ {
				open += depth(&batch[i+n])
			}
			unit := batch[i : i+n]
			for _, c := range unit {
				if grows(c.ops) {
					size := int64(0)
					for k := range unit {
						s.rec = appendOps(s.rec[:0], unit[k].ops, nil)
						size += int64(len(s.rec))
					}
					if s.j.off+adds+size <= limit {
						adds += size
						break
					}
					for k := range unit {
						errs[i+k] = &Error{Path: s.path, Msg: "writing refused", Err: fmt.Errorf("%w (%v)", errFull, s.ckptErr)}
					}
					break
				}
			}
			i += n
		}
	}
	kept := batch
	if s.ckptErr != nil {
		kept = make([]commit, 0, len(batch))
		for i, c := range batch {
			if errs[i] == nil {
				kept = append(kept, c)
			}
		}
	}
	// One record, unless the batch is larger than the journal: then one
	// record per run of commits that fits (brackets kept whole), so a
	// large message fanned out to several stored sessions is not refused
	// for ever because it arrived in one batch.
	var err error
	written := 0 // commits of kept in records that were appended
	for start := 0; start < len(kept) && err == nil; {
		end := len(kept)
		skip := superseded(kept[start:end])
		s.rec = s.rec[:0]
		for k := start; k < end; k++ {
			s.rec = appendOps(s.rec, kept[k].ops, skip)
		}
		if recordLen(len(s.rec)) > s.j.size-journalHeadLen {
			end = s.fitting(kept, start)
			skip = superseded(kept[start:end])
			s.rec = s.rec[:0]
			for k := start; k < end; k++ {
				s.rec = appendOps(s.rec, kept[k].ops, skip)
			}
		}
		if len(s.rec) > 0 {
			err = s.appendRecord(s.rec)
		}
		if err == nil {
			written = end
			for _, c := range kept[start:end] {
				for i := range c.ops {
					op := &c.ops[i]
					if _, ok := skip[op]; !ok && op.Kind != broker.OpBegin && op.Kind != broker.OpEnd {
						s.behind = append(s.behind, *op)
					}
				}
			}
		}
		start = end
	}
	if cap(s.rec) > 1<<20 {
		s.rec = nil
	}
	k := 0 // kept is batch in order, less the refused
	for i, c := range batch {
		if errs[i] == nil {
			if k >= written {
				errs[i] = err
			}
			k++
		}
		if c.done != nil {
			c.done(errs[i])
		}
	}
}

// fitting is where a record of kept from start should end to fit in the
// journal: after the last whole unit (a commit, or a bracket) that fits,
// and after one at least (a unit too large alone is refused by
// appendRecord).
func (s *Store) fitting(kept []commit, start int) int {
	size, end := 0, start
	var tmp enc
	for end < len(kept) {
		n, open := 1, depth(&kept[end])
		for ; open > 0 && end+n < len(kept); n++ {
			open += depth(&kept[end+n])
		}
		unit := 0
		for k := end; k < end+n; k++ {
			tmp = appendOps(tmp[:0], kept[k].ops, nil)
			unit += len(tmp)
		}
		if end > start && recordLen(size+unit) > s.j.size-journalHeadLen {
			break
		}
		size += unit
		end += n
	}
	return end
}

// appendRecord writes a record to the journal, making room first when it
// is full: everything in it goes to the store file and it starts over.
func (s *Store) appendRecord(rec []byte) error {
	if !s.j.fits(len(rec)) {
		if recordLen(len(rec)) > s.j.size-journalHeadLen {
			return &Error{Path: s.j.path, Msg: fmt.Sprintf("writing refused: a group commit of %d bytes is larger than the journal", len(rec))}
		}
		if s.ckptRun {
			s.checkpointed(<-s.ckptDone)
		}
		if s.ckptErr != nil && time.Since(s.ckptAt) < checkpointRetry {
			return &Error{Path: s.path, Msg: "writing refused", Err: fmt.Errorf("%w (%v)", errFull, s.ckptErr)}
		}
		if err := s.checkpoint(s.behind, s.j.epoch, s.j.off); err != nil {
			s.checkpointed(err)
			return err
		}
		s.behind = nil
		s.checkpointed(nil) // starts the journal over
		if !s.j.fits(len(rec)) {
			if err := s.j.restart(); err != nil {
				return &Error{Path: s.j.path, Msg: "writing failed", Err: err}
			}
			s.ckptOff = s.j.off
		}
	}
	if err := s.j.append(rec); err != nil {
		return &Error{Path: s.j.path, Msg: "writing failed", Err: err}
	}
	s.appends.Add(1)
	return nil
}

// maybeCheckpoint starts a checkpoint in the background when one is due.
func (s *Store) maybeCheckpoint() {
	if s.ckptRun || len(s.behind) == 0 {
		return
	}
	if s.ckptErr != nil && time.Since(s.ckptAt) < checkpointRetry {
		return
	}
	since := float64(s.j.off-s.ckptOff) / float64(s.j.size-journalHeadLen)
	if since < checkpointUsed && len(s.behind) < checkpointOps && time.Since(s.ckptAt) < checkpointEvery {
		return
	}
	ops, epoch, off := s.behind, s.j.epoch, s.j.off
	s.ckptOff = off
	s.behind, s.ckptOps, s.ckptRun = nil, ops, true
	go func() {
		debug.SetPanicOnFault(true) // see guard
		s.ckptDone <- s.checkpoint(ops, epoch, off)
	}()
}

// checkpointed takes the result of a checkpoint: on failure its ops go
// back in front of the ones behind, to be tried again.
func (s *Store) checkpointed(err error) {
	if s.ckptRun {
		s.ckptRun = false
		if err != nil {
			s.behind = append(s.ckptOps, s.behind...)
		}
		s.ckptOps = nil
	}
	s.ckptAt = time.Now()
	if err == nil && len(s.behind) == 0 && !s.ckptRun && s.j.used() > 0.5 {
		// Everything in the journal is in the store file: start it over now
		// rather than when it is full (which waits for a checkpoint).
		if e := s.j.restart(); e != nil {
			s.log.Warn("Store: restarting the journal failed: " + e.Error())
		}
		s.ckptOff = s.j.off
	}
	if err != nil && s.ckptErr == nil {
		s.log.Warn("Store: writing the journal to " + s.path + " failed; messages are kept in the journal meanwhile: " + err.Error())
	} else if err == nil && s.ckptErr != nil {
		s.log.Info("Store: writing to " + s.path + " works again.")
	}
	s.ckptErr = err
}

// checkpoint applies ops to the store file in one transaction, with the
// journal position they reach.
func (s *Store) checkpoint(ops []broker.Op, epoch uint64, off int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, "damaged", r)
		}
	}()
	batch := []commit{{ops: ops}}
	skip := superseded(batch)
	s.ckpts.Add(1)
	err = s.db.Update(func(tx *bolt.Tx) error {
		w := txWriter{sums: s.sums, tx: tx, buf: make(enc, 0, 64<<10), retained: tx.Bucket(bucketRetained), sessions: tx.Bucket(bucketSessions)}
		for i := range ops {
			if _, ok := skip[&ops[i]]; ok {
				continue
			}
			if err := w.apply(&ops[i]); err != nil {
				return err
			}
		}
		pos := binary.BigEndian.AppendUint64(nil, epoch)
		return tx.Bucket(bucketMeta).Put(keyCheckpoint, binary.BigEndian.AppendUint64(pos, uint64(off)))
	})
	if err != nil {
		return &Error{Path: s.path, Msg: "writing failed", Err: err}
	}
	return nil
}
