//go:build unix

package auth

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of old. It is best effort: only root
// (or the owner, for the group) may do it, and a failure leaves the file
// owned by the caller, as a plain rewrite would.
func keepOwner(f *os.File, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}

// syncDir makes a rename in dir durable. Errors are ignored: some file
// systems cannot fsync a directory, and the rename itself has succeeded.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
