package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// syslogSocketExists reports whether log/syslog would find a local syslog socket.
func syslogSocketExists() bool {
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// log_dest syslog where no system logger listens (any container) warns once, naming the line,
// and the broker runs with its other destinations; --test-config says the same.
func TestServeConfigSyslogUnavailable(t *testing.T) {
	if syslogSocketExists() {
		t.Skip("this machine has a syslog socket; TestSyslogUnreachable covers the unreachable case")
	}
	conf := filepath.Join(t.TempDir(), "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nlog_dest syslog\nlog_dest stderr\n", testutil.FreePort(t)))
	want := conf + ":2: log_dest syslog: the system logger cannot be reached"
	code, stdout, stderr := runArgs("mqtt", "serve", "--test-config", "-c", conf)
	if code != 0 || !strings.Contains(stdout, "configuration OK") || strings.Count(stderr, want) != 1 {
		t.Errorf("--test-config: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	s := serveConf(t, conf)
	if n := strings.Count(s.log.String(), want); n != 1 {
		t.Errorf("the warning appears %d times, want once:\n%s", n, s.log)
	}
}

// The same, deterministic: a system logger address nobody listens on.
func TestSyslogUnreachable(t *testing.T) {
	cfg, _, err := config.Parse("m.conf", []byte("log_dest syslog\nlog_dest stderr\n"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	out := logOutputs{stdout: io.Discard, stderr: &stderr, syslogNet: "unixgram", syslogAddr: filepath.Join(t.TempDir(), "nobody")}
	s, warns, err := openLogSink(cfg, false, out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "m.conf:1: log_dest syslog: the system logger cannot be reached") {
		t.Errorf("warnings %v", warns)
	}
	s.emit(ltWarning, time.Time{}, "still logged")
	if !strings.Contains(stderr.String(), "still logged") {
		t.Error("stderr lost when syslog is unreachable")
	}
}

// log_facility: lines reach the system logger's socket with local0..7 as the facility.
func TestSyslogFacility(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Skipf("unixgram: %v", err)
	}
	defer pc.Close()
	cfg, _, err := config.Parse("m.conf", []byte("log_dest syslog\nlog_facility 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, warns, err := openLogSink(cfg, false, logOutputs{stdout: io.Discard, stderr: io.Discard, syslogNet: "unixgram", syslogAddr: sock})
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	defer s.Close()
	s.emit(ltWarning, time.Time{}, "facility test")
	buf := make([]byte, 512)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("<%d>", syslog.LOG_LOCAL3|syslog.LOG_WARNING)
	if got := string(buf[:n]); !strings.HasPrefix(got, want) || !strings.Contains(got, "facility test") {
		t.Errorf("syslog datagram %q, want %s... facility test", got, want)
	}
}

// Warnings about the configuration reach stderr at start even when log_type leaves them out,
// and log_type, log_timestamp and log_timestamp_format shape the lines.
func TestServeConfigLogging(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "m.conf")
	port := testutil.FreePort(t)
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlog_type debug\nconnection bridge1\naddress 10.0.0.1\ntopic # both\n", port))
	s := startServe(t, "mqtt", "serve", "-c", conf)
	waitAccepting(t, "127.0.0.1:"+strconv.Itoa(port))
	if !strings.Contains(s.log.String(), "Warning: "+conf+":4: connection \"bridge1\": bridges are not supported yet") {
		t.Errorf("the ignored bridge is not reported on stderr:\n%s", s.log)
	}
	if strings.Contains(s.log.String(), " running") {
		t.Errorf("log_type debug logs information lines:\n%s", s.log)
	}

	// log_timestamp false: no "SECONDS: " prefix; log_timestamp_format: the given layout.
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nlog_timestamp false\n", testutil.FreePort(t)))
	s = serveConf(t, conf)
	if !regexp.MustCompile(`(?m)^mqtt version \S+ running$`).MatchString(s.log.String()) {
		t.Errorf("log_timestamp false:\n%s", s.log)
	}
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nlog_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S\n", testutil.FreePort(t)))
	s = serveConf(t, conf)
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: mqtt version \S+ running$`).MatchString(s.log.String()) {
		t.Errorf("log_timestamp_format:\n%s", s.log)
	}
}

// Invoked as mosquitto, the broker says what Mosquitto says at start and stop, and
// $SYS/broker/version names it so; the shapes are those of mosquitto 2.0.11's log.
func TestServeAsMosquittoBanner(t *testing.T) {
	dir := t.TempDir()
	port, ws := testutil.FreePort(t), testutil.FreePort(t)
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlistener %d\nprotocol websockets\n", port, ws))
	s := serveArgs(t, "mosquitto", "-c", conf)
	log := s.log.String()
	for _, want := range []string{
		`(?m)^\d+: mosquitto version \S+ starting$`,
		`(?m)^\d+: Config loaded from ` + regexp.QuoteMeta(conf) + `\.$`,
		`(?m)^\d+: Opening ipv4 listen socket on port ` + strconv.Itoa(port) + `\.$`,
		`(?m)^\d+: Opening websockets listen socket on port ` + strconv.Itoa(ws) + `\.$`,
		`(?m)^\d+: mosquitto version \S+ running$`,
	} {
		if !regexp.MustCompile(want).MatchString(log) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	c := testutil.ConnectRaw(t, "127.0.0.1:"+strconv.Itoa(port), packet.V311, "sys")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/broker/version"})
	if p := c.RecvPublish(); !strings.HasPrefix(string(p.Payload), "mosquitto version ") {
		t.Errorf("$SYS/broker/version = %q", p.Payload)
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	s.waitLog("mosquitto version ")
	s.waitLog(" terminating")

	// Without a configuration: Mosquitto's local only lines.
	p := testutil.FreePort(t)
	s = serveArgs(t, "mosquitto", "-p", strconv.Itoa(p))
	for _, want := range []string{"Using default config.", "Starting in local only mode.", "Opening ipv4 listen socket on port " + strconv.Itoa(p) + "."} {
		if !strings.Contains(s.log.String(), want) {
			t.Errorf("mosquitto -p: log lacks %q:\n%s", want, s.log)
		}
	}
}

// A log line cannot be split or turned into terminal control by what clients choose (client
// ids, topics, user names): control characters are written as escapes.
func TestLogEscapesControlCharacters(t *testing.T) {
	var out testutil.LockedBuffer
	h := newMosqHandler(&out, slog.LevelInfo)
	slog.New(h).Info("New client connected as evil\n1795978999: forged\x1b[2J", "client", "x\r\u009by", "tab", "a\tb")
	h.sink().Close()
	got := out.String()
	if strings.Count(got, "\n") != 1 || strings.ContainsAny(got, "\x1b\r\u009b") {
		t.Fatalf("control characters reached the log: %q", got)
	}
	if want := `New client connected as evil\n1795978999: forged\x1b[2J client=x\r\u009by tab=a` + "\tb\n"; !strings.HasSuffix(got, want) {
		t.Fatalf("got %q, want a line ending %q", got, want)
	}
	if s := "plain line é"; escapeControls(s) != s {
		t.Fatalf("escapeControls(%q) = %q", s, escapeControls(s))
	}
}

// A start that fails once the log is open says why in the log_dest file too (mosquitto
// 2.0.11 writes it nowhere there), and on stderr, where the log does not go.
func TestServeStartFailureLogged(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	logFile, conf := filepath.Join(dir, "broker.log"), filepath.Join(dir, "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nlog_dest file %s\n", busy.Addr().(*net.TCPAddr).Port, logFile))
	code, stdout, stderr := runArgs("mqtt", "serve", "-c", conf)
	b, _ := os.ReadFile(logFile)
	for what, text := range map[string]string{"log file": string(b), "stderr": stderr} {
		if !strings.Contains(text, "Error: listener ") || !strings.Contains(text, "address already in use") {
			t.Errorf("exit %d: the %s lacks the error:\n%s", code, what, text)
		}
	}
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

// With log_dest stdout a configuration warning is logged there once, not also on stderr; with
// a log that leaves warnings out it still reaches stderr.
func TestServeWarningsOnce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "m.conf")
	for _, tc := range []struct {
		extra          string
		stdout, stderr int
	}{
		{"log_dest stdout\n", 1, 0},
		{"log_dest stdout\nlog_dest stderr\n", 1, 1},
		{"log_type error\n", 0, 1},
	} {
		writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_duplicate_messages true\n%s", testutil.FreePort(t), tc.extra))
		var stdout, stderr testutil.LockedBuffer
		cmd := mqttCmd(context.Background(), "serve", "-c", conf)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Until the warning reached every destination it should (stdout and
		// stderr are written one after the other); a duplicate written by
		// then is counted once the broker exited.
		const w = "allow_duplicate_messages"
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Count(stdout.String(), w) >= tc.stdout && strings.Count(stderr.String(), w) >= tc.stderr {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if n, m := strings.Count(stdout.String(), w), strings.Count(stderr.String(), w); n != tc.stdout || m != tc.stderr {
			t.Errorf("%q: the warning %d times on stdout, %d on stderr; want %d and %d\nstdout:\n%s\nstderr:\n%s",
				tc.extra, n, m, tc.stdout, tc.stderr, stdout.String(), stderr.String())
		}
	}
}

// logrotate moves the log file away and sends SIGHUP; the broker then writes to a new file at
// the configured path, as Mosquitto does, although the logging settings did not change.
func TestServeLogFileReopenedOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "m.conf")
	logFile := filepath.Join(dir, "broker.log")
	port := testutil.FreePort(t)
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n%slog_type all\nlog_dest stderr\nlog_dest file %s\n", port, userLine(), logFile))
	s := serveConf(t, conf)
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog("Reloading config.")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Each connection logs a line; the reload is done once one reaches the new file.
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
		}
		if b, err := os.ReadFile(logFile); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP nothing was logged to a new %s; log:\n%s", logFile, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, err := os.ReadFile(logFile + ".1"); err != nil || !strings.Contains(string(b), " running") {
		t.Errorf("the moved file lost what was logged before SIGHUP: %v %q", err, b)
	}
}
