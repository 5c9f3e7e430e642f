package sn

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error is an *Error of a known kind,
// and that whatever decodes re-encodes to bytes that decode to an equal message. The seed
// corpus in testdata/fuzz is generated from the vector tables:
//
//	go test -run TestFuzzCorpus -update-corpus ./mqtt/sn/
func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := Decode(b)
		if err != nil {
			if msg != nil {
				t.Fatal("message and error both returned")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			switch e.Kind {
			case ErrTruncated, ErrLength, ErrReservedType, ErrMalformed:
			default:
				t.Fatalf("unexpected error kind %v", e.Kind)
			}
			return
		}
		roundTrip(t, b)
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files from the vector tables")

func seeds() [][]byte {
	var out [][]byte
	for _, tab := range [][]vector{vectors, decodeOnly} {
		for _, v := range tab {
			out = append(out, v.bytes)
		}
	}
	for _, v := range invalid {
		out = append(out, v.bytes)
	}
	return out
}

// TestFuzzCorpus keeps the checked-in seed corpus in step with the vector tables: with
// -update-corpus it writes the files, otherwise it checks that every seed file exists.
func TestFuzzCorpus(t *testing.T) {
	for _, s := range seeds() {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "go test fuzz v1\n[]byte(%q)\n", s)
		sum := sha256.Sum256(buf.Bytes())
		name := filepath.Join("testdata", "fuzz", "FuzzDecode", fmt.Sprintf("seed-%x", sum[:8]))
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("seed %s missing or stale; run go test -run TestFuzzCorpus -update-corpus ./mqtt/sn/", name)
		}
	}
}
