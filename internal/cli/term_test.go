package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestUseColor(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	if useColor(&bytes.Buffer{}, env("")) {
		t.Error("colour on a buffer")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if useColor(f, env("")) {
		t.Error("colour on a regular file")
	}
	if useColor(os.Stderr, env("1")) {
		t.Error("colour with NO_COLOR set")
	}
	if p := (painter{on: false}); p.errorPrefix() != "error:" {
		t.Errorf("plain prefix = %q", p.errorPrefix())
	}
	if p := (painter{on: true}); p.errorPrefix() == "error:" || !bytes.Contains([]byte(p.errorPrefix()), []byte("\x1b[")) {
		t.Errorf("coloured prefix = %q", p.errorPrefix())
	}
}
