package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic replaces the file at path with data so that a reader (or a
// crash) sees either the old contents or the new, never a mix: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. If path exists its mode is kept, and its owner and
// group where the process may set them (root editing the broker's file);
// otherwise the file is created with newMode. A symbolic link at path is
// followed, so the link stays a link.
//
// Where the file cannot be replaced, it is rewritten in place, as Mosquitto's
// mosquitto_passwd always does: a single file bind-mounted into a container
// (rename fails with EBUSY or EXDEV), or a writable file in a directory the
// process may not create files in. Then the whole content is written from the
// start, the file is truncated to it and fsynced; the inode, mode and owner
// stay.
func WriteFileAtomic(path string, data []byte, newMode fs.FileMode) error {
	return writeFileAtomic(path, data, newMode, os.Rename)
}

// inPlaceErr reports whether err, from creating a temporary file beside an
// existing file or renaming it over that file, means the file can only be
// rewritten in place.
func inPlaceErr(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// rewriteInPlace writes data over the file at path, keeping its inode.
func rewriteInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFileAtomic(path string, data []byte, newMode fs.FileMode, rename func(string, string) error) (err error) {
	if resolved, e := filepath.EvalSymlinks(path); e == nil {
		path = resolved
	}
	mode := newMode.Perm()
	var old fs.FileInfo
	if fi, e := os.Stat(path); e == nil {
		if !fi.Mode().IsRegular() {
			return &fs.PathError{Op: "write", Path: path, Err: errors.New("not a regular file")}
		}
		old, mode = fi, fi.Mode().Perm()
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		if old != nil && inPlaceErr(err) {
			return rewriteInPlace(path, data)
		}
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if old != nil {
		keepOwner(f, old)
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = rename(tmp, path); err != nil {
		if old != nil && inPlaceErr(err) {
			os.Remove(tmp)
			err = nil // the deferred clean-up is done
			return rewriteInPlace(path, data)
		}
		return err
	}
	syncDir(dir)
	return nil
}
