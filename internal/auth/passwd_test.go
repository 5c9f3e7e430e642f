package auth

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Vectors from mosquitto_passwd 2.0.11 (shared/reference/mosquitto-2.0.md §2).
const (
	vector7 = "user:$7$101$pxnm6cFztMWhtfL3$44f0H2SV7YgNpK+zHF+TPQxTa1qwF639nFdcKamOhZ1QGcXE6bYX2EsFZSfsaiTMpBItwMZakymIffB39aZywQ=="
	vector6 = "user2:$6$f+GoWD2bpO52MFnq$He2DMUwx5PV/pldgpx69YJQEROyDRWIIeBLSUex78AYQMlvY+8NgQe5hhd85fX7NgCinffAgpJsAFlvu+JCr4Q=="
)

func TestParsePasswordFile(t *testing.T) {
	good7, err := HashPBKDF2("secret", 0)
	if err != nil {
		t.Fatal(err)
	}
	good6, err := HashSHA512("secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		text     string
		users    []string
		warnings []string // substrings, in order
		err      string   // substring; "" means success
	}{
		{name: "empty", text: ""},
		{name: "comments and blanks", text: "# header\n\n   \n#x:y\n"},
		{name: "both hash types", text: "a:" + good7 + "\nb:" + good6 + "\n", users: []string{"a", "b"}},
		{name: "mosquitto vectors", text: vector7 + "\n" + vector6, users: []string{"user", "user2"}},
		{name: "crlf", text: "a:" + good7 + "\r\n# c\r\n", users: []string{"a"}},
		{name: "plain text warns", text: "a:" + good7 + "\nbob:hunter2\n", users: []string{"a", "bob"},
			warnings: []string{"F:2: plain-text password for user \"bob\""}},
		{name: "unknown hash warns", text: "x:$2y$10$abc\n", users: []string{"x"},
			warnings: []string{"F:1: unsupported hash type $2y$"}},
		{name: "no colon", text: "# c\nalice\n", err: "F:2: expected USER:$7$"},
		{name: "empty user", text: ":" + good7 + "\n", err: "F:1: empty user name"},
		{name: "duplicate", text: "a:" + good7 + "\n\na:" + good6 + "\n", err: "F:3: user \"a\" is listed twice (first at line 1)"},
		{name: "7 wrong fields", text: "a:$7$101$abc\n", err: "F:1: user \"a\": malformed $7$ hash: expected $7$ITERATIONS$SALT$HASH"},
		{name: "7 bad iterations", text: "a:$7$zero$" + strings.SplitN(good7, "$", 4)[3] + "\n", err: "F:1: user \"a\": malformed $7$ hash: iterations \"zero\""},
		{name: "7 zero iterations", text: "a:$7$0$" + strings.SplitN(good7, "$", 4)[3] + "\n", err: "iterations \"0\" must be a number between 1"},
		{name: "7 short salt", text: "a:$7$101$AAAA$" + strings.Split(good7, "$")[4] + "\n", err: "salt \"AAAA\" must be 12 bytes"},
		{name: "7 bad hash b64", text: "a:$7$101$" + strings.Split(good7, "$")[3] + "$!!!\n", err: "hash must be 64 bytes of standard base64 (88 characters)"},
		{name: "6 wrong fields", text: "a:$6$onlysalt\n", err: "F:1: user \"a\": malformed $6$ hash: expected $6$SALT$HASH"},
		{name: "6 short hash", text: "a:$6$" + strings.Split(good6, "$")[2] + "$AAAA\n", err: "hash must be 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw, warnings, err := ParsePasswordFile("F", []byte(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(pw.Users(), ","); got != strings.Join(tt.users, ",") {
				t.Errorf("users = %q, want %q", got, tt.users)
			}
			if len(warnings) != len(tt.warnings) {
				t.Fatalf("warnings = %v, want %v", warnings, tt.warnings)
			}
			for i, w := range warnings {
				if !strings.Contains(w.Error(), tt.warnings[i]) {
					t.Errorf("warning %d = %q, want it to contain %q", i, w, tt.warnings[i])
				}
			}
			if got := string(pw.Bytes()); strings.ReplaceAll(tt.text, "\r", "") != got && !strings.HasSuffix(tt.text, vector6) {
				t.Errorf("Bytes() = %q, want the input back %q", got, tt.text)
			}
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		hash func(string) (string, error)
		pre  string
	}{
		{"pbkdf2 default", func(p string) (string, error) { return HashPBKDF2(p, 0) }, "$7$101$"},
		{"pbkdf2 1000", func(p string) (string, error) { return HashPBKDF2(p, 1000) }, "$7$1000$"},
		{"sha512", HashSHA512, "$6$"},
	}
	for _, tt := range tests {
		for _, password := range []string{"secret", "", "päss wörd:$7$", strings.Repeat("x", 300)} {
			t.Run(tt.name, func(t *testing.T) {
				enc, err := tt.hash(password)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(enc, tt.pre) {
					t.Fatalf("hash %q lacks prefix %q", enc, tt.pre)
				}
				parts := strings.Split(enc, "$")
				salt, sum := parts[len(parts)-2], parts[len(parts)-1]
				if len(salt) != 16 || len(sum) != 88 {
					t.Errorf("salt %d chars, hash %d chars; mosquitto writes 16 and 88", len(salt), len(sum))
				}
				pw := NewPasswordFile("F")
				if err := pw.Set("u", enc); err != nil {
					t.Fatal(err)
				}
				if !pw.Verify("u", password) {
					t.Error("right password rejected")
				}
				if pw.Verify("u", password+"x") {
					t.Error("wrong password accepted")
				}
				if pw.Verify("nobody", password) {
					t.Error("unknown user accepted")
				}
			})
		}
	}
	if _, err := HashPBKDF2("x", -1); err == nil {
		t.Error("negative iterations accepted")
	}
	a, _ := HashPBKDF2("same", 0)
	b, _ := HashPBKDF2("same", 0)
	if a == b {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

// TestMosquittoVectors checks the hashes mosquitto_passwd 2.0.11 wrote in
// the reference notes (`-c -b FILE user pass`, and `-H sha512` for user2).
func TestMosquittoVectors(t *testing.T) {
	pw, warnings, err := ParsePasswordFile("ref", []byte(vector7+"\n"+vector6+"\n"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v warnings %v", err, warnings)
	}
	for _, tt := range []struct {
		user, password string
		want           bool
	}{
		{"user", "pass", true}, {"user2", "pass", true},
		{"user", "Pass", false}, {"user2", "pass ", false}, {"user", "", false},
	} {
		if got := pw.Verify(tt.user, tt.password); got != tt.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tt.user, tt.password, got, tt.want)
		}
	}
	if got := string(pw.Bytes()); got != vector7+"\n"+vector6+"\n" {
		t.Errorf("round trip changed the file: %q", got)
	}
}

func TestVerifyIgnoresUnusableEntries(t *testing.T) {
	pw, _, err := ParsePasswordFile("F", []byte("bob:hunter2\nx:$2y$10$abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"bob", "hunter2"}, {"x", "$2y$10$abc"}, {"x", ""}} {
		if pw.Verify(c[0], c[1]) {
			t.Errorf("Verify(%q, %q) = true for an entry the broker must ignore", c[0], c[1])
		}
	}
	var nilFile *PasswordFile
	if nilFile.Verify("a", "b") || nilFile.Users() != nil {
		t.Error("nil file must verify nobody")
	}
}

func TestEditKeepsOtherLines(t *testing.T) {
	h1, _ := HashPBKDF2("one", 0)
	h2, _ := HashSHA512("two")
	orig := "# users\nalice:" + h1 + "\n\n# bob is legacy\nbob:" + h2 + "\ncarol:plain\n"
	pw, _, err := ParsePasswordFile("F", []byte(orig))
	if err != nil {
		t.Fatal(err)
	}
	h3, _ := HashPBKDF2("three", 0)
	if err := pw.Set("alice", h3); err != nil {
		t.Fatal(err)
	}
	if err := pw.Set("dave", h3); err != nil {
		t.Fatal(err)
	}
	if !pw.Delete("bob") || pw.Delete("bob") {
		t.Fatal("Delete should report true once")
	}
	want := "# users\nalice:" + h3 + "\n\n# bob is legacy\ncarol:plain\ndave:" + h3 + "\n"
	if got := string(pw.Bytes()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !pw.Verify("alice", "three") || pw.Verify("alice", "one") || !pw.Verify("dave", "three") || pw.Verify("bob", "two") {
		t.Error("Verify does not follow the edits")
	}
	for _, bad := range []string{"", "a:b", "a\nb"} {
		if err := pw.Set(bad, h3); err == nil {
			t.Errorf("Set(%q) accepted a bad username", bad)
		}
	}
	if err := pw.Set("eve", "plain"); err == nil {
		t.Error("Set accepted a plain-text password as a hash")
	}
}

func TestHashPlain(t *testing.T) {
	h1, _ := HashPBKDF2("one", 0)
	orig := "# c\nalice:" + h1 + "\nbob:pa:ss\nx:$2y$10$abc\n"
	pw, _, err := ParsePasswordFile("F", []byte(orig))
	if err != nil {
		t.Fatal(err)
	}
	n, err := pw.HashPlain(func(p string) (string, error) { return HashPBKDF2(p, 0) })
	if err != nil || n != 1 {
		t.Fatalf("HashPlain = %d, %v; want 1 entry", n, err)
	}
	if !pw.Verify("alice", "one") || !pw.Verify("bob", "pa:ss") {
		t.Error("after HashPlain: existing hash changed or plain password lost")
	}
	lines := strings.Split(string(pw.Bytes()), "\n")
	if lines[1] != "alice:"+h1 || lines[3] != "x:$2y$10$abc" || lines[0] != "# c" {
		t.Errorf("HashPlain touched lines it should not: %q", lines)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file
		want     os.FileMode
	}{
		{"new file is 0600", 0, 0o600},
		{"keeps 0644", 0o644, 0o644},
		{"keeps 0640", 0o640, 0o640},
		{"keeps 0400", 0o400, 0o400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "pw"+string(rune('a'+i)))
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old\n"), tt.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil { // beat the umask
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(path, []byte("new\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %o, want %o", fi.Mode().Perm(), tt.want)
			}
			if data, _ := os.ReadFile(path); string(data) != "new\n" {
				t.Errorf("contents %q", data)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	// A symbolic link stays a link to the rewritten file.
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if data, _ := os.ReadFile(target); string(data) != "y\n" {
		t.Errorf("target contents %q", data)
	}
	// A missing directory is an error, not a panic or a stray file.
	if err := WriteFileAtomic(filepath.Join(dir, "nope", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// A single file bind-mounted into a container cannot be renamed over (EBUSY; EXDEV across
// mounts): the file is rewritten in place, as mosquitto_passwd does, and keeps its inode and mode.
func TestWriteFileAtomicInPlaceWhenRenameFails(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EBUSY, syscall.EXDEV} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pw")
			if err := os.WriteFile(path, []byte("a much longer old content\nline two\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(path)
			busy := func(from, to string) error { return &os.LinkError{Op: "rename", Old: from, New: to, Err: errno} }
			if err := writeFileAtomic(path, []byte("new\n"), 0o600, busy); err != nil {
				t.Fatalf("rename failing with %v: %v", errno, err)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(before, after) {
				t.Error("the file was replaced, not rewritten in place")
			}
			if after.Mode().Perm() != 0o644 {
				t.Errorf("mode %o, want 0644 kept", after.Mode().Perm())
			}
			if data, _ := os.ReadFile(path); string(data) != "new\n" {
				t.Errorf("contents %q, want the new content only", data)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("files left behind: %v", entries)
			}
		})
	}
	// Another rename failure is still an error, and the old file stays as it was.
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := func(from, to string) error { return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EIO} }
	if err := writeFileAtomic(path, []byte("new\n"), 0o600, other); err == nil {
		t.Error("a rename failing with EIO was not reported")
	}
	if data, _ := os.ReadFile(path); string(data) != "old\n" {
		t.Errorf("after a failed write the contents are %q", data)
	}
}

func TestStoreReloadKeepsOldRulesOnError(t *testing.T) {
	dir := t.TempDir()
	pwPath := filepath.Join(dir, "pw")
	aclPath := filepath.Join(dir, "acl")
	h1, _ := HashPBKDF2("one", 0)
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(pwPath, "alice:"+h1+"\n")
	write(aclPath, "user alice\ntopic readwrite a/#\n")
	s, _, err := NewStore(pwPath, aclPath)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Passwords().Verify("alice", "one") || !s.ACL().CanWrite("alice", "c", "a/b") {
		t.Fatal("initial load")
	}

	h2, _ := HashPBKDF2("two", 0)
	write(pwPath, "alice:"+h2+"\n")
	write(aclPath, "user alice\ntopic readwrite a/#\ntopic bogus b\n")
	_, err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), aclPath+":3:") {
		t.Fatalf("Reload err = %v, want %s:3", err, aclPath)
	}
	if !s.Passwords().Verify("alice", "one") || s.Passwords().Verify("alice", "two") {
		t.Error("failed reload swapped the password file")
	}

	write(aclPath, "user alice\ntopic read b/#\n")
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !s.Passwords().Verify("alice", "two") || s.ACL().CanWrite("alice", "c", "a/b") || !s.ACL().CanRead("alice", "c", "b/c") {
		t.Error("good reload not applied")
	}

	none, _, err := NewStore("", "")
	if err != nil || none.Passwords() != nil || !none.ACL().CanWrite("x", "y", "z") {
		t.Error("a store without files: no passwords, ACL allows all")
	}
	if _, _, err := NewStore(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("missing password file accepted")
	}
}
