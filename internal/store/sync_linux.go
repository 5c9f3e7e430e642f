package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes f's data durable without its metadata (the journal's
// size never changes).
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
