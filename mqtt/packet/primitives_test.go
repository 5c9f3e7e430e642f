package packet

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainPrefixAgreesWithUTF8(t *testing.T) {
	cases := []string{"", "a", "abcdefgh", "abcdefghi", "abcdefg\x00", "abc\x00defghijk", "\x00",
		"héllo wörld, längere zeichenkette", "abcdefgh\xff", "abcdefghijklmnop\xed\xa0\x80", "\uFEFFtopic",
		strings.Repeat("x", 63) + "\x00", strings.Repeat("y", 64) + "é"}
	for _, s := range cases {
		want := utf8.ValidString(s) && !strings.Contains(s, "\x00")
		got := checkString(PUBLISH, "f", s) == nil
		r := reader{b: append(str(s), 0), t: PUBLISH}
		_, err := r.rawString("f")
		if got != want || (err == nil) != want {
			t.Errorf("%q: checkString %v, rawString %v, want valid=%v", s, got, err, want)
		}
	}
}

func FuzzPlainPrefix(f *testing.F) {
	f.Add([]byte("abcdefgh\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := utf8.Valid(b) && !strings.Contains(string(b), "\x00")
		if got := checkString(PUBLISH, "f", string(b)) == nil; got != want {
			t.Fatalf("%q: got %v want %v", b, got, want)
		}
	})
}
