//go:build unix

package store

import (
	"fmt"
	"os"
	"syscall"
)

// sameOwner gives the file at path the owner and group of fi, the store
// file it replaces, when they differ (a store compacted by root for the
// user the broker runs as): else the next start as that user could not
// open it.
func sameOwner(path string, fi os.FileInfo) error {
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	got, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st, ok := got.Sys().(*syscall.Stat_t); ok && st.Uid == want.Uid && st.Gid == want.Gid {
		return nil
	}
	if err := os.Lchown(path, int(want.Uid), int(want.Gid)); err != nil {
		return fmt.Errorf("the copy cannot have the store file's owner (uid %d, gid %d): %w", want.Uid, want.Gid, err)
	}
	return nil
}
