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

func TestDiscouraged(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want rune
	}{
		{"a/b", 0}, {"", 0}, {"caf\u00e9/\u65e5\u672c", 0}, {"\u00a0", 0}, {"\ufdcf\ufdf0\ufffd", 0}, {"a\x00b", 0},
		{"a\x01", 0x01}, {"\x1f", 0x1F}, {"x\x7f", 0x7F}, {"\u0080", 0x80}, {"\u009f", 0x9F},
		{"\ufdd0", 0xFDD0}, {"\ufdef", 0xFDEF}, {"\ufffe", 0xFFFE}, {"\uffff", 0xFFFF},
		{"\U0001fffe", 0x1FFFE}, {"\U0010ffff", 0x10FFFF}, {"ok\tthen", '\t'},
	} {
		r, ok := Discouraged(tc.s)
		if ok != (tc.want != 0) || r != tc.want {
			t.Errorf("Discouraged(%q) = %U, %v; want %U", tc.s, r, ok, tc.want)
		}
	}
}
