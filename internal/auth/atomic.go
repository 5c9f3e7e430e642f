package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with data so that a reader (or a
// crash) sees either the old contents or the new, never a mix: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. If path exists its mode is kept, and its owner and
// group where the process may set them (root editing the broker's file);
// otherwise the file is created with newMode. A symbolic link at path is
// followed, so the link stays a link.
func WriteFileAtomic(path string, data []byte, newMode fs.FileMode) (err error) {
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
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}
