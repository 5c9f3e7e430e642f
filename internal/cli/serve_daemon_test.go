//go:build !windows && !plan9

package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// gone reports whether process pid has ended (a zombie waiting for init counts as ended).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// mosquitto -d: the command returns 0 once the broker runs in the background, whose process id
// is in pid_file; it serves, and stops on SIGTERM.
func TestServeDaemon(t *testing.T) {
	dir := t.TempDir()
	port := testutil.FreePort(t)
	pidFile := filepath.Join(dir, "m.pid")
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npid_file %s\n", port, pidFile))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runCmd(t, progCmd(ctx, "mosquitto", "-c", conf, "-d"), nil)
	b, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 0 {
		t.Cleanup(func() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		})
	}
	if r.code != 0 || err != nil || pid <= 0 {
		t.Fatalf("mosquitto -d: exit %d, pid file %q (%v), stderr:\n%s", r.code, b, err, r.stderr)
	}
	if !strings.Contains(string(r.stderr), "Opening ipv4 listen socket on port "+strconv.Itoa(port)) {
		t.Errorf("the start was not relayed:\n%s", r.stderr)
	}
	testutil.ConnectRaw(t, "127.0.0.1:"+strconv.Itoa(port), packet.V311, "d").Send(&packet.Disconnect{})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatal("the background broker did not stop on SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A background start that fails is reported by the command, with the broker's error and exit
// status, instead of a success.
func TestServeDaemonStartFails(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conf := filepath.Join(t.TempDir(), "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\n", busy.Addr().(*net.TCPAddr).Port))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runCmd(t, mqttCmd(ctx, "serve", "-d", "-c", conf), nil)
	if r.code != 1 || !strings.Contains(string(r.stderr), "address already in use") { // mosquitto's 1 for a port in use
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
