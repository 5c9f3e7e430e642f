package packet

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every decoder entry point. Each checks that decoding
// never panics and that whatever decodes re-encodes to bytes that decode to
// an equal packet. The seed corpus in testdata/fuzz is generated from the
// vector tables: go test -run TestFuzzCorpus -update-corpus ./mqtt/packet/

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files from the vector tables")

func fuzzVersion(v byte) byte {
	switch v {
	case V31, V311, V5:
		return v
	}
	return V31 + v%3
}

// roundTrip re-encodes a decoded packet and decodes it again.
func roundTrip(t *testing.T, version byte, p Packet) {
	t.Helper()
	enc, err := Append(nil, p, version)
	if err != nil {
		t.Fatalf("decoded packet does not re-encode: %v\n%#v", err, p)
	}
	if n := Size(p, version); n != len(enc) {
		t.Fatalf("Size %d != encoded length %d", n, len(enc))
	}
	first, rem, n, err := ParseHeader(enc)
	if err != nil || n+rem != len(enc) {
		t.Fatalf("re-encoded header: %v (%d+%d != %d)", err, n, rem, len(enc))
	}
	q, err := Decode(version, first, enc[n:])
	if err != nil {
		t.Fatalf("re-encoded packet % X does not decode: %v", enc, err)
	}
	if !equalPackets(p, q) {
		t.Fatalf("round trip changed the packet:\n%#v\n%#v", p, q)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		first, _, n, err := ParseHeader(s.bytes)
		if err != nil || n > len(s.bytes) {
			continue
		}
		f.Add(s.version, first, s.bytes[n:])
	}
	f.Fuzz(func(t *testing.T, version, first byte, body []byte) {
		version = fuzzVersion(version)
		p, err := Decode(version, first, body)
		if err != nil {
			if p != nil {
				t.Fatal("packet and error both returned")
			}
			if ReasonOf(err) < 0x80 {
				t.Fatalf("error %v carries a success code", err)
			}
			return
		}
		roundTrip(t, version, p)
	})
}

func FuzzReadPacket(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s.version, s.bytes)
	}
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		version = fuzzVersion(version)
		p, err := ReadPacket(bytes.NewReader(data), version, 1<<16)
		if err != nil {
			return
		}
		roundTrip(t, version, p)
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s.bytes)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, rem, n, err := ParseHeader(data)
		if err != nil {
			return
		}
		if n < 2 || n > 5 || n > len(data) || rem < 0 || rem > MaxRemainingLength || first != data[0] {
			t.Fatalf("ParseHeader(% X) = %x %d %d", data, first, rem, n)
		}
		if n+rem > len(data) {
			return
		}
		for _, v := range []byte{V31, V311, V5} {
			if p, err := Decode(v, first, data[n:n+rem]); err == nil {
				roundTrip(t, v, p)
			}
		}
	})
}

type seed struct {
	version byte
	bytes   []byte
}

func seeds() []seed {
	var out []seed
	for _, tab := range [][]vector{vectors, decodeOnly} {
		for _, v := range tab {
			out = append(out, seed{v.version, v.bytes})
		}
	}
	for _, v := range invalid {
		out = append(out, seed{v.version, v.bytes})
	}
	return out
}

// TestFuzzCorpus keeps the checked-in seed corpus in step with the vector
// tables: with -update-corpus it writes the files, otherwise it checks that
// every seed file exists.
func TestFuzzCorpus(t *testing.T) {
	files := map[string]string{}
	add := func(target string, args ...any) {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case byte:
				fmt.Fprintf(&buf, "byte('\\x%02x')\n", a)
			case []byte:
				fmt.Fprintf(&buf, "[]byte(%q)\n", a)
			}
		}
		sum := sha256.Sum256(buf.Bytes())
		files[filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed-%x", sum[:8]))] = buf.String()
	}
	for _, s := range seeds() {
		if first, _, n, err := ParseHeader(s.bytes); err == nil {
			add("FuzzDecode", s.version, first, s.bytes[n:])
		}
		add("FuzzReadPacket", s.version, s.bytes)
		add("FuzzParseHeader", s.bytes)
	}
	for name, content := range files {
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != content {
			t.Errorf("seed %s missing or stale; run go test -run TestFuzzCorpus -update-corpus", name)
		}
	}
}
