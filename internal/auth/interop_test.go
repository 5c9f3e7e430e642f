package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

func runTool(t *testing.T, timeout time.Duration, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out; output:\n%s", name, args, out.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return 0, out.String()
}

// TestInteropMosquittoPasswdFilesVerify: files written by the real
// mosquitto_passwd verify with our code.
func TestInteropMosquittoPasswdFilesVerify(t *testing.T) {
	tool := testutil.RequireTool(t, "mosquitto_passwd")
	tests := []struct {
		name   string
		flags  []string
		prefix string
	}{
		{"default pbkdf2", nil, "$7$101$"},
		{"sha512", []string{"-H", "sha512"}, "$6$"},
		{"pbkdf2 explicit", []string{"-H", "sha512-pbkdf2"}, "$7$101$"},
		{"pbkdf2 1000 iterations", []string{"-I", "1000"}, "$7$1000$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pw")
			password := "pä$$ w:rd"
			args := append(append([]string{}, tt.flags...), "-c", "-b", path, "alice", password)
			if code, out := runTool(t, 30*time.Second, tool, args...); code != 0 {
				t.Fatalf("mosquitto_passwd exit %d: %s", code, out)
			}
			args = append(append([]string{}, tt.flags...), "-b", path, "bob", "other")
			if code, out := runTool(t, 30*time.Second, tool, args...); code != 0 {
				t.Fatalf("mosquitto_passwd exit %d: %s", code, out)
			}
			pw, warnings, err := LoadPasswordFile(path)
			if err != nil || len(warnings) != 0 {
				data, _ := os.ReadFile(path)
				t.Fatalf("parse: %v %v\n%s", err, warnings, data)
			}
			data, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(data), "alice:"+tt.prefix) {
				t.Errorf("mosquitto_passwd wrote %q, expected prefix %q", data, tt.prefix)
			}
			for _, c := range []struct {
				user, password string
				want           bool
			}{
				{"alice", password, true}, {"bob", "other", true},
				{"alice", "other", false}, {"bob", password, false}, {"carol", "other", false}, {"alice", "", false},
			} {
				if got := pw.Verify(c.user, c.password); got != c.want {
					t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.password, got, c.want)
				}
			}
		})
	}
}

// TestInteropOurPasswdFileWithMosquittoBroker: a file made by our code is
// accepted by a real mosquitto broker; wrong passwords and plain-text
// entries are refused (mosquitto_pub exits 5, "not authorised").
func TestInteropOurPasswdFileWithMosquittoBroker(t *testing.T) {
	testutil.RequireTool(t, "mosquitto")
	pub := testutil.RequireTool(t, "mosquitto_pub")
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")

	// Build the file the way users will: through the command.
	for _, args := range [][]string{
		{"-c", "-b", path, "p7", "secret7"},
		{"-I", "2000", "-b", path, "p7slow", "secretslow"},
		{"-H", "sha512", "-b", path, "p6", "secret6"},
	} {
		var stderr bytes.Buffer
		if code := RunPasswd(args, nil, &bytes.Buffer{}, &stderr); code != 0 {
			t.Fatalf("RunPasswd %v: %d %s", args, code, stderr.String())
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "plain:plainpw")
	f.Close()
	// mosquitto started as root drops to user "mosquitto" unless told not to;
	// let it read the 0600 file either way.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	port := testutil.StartMosquitto(t, "allow_anonymous false", "password_file "+path).Port
	tests := []struct {
		user, password string
		code           int
	}{
		{"p7", "secret7", 0},
		{"p7slow", "secretslow", 0},
		{"p6", "secret6", 0},
		{"p7", "wrong", 5},
		{"p6", "secret7", 5},
		{"plain", "plainpw", 5}, // the broker drops plain-text entries, as we do
		{"nobody", "secret7", 5},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.password, func(t *testing.T) {
			code, out := runTool(t, 20*time.Second, pub, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
				"-u", tt.user, "-P", tt.password, "-t", "interop/test", "-m", "hello", "-q", "1")
			if code != tt.code {
				t.Errorf("mosquitto_pub exit %d, want %d: %s", code, tt.code, out)
			}
		})
	}
}
