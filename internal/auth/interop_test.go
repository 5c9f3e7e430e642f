package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireTool finds an outside program, also in /usr/sbin (mosquitto lives
// there and it is often not on PATH). It skips the test when the program is
// absent, unless MQTT_REQUIRE_INTEROP is set: then a missing tool fails.
// TODO: switch to internal/testutil.RequireTool once it lands.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("MQTT_REQUIRE_INTEROP") != "" {
		t.Fatalf("%s not found and MQTT_REQUIRE_INTEROP is set", name)
	}
	t.Skipf("%s not found", name)
	return ""
}

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
	tool := requireTool(t, "mosquitto_passwd")
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
	broker := requireTool(t, "mosquitto")
	pub := requireTool(t, "mosquitto_pub")
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

	port := startMosquitto(t, broker, dir, "allow_anonymous false\npassword_file "+path+"\n")
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

// startMosquitto runs mosquitto on a free loopback port with extra config
// and returns the port. The broker is stopped when the test ends.
func startMosquitto(t *testing.T, broker, dir, extra string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("listener %d 127.0.0.1\n%s", port, extra)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(broker, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return port
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("mosquitto exited early: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %d within 10s\n%s", port, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
