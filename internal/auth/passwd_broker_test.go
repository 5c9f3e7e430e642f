package auth

import (
	"strings"
	"testing"
)

// The broker reads a password file as mosquitto 2.0.11's broker does (each case checked by
// running it): no line stops it; bad lines and entries are skipped, with a warning naming
// FILE:LINE; the other users log in.
func TestParseBrokerPasswordFile(t *testing.T) {
	alice := mustHash(t, "secret")
	bob := mustHash(t, "hunter2")
	other := mustHash(t, "other")
	for _, tc := range []struct {
		name    string
		line    string // between alice's and bob's entries
		users   map[string]string
		warning string // "" for none
	}{
		{"no colon", "garbage", nil, "f:2: no ':'"},
		{"no user", ":nouser", nil, "f:2: user \"nouser\" has no password hash"},
		{"blank user", "   :" + other, nil, "f:2: empty user name"},
		{"no hash", "dave:", nil, "f:2: user \"dave\" has no password hash"},
		{"broken $7$", "dave:$7$101$abc", nil, "f:2: user \"dave\": malformed $7$ hash"},
		{"bad salt", "dave:$7$101$!!!!$@@@@", nil, "f:2: user \"dave\": malformed $7$ hash"},
		{"bad iterations", "dave:$7$xyz$abc$def", nil, "f:2: user \"dave\": malformed $7$ hash: iterations"},
		{"broken $6$", "dave:$6$abc", nil, "f:2: user \"dave\": malformed $6$ hash"},
		{"plain text", "dave:secret", nil, "f:2: plain-text password for user \"dave\", entry removed"},
		{"unknown hash", "dave:$8$abc$def", nil, "f:2: unsupported hash type $8$"},
		{"comment", "#dave:" + other, nil, ""},
		{"blank", "   ", nil, ""},
		{"spaces around", "  dave  :  " + other + "  ", map[string]string{"dave": "other"}, ""},
		{"after a second colon", "dave:" + other + ":x", map[string]string{"dave": "other"}, ""},
		{"listed again", "alice:" + other, map[string]string{"alice": "other"}, "f:2: user \"alice\" is listed again (first at line 1)"},
		{"listed again, broken", "alice:$7$1$x", map[string]string{"alice": "secret"}, "f:2: user \"alice\": malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "alice:" + alice + "\n" + tc.line + "\nbob:" + bob + "\n"
			p, warns := ParseBrokerPasswordFile("f", []byte(data))
			var ws []string
			for _, w := range warns {
				ws = append(ws, w.Error())
			}
			switch {
			case tc.warning == "" && len(ws) != 0, tc.warning != "" && (len(ws) != 1 || !strings.HasPrefix(ws[0], tc.warning)):
				t.Errorf("warnings %q, want %q", ws, tc.warning)
			}
			want := map[string]string{"alice": "secret", "bob": "hunter2"}
			for u, pw := range tc.users {
				want[u] = pw
			}
			for u, pw := range want {
				if !p.Verify(u, pw) {
					t.Errorf("%s cannot log in with %q", u, pw)
				}
			}
			if p.Verify("dave", "secret") || p.Verify("nouser", "") {
				t.Error("a skipped entry logs in")
			}
		})
	}
	// CRLF line endings are read as LF.
	p, warns := ParseBrokerPasswordFile("f", []byte("alice:"+alice+"\r\nbob:"+bob+"\r\n"))
	if len(warns) != 0 || !p.Verify("alice", "secret") || !p.Verify("bob", "hunter2") {
		t.Errorf("CRLF: warnings %v", warns)
	}
}

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := HashPBKDF2(password, 101)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
