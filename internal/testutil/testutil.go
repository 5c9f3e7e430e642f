// Package testutil holds helpers shared by the tests of every package: finding outside
// programs (mosquitto, mosquitto_pub, groff, ...), free loopback ports, and a throwaway
// Mosquitto broker to test against.
//
// Tests that need an outside program skip when it is absent, unless MQTT_REQUIRE_INTEROP is
// set (as .ci/run does): then a missing program fails the test, so CI cannot go green by
// skipping.
package testutil

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireInteropEnv names the environment variable that turns skips for missing tools into failures.
const RequireInteropEnv = "MQTT_REQUIRE_INTEROP"

// sbinDirs are searched after PATH: Debian puts mosquitto in /usr/sbin, which is often not on
// an unprivileged user's PATH.
var sbinDirs = [...]string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin"}

// LookTool returns the path of the program name from PATH or the sbin directories, or "".
func LookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// RequireTool returns the path of the outside program name. When it is absent the test is
// skipped, or fails if MQTT_REQUIRE_INTEROP is set.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	if p := LookTool(name); p != "" {
		return p
	}
	if os.Getenv(RequireInteropEnv) != "" {
		t.Fatalf("%s not found in PATH or %s, and %s is set: install it (Debian: apt-get install mosquitto mosquitto-clients groff-base)",
			name, strings.Join(sbinDirs[:], ", "), RequireInteropEnv)
	}
	t.Skipf("%s not found; skipping (set %s=1 to make this a failure)", name, RequireInteropEnv)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another process may
// take it before the caller binds it; StartMosquitto retries for that reason.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("FreePort: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("FreePort: %v", err)
	}
	return port
}

// Mosquitto is a running mosquitto broker started by StartMosquitto.
type Mosquitto struct {
	Port       int    // the loopback port it listens on
	Addr       string // "127.0.0.1:PORT"
	ConfigFile string // the generated configuration
	PID        int    // the mosquitto process, for tools that read its /proc figures
	out        *LockedBuffer
}

// Log returns what the broker has written to stdout and stderr so far.
func (m *Mosquitto) Log() string { return m.out.String() }

// StartMosquitto starts mosquitto on a free loopback port with a generated configuration:
// "listener PORT 127.0.0.1", "allow_anonymous true" unless one of extraConfig sets
// allow_anonymous, then the extraConfig lines (e.g. "password_file /tmp/x/pw"). It returns once
// the broker accepts TCP connections; t.Cleanup stops it, and its log is shown if the test fails.
func StartMosquitto(t testing.TB, extraConfig ...string) *Mosquitto {
	t.Helper()
	bin := RequireTool(t, "mosquitto")
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		m, err := startMosquitto(t, bin, dir, attempt, extraConfig)
		if err == nil {
			return m
		}
		lastErr = err // most likely the port was taken between FreePort and bind; try another
	}
	t.Fatalf("StartMosquitto: %v", lastErr)
	return nil
}

func configText(port int, extra []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	hasAnon, hasUser := false, false
	for _, l := range extra {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "allow_anonymous" {
			hasAnon = true
		}
		if len(f) > 0 && f[0] == "user" {
			hasUser = true
		}
	}
	if !hasAnon {
		b.WriteString("allow_anonymous true\n")
	}
	if !hasUser && os.Geteuid() == 0 {
		// Started as root, mosquitto switches to the user "mosquitto", which cannot read
		// password or ACL files in the test's root-owned temporary directory.
		b.WriteString("user root\n")
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func startMosquitto(t testing.TB, bin, dir string, attempt int, extra []string) (*Mosquitto, error) {
	port := FreePort(t)
	conf := filepath.Join(dir, "mosquitto-"+strconv.Itoa(attempt)+".conf")
	if err := os.WriteFile(conf, []byte(configText(port, extra)), 0o644); err != nil {
		return nil, err
	}
	m := &Mosquitto{Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ConfigFile: conf, out: &LockedBuffer{}}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = m.out, m.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m.PID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // owned here; ends when the process does
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("mosquitto exited before accepting connections (%v):\n%s", err, m.Log())
		default:
		}
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("mosquitto did not accept connections on %s within 10s:\n%s", m.Addr, m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("mosquitto log (%s):\n%s", m.Addr, m.Log())
		}
	})
	return m, nil
}

// LockedBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd
// (a subprocess's stdout/stderr) and a test reading it meanwhile.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BuildMQTT builds the mqtt binary (./cmd/mqtt) without the race detector into a temporary
// directory of t and returns its path: for tests that measure a broker's memory or limits in a
// child process, which a race-instrumented test binary would distort. The Go build cache makes
// builds after the first quick. Skips when the go tool is missing (fails with
// MQTT_REQUIRE_INTEROP set).
func BuildMQTT(t testing.TB) string {
	t.Helper()
	goBin := RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "mqtt")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/mqttkit/mqtt/cmd/mqtt")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mqtt: %v\n%s", err, out)
	}
	return bin
}
