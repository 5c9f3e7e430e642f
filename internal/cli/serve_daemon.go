package cli

import (
	"io"
	"os"
	"sync"

	ucli "github.com/urfave/cli/v2"
)

// `mqtt serve -d` (mosquitto -d) runs the broker in the background. Go cannot fork, so the
// command starts itself again, detached (its own session, standard streams on /dev/null, the
// environment variable daemonEnv set), and waits: the background process sends what it would
// print on stderr through a pipe (fd 3) until it is ready, then says so on a second pipe (fd 4)
// and stops writing to the first. The foreground process relays that text and exits 0 once
// the broker runs, or with the background process's exit status when it fails to start: unlike
// Mosquitto, whose parent exits 0 before the listeners open, a broken start is not hidden.

// daemonEnv marks the background process; its value is not used.
const daemonEnv = "MQTT_SERVE_DAEMON_CHILD"

// File descriptors the background process inherits.
const (
	daemonRelayFD = 3 // its stderr until ready
	daemonReadyFD = 4 // one byte when ready, then closed
)

// daemonKey is where the background process keeps its daemonChild in the app's Metadata.
const daemonKey = "serve.daemon"

// daemonChild is the background side: the stderr the command writes to, and the readiness
// signal.
type daemonChild struct {
	relay *os.File
	ready *os.File
	errw  *detachableWriter
}

// detachableWriter writes to w until detach, then discards: after the foreground process has
// exited nobody reads the relay pipe.
type detachableWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (d *detachableWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return len(p), nil
	}
	if _, err := d.w.Write(p); err != nil {
		d.w = nil // the foreground process is gone
	}
	return len(p), nil
}

func (d *detachableWriter) detach() {
	d.mu.Lock()
	d.w = nil
	d.mu.Unlock()
}

// setUpDaemonChild, in the background process, makes the relay pipe the command's stderr and
// records the readiness pipe. It reports false outside a background process.
func setUpDaemonChild(c *ucli.Context) bool {
	if os.Getenv(daemonEnv) == "" {
		return false
	}
	relay := os.NewFile(daemonRelayFD, "daemon-relay")
	ready := os.NewFile(daemonReadyFD, "daemon-ready")
	if relay == nil || ready == nil {
		return false
	}
	d := &daemonChild{relay: relay, ready: ready, errw: &detachableWriter{w: relay}}
	c.App.ErrWriter = d.errw
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[daemonKey] = d
	return true
}

// daemonReady tells the foreground process, if any, that the broker runs: from then on the
// background process's stderr output is discarded (its log goes where log_dest says).
func daemonReady(c *ucli.Context) {
	d, ok := c.App.Metadata[daemonKey].(*daemonChild)
	if !ok {
		return
	}
	d.errw.detach()
	_, _ = d.ready.Write([]byte{1})
	_ = d.ready.Close()
	_ = d.relay.Close()
	delete(c.App.Metadata, daemonKey)
}
