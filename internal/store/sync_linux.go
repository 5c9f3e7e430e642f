package store

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable without its metadata (the journal's
// size never changes).
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// touchFile sets f's access and modification times to t through its
// descriptor, not its path: a broker started as root opens its store
// before it drops to its user, who may not be able to reach the path.
func touchFile(f *os.File, _ string, t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Futimes(int(f.Fd()), []unix.Timeval{tv, tv})
}
