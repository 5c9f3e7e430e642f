package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunPasswd(t *testing.T) {
	existingHash, err := HashPBKDF2("old", 0)
	if err != nil {
		t.Fatal(err)
	}
	existing := "# team\nkeep:" + existingHash + "\n\nbob:" + existingHash + "\n"
	type check struct{ user, password string }
	tests := []struct {
		name     string
		file     *string // initial content; nil: no file
		mode     os.FileMode
		args     []string // "F" is replaced by the file's path
		stdin    string
		code     int
		stderr   string  // substring
		stdout   string  // substring
		verify   []check // must verify afterwards
		reject   []check // must not verify afterwards
		has      string  // substring of the file afterwards
		hasNot   string
		wantMode os.FileMode
	}{
		{name: "create batch", args: []string{"-c", "-b", "F", "alice", "s3cret"}, verify: []check{{"alice", "s3cret"}}, reject: []check{{"alice", "x"}}, has: "alice:$7$101$", wantMode: 0o600},
		{name: "create sha512", args: []string{"-H", "sha512", "-c", "-b", "F", "alice", "pw"}, verify: []check{{"alice", "pw"}}, has: "alice:$6$"},
		{name: "create iterations", args: []string{"-I", "1000", "-c", "-b", "F", "alice", "pw"}, verify: []check{{"alice", "pw"}}, has: "alice:$7$1000$"},
		{name: "create overwrites", file: &existing, args: []string{"-c", "-b", "F", "alice", "pw"}, verify: []check{{"alice", "pw"}}, hasNot: "keep:"},
		{name: "create keeps mode of existing", file: &existing, mode: 0o644, args: []string{"-c", "-b", "F", "alice", "pw"}, wantMode: 0o644},
		{name: "add keeps other lines", file: &existing, mode: 0o640, args: []string{"-b", "F", "carol", "pw"},
			verify: []check{{"carol", "pw"}, {"keep", "old"}, {"bob", "old"}}, has: "# team\nkeep:" + existingHash + "\n\nbob:", wantMode: 0o640},
		{name: "update in place", file: &existing, args: []string{"-b", "F", "keep", "new"}, verify: []check{{"keep", "new"}, {"bob", "old"}}, reject: []check{{"keep", "old"}}, has: "# team\nkeep:$7$"},
		{name: "delete", file: &existing, args: []string{"-D", "F", "bob"}, verify: []check{{"keep", "old"}}, reject: []check{{"bob", "old"}}, hasNot: "bob:"},
		{name: "delete unknown user", file: &existing, args: []string{"-D", "F", "nobody"}, code: 1, stderr: "Warning: User nobody not found in password file."},
		{name: "password from stdin twice", file: &existing, args: []string{"F", "dave"}, stdin: "pw\npw\n", verify: []check{{"dave", "pw"}}},
		{name: "password prompts", file: &existing, args: []string{"F", "dave"}, stdin: "pw\npw", stdout: "Password: \nReenter password: \n", verify: []check{{"dave", "pw"}}},
		{name: "password from stdin once", file: &existing, args: []string{"F", "dave"}, stdin: "pw\n", code: 1, stderr: "Error: Empty password.", hasNot: "dave"},
		{name: "password crlf", file: &existing, args: []string{"F", "dave"}, stdin: "pw\r\npw\r\n", verify: []check{{"dave", "pw"}}},
		{name: "password mismatch", file: &existing, args: []string{"F", "dave"}, stdin: "pw\npx\n", code: 2, stderr: "Error: Passwords do not match.", hasNot: "dave"},
		{name: "empty password", file: &existing, args: []string{"F", "dave"}, stdin: "\n\n", code: 1, stderr: "Error: Empty password.", stdout: "Password: ", hasNot: "dave"},
		{name: "no password on stdin", file: &existing, args: []string{"F", "dave"}, code: 1, stderr: "Error: Empty password."},
		{name: "upgrade plain file", file: ptr("# c\nalice:pa:ss\nkeep:" + existingHash + "\n"), args: []string{"-U", "F"},
			verify: []check{{"alice", "pa:ss"}, {"keep", "old"}}, has: "# c\nalice:$7$101$"},
		{name: "upgrade sha512", file: ptr("alice:pw\n"), args: []string{"-H", "sha512", "-U", "F"}, verify: []check{{"alice", "pw"}}, has: "alice:$6$"},

		{name: "missing file", args: []string{"-b", "F", "a", "b"}, code: 1, stderr: "Error: Unable to open password file", wantMode: 0},
		{name: "missing directory", args: []string{"-c", "-b", "DIR/nope/f", "a", "b"}, code: 1, stderr: "for writing. No such file or directory."},
		{name: "colon in user", args: []string{"-c", "-b", "F", "a:b", "p"}, code: 1, stderr: "Error: Username must not contain the ':' character."},
		{name: "empty user", args: []string{"-c", "-b", "F", "", "p"}, code: 1, stderr: "Error: Username must not be empty."},
		{name: "unknown hash", args: []string{"-H", "md5", "-c", "-b", "F", "a", "p"}, code: 1, stderr: "Error: Unknown hash type 'md5'"},
		{name: "zero iterations", args: []string{"-I", "0", "-c", "-b", "F", "a", "p"}, code: 1, stderr: "Error: Number of iterations must be > 0."},
		{name: "non-numeric iterations", args: []string{"-I", "x", "-c", "-b", "F", "a", "p"}, code: 1, stderr: "whole number"},
		{name: "c and D", args: []string{"-c", "-D", "F", "a"}, code: 1, stderr: "Error: -c and -D cannot be used together."},
		{name: "U with c", args: []string{"-U", "-c", "F"}, code: 1, stderr: "-U cannot be used with"},
		{name: "U without file", args: []string{"-U"}, code: 1, stderr: "Error: -U argument given but password file missing."},
		{name: "too few args", args: []string{"F"}, code: 1, stdout: "Usage: mosquitto_passwd [-H sha512"},
		{name: "batch too few", args: []string{"-b", "F", "u"}, code: 1, stdout: "Usage: mosquitto_passwd"},
		{name: "create too few", args: []string{"-c", "F"}, code: 1, stderr: "Error: -c argument given but password file or username missing."},
		{name: "create batch too few", args: []string{"-c", "-b", "F", "u"}, code: 1, stderr: "Error: -c argument given but password file, username, or password missing."},
		{name: "delete too few", args: []string{"-D", "F"}, code: 1, stderr: "Error: -D argument given but password file or username missing."},
		{name: "unknown option", args: []string{"-x", "F", "u"}, code: 1, stderr: "unknown option \"-x\""},
		{name: "malformed line", file: ptr("# c\nalice:$7$1$bad\n"), args: []string{"-b", "F", "bob", "p"}, code: 1, stderr: "F:2: user \"alice\": malformed $7$ hash"},
		{name: "plain lines warn but are kept", file: ptr("alice:plain\n"), args: []string{"-b", "F", "bob", "p"}, stderr: "Warning: F:1: plain-text password", has: "alice:plain\nbob:$7$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pwfile")
			if tt.file != nil {
				mode := tt.mode
				if mode == 0 {
					mode = 0o600
				}
				if err := os.WriteFile(path, []byte(*tt.file), mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				a = strings.ReplaceAll(a, "DIR", dir)
				if a == "F" {
					a = path
				}
				args[i] = a
			}
			var stdout, stderr bytes.Buffer
			code := RunPasswd(args, strings.NewReader(tt.stdin), &stdout, &stderr)
			errText := strings.ReplaceAll(stderr.String(), path, "F")
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errText)
			}
			if !strings.Contains(errText, tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", errText, tt.stderr)
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tt.stdout)
			}
			if tt.code == 0 && tt.stderr == "" && errText != "" {
				t.Errorf("unexpected stderr %q", errText)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				if tt.file != nil || tt.code == 0 {
					t.Fatal(err)
				}
				return
			}
			if tt.code != 0 && tt.file != nil && string(data) != *tt.file {
				t.Errorf("a failed command changed the file:\n%s", data)
			}
			pw, _, err := ParsePasswordFile(path, data)
			if err != nil {
				if tt.code == 0 {
					t.Fatalf("result does not parse: %v", err)
				}
				return
			}
			for _, c := range tt.verify {
				if !pw.Verify(c.user, c.password) {
					t.Errorf("Verify(%q, %q) = false; file:\n%s", c.user, c.password, data)
				}
			}
			for _, c := range tt.reject {
				if pw.Verify(c.user, c.password) {
					t.Errorf("Verify(%q, %q) = true", c.user, c.password)
				}
			}
			if tt.has != "" && !strings.Contains(string(data), tt.has) {
				t.Errorf("file lacks %q:\n%s", tt.has, data)
			}
			if tt.hasNot != "" && strings.Contains(string(data), tt.hasNot) {
				t.Errorf("file still has %q:\n%s", tt.hasNot, data)
			}
			if tt.wantMode != 0 {
				fi, _ := os.Stat(path)
				if fi.Mode().Perm() != tt.wantMode {
					t.Errorf("mode %o, want %o", fi.Mode().Perm(), tt.wantMode)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestRunPasswdUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read any file")
	}
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := RunPasswd([]string{"-b", path, "u", "p"}, nil, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "Permission denied") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestRunPasswdUnreadableIsDirectory(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := RunPasswd([]string{"-b", dir, "u", "p"}, nil, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "Unable to open password file") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
