package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
)

// served is `mqtt serve -c FILE` running as a subprocess.
type served struct {
	t   *testing.T
	cmd *exec.Cmd
	log *testutil.LockedBuffer // stderr: the broker's log (log_dest stderr)
}

func serveConf(t *testing.T, conf string, extra ...string) *served {
	t.Helper()
	return serveArgs(t, "mqtt", append([]string{"serve", "-c", conf}, extra...)...)
}

// serveArgs runs the binary as prog with args (a broker) until the test ends, once it has
// logged that it runs.
func serveArgs(t *testing.T, prog string, args ...string) *served {
	t.Helper()
	s := startServe(t, prog, args...)
	s.waitLog(" running\n") // "version X running", not "clients running on this machine"
	return s
}

// startServe starts the binary as prog with args and stops it when the test ends.
func startServe(t *testing.T, prog string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	if prog == "mosquitto" && args[0] == "serve" {
		args = args[1:]
	}
	s := &served{t: t, cmd: progCmd(ctx, prog, args...), log: &testutil.LockedBuffer{}}
	s.cmd.Stderr, s.cmd.Stdout = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("mqtt serve did not stop on SIGTERM; log:\n%s", s.log)
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("broker log:\n%s", s.log)
		}
	})
	return s
}

// waitAccepting waits until addr accepts TCP connections.
func waitAccepting(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted a connection: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until the broker's log contains want (n-th occurrence when n > 1).
func (s *served) waitLog(want string, n ...int) {
	s.t.Helper()
	count := 1
	if len(n) > 0 {
		count = n[0]
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.log.String(), want) < count {
		if time.Now().After(deadline) {
			s.t.Fatalf("the broker never logged %q; log:\n%s", want, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tool runs an outside program (mosquitto_pub, ...) with a timeout.
func tool(t *testing.T, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, path, args...), nil)
}

// bgTool starts an outside program and returns a function that waits for it.
func bgTool(t *testing.T, path string, args ...string) func() result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb testutil.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var res result
	wait := func() result {
		once.Do(func() {
			err := cmd.Wait()
			cancel()
			res = result{stdout: []byte(out.String()), stderr: []byte(errb.String())}
			if ee, ok := err.(*exec.ExitError); ok {
				res.code = ee.ExitCode()
			}
		})
		return res
	}
	t.Cleanup(func() { wait() })
	return wait
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const serveACL = `# anonymous clients: nothing
user alice
topic read #
topic deny sensors/secret
user bob
topic readwrite sensors/#
topic readwrite public/#
pattern readwrite home/%u/#
user client1
topic readwrite dev/#
`

// One operator-style configuration with plain, websocket, TLS and unix listeners at once,
// a password file made by mosquitto_passwd and by our passwd ($7$ and $6$), and an ACL;
// driven by mosquitto_pub/mosquitto_sub and by paho over websockets.
func TestServeConfigEndToEnd(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	sub := testutil.RequireTool(t, "mosquitto_sub")
	mpasswd := testutil.RequireTool(t, "mosquitto_passwd")

	dir := t.TempDir()
	ca := testcerts.New(t, "ca")
	wrong := testcerts.New(t, "wrong")
	sockDir, err := os.MkdirTemp("", "mqs") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "m.sock")
	pw, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	logFile, pidFile := filepath.Join(dir, "broker.log"), filepath.Join(dir, "broker.pid")

	if r := tool(t, mpasswd, "-c", "-b", pw, "alice", "secret"); r.code != 0 {
		t.Fatalf("mosquitto_passwd: %s", r.stderr)
	}
	for _, args := range [][]string{{"-b", pw, "bob", "hunter2"}, {"-H", "sha512", "-b", pw, "carol", "pass3"}} {
		if r := runCmd(t, mqttCmd(context.Background(), append([]string{"passwd"}, args...)...), nil); r.code != 0 {
			t.Fatalf("mqtt passwd %v: %s", args, r.stderr)
		}
	}
	writeFile(t, acl, serveACL)

	plain, ws, tlsPort, certPort := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	// user root: the test's files are root's and 0600, and SIGHUP below reads them again;
	// started as root without it the broker would drop to mqtt or mosquitto, as Mosquitto.
	writeFile(t, conf, fmt.Sprintf(`# operator-style configuration
user root
password_file %s
acl_file %s
log_dest stderr
log_dest file %s
connection_messages false
pid_file %s
# Mosquitto's default log_type, and subscriptions (the test waits for them)
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe

listener %d 127.0.0.1

listener %d 127.0.0.1
protocol websockets

listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s

listener 0 %s

listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
`, pw, acl, logFile, pidFile, plain, ws, tlsPort, ca.CAFile, ca.ServerCert, ca.ServerKey, sock,
		certPort, ca.CAFile, ca.ServerCert, ca.ServerKey))
	s := serveConf(t, conf)
	p := strconv.Itoa(plain)

	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(s.cmd.Process.Pid) {
		t.Errorf("pid_file: %q, %v; want %d", b, err, s.cmd.Process.Pid)
	}

	t.Run("passwords", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want int
		}{
			{"mosquitto_passwd $7$", []string{"-u", "alice", "-P", "secret"}, 0},
			{"mqtt passwd $7$", []string{"-u", "bob", "-P", "hunter2"}, 0},
			{"mqtt passwd $6$", []string{"-u", "carol", "-P", "pass3"}, 0},
			{"wrong password 3.1.1", []string{"-u", "alice", "-P", "nope"}, 4},          // CONNACK rc 4
			{"wrong password 5", []string{"-u", "alice", "-P", "nope", "-V", "5"}, 134}, // 0x86
			{"unknown user", []string{"-u", "mallory", "-P", "secret"}, 4},
			{"anonymous 3.1.1", nil, 5},               // not authorized
			{"anonymous 5", []string{"-V", "5"}, 135}, // 0x87
		} {
			args := append([]string{"-h", "127.0.0.1", "-p", p, "-t", "home/alice/x", "-m", "x"}, tc.args...)
			if r := tool(t, pub, args...); r.code != tc.want {
				t.Errorf("%s: exit %d, want %d (%s)", tc.name, r.code, tc.want, r.stderr)
			}
		}
		log := s.log.String()
		if strings.Contains(log, "nope") {
			t.Error("a password appears in the log")
		}
		// connection_messages false: refused logins are not logged either, as in Mosquitto.
		if strings.Contains(log, "not authorised") {
			t.Error("connection_messages false: a refused login is logged")
		}
	})

	t.Run("transports", func(t *testing.T) {
		bob := []string{"-u", "bob", "-P", "hunter2", "-t", "sensors/t", "-m", "x", "-q", "1"}
		if r := tool(t, pub, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(tlsPort), "--cafile", ca.CAFile}, bob...)...); r.code != 0 {
			t.Errorf("TLS with the right CA: exit %d %s", r.code, r.stderr)
		}
		if r := tool(t, pub, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(tlsPort), "--cafile", wrong.CAFile}, bob...)...); r.code == 0 {
			t.Error("TLS with the wrong CA succeeded")
		}
		if r := tool(t, pub, append([]string{"--unix", sock}, bob...)...); r.code != 0 {
			t.Errorf("unix socket: exit %d %s", r.code, r.stderr)
		}
		if r := tool(t, pub, "--unix", sock, "-t", "x", "-m", "x"); r.code != 5 {
			t.Errorf("anonymous over the unix socket: exit %d, want 5", r.code)
		}

		// use_identity_as_username: the client certificate's CN (client1) is the user for the ACL.
		cert := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(certPort), "--cafile", ca.CAFile, "--cert", ca.ClientCert, "--key", ca.ClientKey, "-q", "1", "-V", "5", "-m", "x"}
		if r := tool(t, pub, append(cert, "-t", "dev/1")...); r.code != 0 || len(r.stderr) != 0 {
			t.Errorf("client certificate, allowed topic: exit %d %s", r.code, r.stderr)
		}
		if r := tool(t, pub, append(cert, "-t", "sensors/1")...); !strings.Contains(string(r.stderr), "Not authorized") {
			t.Errorf("client certificate, topic of another user: exit %d %s", r.code, r.stderr)
		}
		if r := tool(t, pub, "-h", "127.0.0.1", "-p", strconv.Itoa(certPort), "--cafile", ca.CAFile, "-t", "dev/1", "-m", "x"); r.code == 0 {
			t.Error("no client certificate on a require_certificate listener: accepted")
		}

		// Websockets with paho: bob publishes to himself through the ACL.
		opts := paho.NewClientOptions().AddBroker("ws://127.0.0.1:" + strconv.Itoa(ws) + "/mqtt").
			SetClientID("ws-bob").SetUsername("bob").SetPassword("hunter2").SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("websocket connect: %v", tok.Error())
		}
		defer c.Disconnect(100)
		got := make(chan string, 4)
		if tok := c.Subscribe("public/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() + " " + string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		if tok := c.Publish("public/ws", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		select {
		case m := <-got:
			if m != "public/ws hello" {
				t.Fatalf("websocket got %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing came back over websockets")
		}
		bad := paho.NewClient(paho.NewClientOptions().AddBroker("ws://127.0.0.1:" + strconv.Itoa(ws) + "/mqtt").
			SetClientID("ws-bad").SetUsername("bob").SetPassword("wrong").SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
		if tok := bad.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			bad.Disconnect(0)
			t.Error("a wrong password was accepted over websockets")
		}
	})

	t.Run("acl", func(t *testing.T) {
		// alice reads # except sensors/secret: her '#' subscription must not leak it.
		wait := bgTool(t, sub, "-h", "127.0.0.1", "-p", p, "-u", "alice", "-P", "secret", "-i", "alice-all", "-t", "#", "-v", "-C", "3", "-q", "1")
		s.waitLog("alice-all 1 #")
		steps := []struct {
			user, pass, topic, msg string
		}{
			{"bob", "hunter2", "sensors/secret", "leak"},   // alice may not read it
			{"bob", "hunter2", "home/alice/x", "forged"},   // bob may not write there (%u)
			{"alice", "secret", "home/alice/lamp", "on"},   // pattern home/%u/#
			{"bob", "hunter2", "sensors/temp", "21"},       //
			{"bob", "hunter2", "public/end", "done"},       //
			{"alice", "secret", "sensors/temp", "written"}, // alice has read only: dropped
		}
		for _, st := range steps {
			if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", st.user, "-P", st.pass, "-t", st.topic, "-m", st.msg, "-q", "1"); r.code != 0 {
				t.Fatalf("publish %v: exit %d %s", st, r.code, r.stderr)
			}
		}
		r := wait()
		if got, want := string(r.stdout), "home/alice/lamp on\nsensors/temp 21\npublic/end done\n"; got != want {
			t.Fatalf("alice's '#' got:\n%s\nwant:\n%s", got, want)
		}
		// A v5 publish the ACL denies gets PUBACK 0x87; a denied subscription SUBACK 0x87 / 0x80.
		if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", "alice", "-P", "secret", "-t", "sensors/x", "-m", "x", "-q", "1", "-V", "5"); !strings.Contains(string(r.stderr), "Not authorized") {
			t.Errorf("v5 denied publish: %s", r.stderr)
		}
		for v, code := range map[string]string{"5": "135", "311": "128"} {
			r := tool(t, sub, "-h", "127.0.0.1", "-p", p, "-u", "bob", "-P", "hunter2", "-t", "private/#", "-V", v, "-d", "-W", "2")
			if out := string(r.stdout) + string(r.stderr); !strings.Contains(out, "Subscribed (mid: 1): "+code) {
				t.Errorf("-V %s denied subscription: want SUBACK %s, got:\n%s", v, code, out)
			}
		}
	})

	t.Run("sighup", func(t *testing.T) {
		// An open subscription sees the new ACL after SIGHUP: the connection is kept.
		wait := bgTool(t, sub, "-h", "127.0.0.1", "-p", p, "-u", "alice", "-P", "secret", "-i", "alice-hup", "-t", "sensors/#", "-v", "-C", "1", "-q", "1")
		s.waitLog("alice-hup 1 sensors/#")
		publish := func(msg string) {
			t.Helper()
			if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", "bob", "-P", "hunter2", "-t", "sensors/secret", "-m", msg, "-q", "1"); r.code != 0 {
				t.Fatalf("publish: exit %d %s", r.code, r.stderr)
			}
		}
		publish("before")
		writeFile(t, acl, strings.Replace(serveACL, "topic deny sensors/secret\n", "", 1))
		if r := tool(t, mpasswd, "-b", pw, "carol", "changed"); r.code != 0 {
			t.Fatal(string(r.stderr))
		}
		// New server certificate and key from another CA, in the files the listener names.
		ca2 := testcerts.New(t, "ca2")
		for _, f := range [][2]string{{ca2.ServerCert, ca.ServerCert}, {ca2.ServerKey, ca.ServerKey}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, f[1], string(b))
		}
		n := strings.Count(s.log.String(), "Reloading config.")
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("Reloading config.", n+1)
		publish("after")
		if got := string(wait().stdout); got != "sensors/secret after\n" {
			t.Fatalf("after SIGHUP the open subscription got %q, want only the message published after the reload", got)
		}
		tlsArgs := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(tlsPort), "-u", "bob", "-P", "hunter2", "-t", "public/x", "-m", "x"}
		if r := tool(t, pub, append(tlsArgs, "--cafile", ca2.CAFile)...); r.code != 0 {
			t.Errorf("TLS after SIGHUP with the new certificate's CA: exit %d %s", r.code, r.stderr)
		}
		if r := tool(t, pub, append(tlsArgs, "--cafile", ca.CAFile)...); r.code == 0 {
			t.Error("TLS after SIGHUP still serves the old certificate")
		}
		if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", "carol", "-P", "changed", "-t", "x", "-m", "x"); r.code != 0 {
			t.Errorf("new password after SIGHUP: exit %d", r.code)
		}
		if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", "carol", "-P", "pass3", "-t", "x", "-m", "x"); r.code != 4 {
			t.Errorf("old password after SIGHUP: exit %d, want 4", r.code)
		}

		// A reload that fails keeps the old rules and says FILE:LINE.
		writeFile(t, acl, "user bob\ntopic readwrite public/#\ntopic sometimes x\n")
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog(acl + ":3:")
		if !strings.Contains(s.log.String(), "keeping the previous rules") {
			t.Error("a failed reload does not say the previous rules stay")
		}
		publish("still allowed") // the old ACL still lets bob write sensors/#

		// The configuration itself is read again: allow_anonymous and connection_messages
		// change without a restart (a line added on top shifts every line number).
		writeFile(t, acl, serveACL)
		text, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, conf, "allow_anonymous true\n"+strings.Replace(string(text), "connection_messages false", "connection_messages true", 1))
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("Reloading config.", n+3)
		// The reload is done once a message logged after it appears; poll with anonymous publishes.
		deadline := time.Now().Add(10 * time.Second)
		for tool(t, pub, "-h", "127.0.0.1", "-p", p, "-t", "x", "-m", "x").code != 0 {
			if time.Now().After(deadline) {
				t.Fatal("allow_anonymous true not applied by SIGHUP")
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.waitLog("New client connected")
		if strings.Contains(s.log.String(), "need a restart") || strings.Contains(s.log.String(), "needs a restart") {
			t.Errorf("a reload without listener or limit changes asked for a restart")
		}
	})

	t.Run("log", func(t *testing.T) {
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "running") || !strings.Contains(string(b), "alice-all 1 #") {
			t.Errorf("log_dest file lacks lines:\n%s", b)
		}
		before, _, _ := strings.Cut(string(b), "Reloading config.") // the sighup step turns them on
		if strings.Contains(before, "New client connected") {
			t.Error("connection_messages false still logs connections")
		}
	})
}

// Configurations that cannot be used are refused with FILE:LINE before anything listens, with
// mosquitto 2.0.11's exit status, checked against mosquitto itself where it is installed: 3 for
// a bad line, 13 for a password or ACL file that cannot be opened, 1 for a certificate that
// does not load or a port in use. A password file with bad lines is not refused (see
// TestServePasswordFileBadLines).
func TestServeConfigRefused(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free := testutil.FreePort(t)
	certs := testcerts.New(t, "refused")
	other := testcerts.New(t, "other")
	writeFile(t, filepath.Join(dir, "badacl"), "user u\ntopic sometimes x\n")
	user := ""
	if os.Geteuid() == 0 {
		user = "user root\n" // mosquitto would drop to mosquitto, which cannot read the test's files
	}
	cases := []struct {
		name, text string
		code       int
		want       []string
	}{
		{"unknown directive", "listener %d\nfoo bar\n", 3, []string{"test.conf:2: unknown directive \"foo\""}},
		{"bad value", "listener %d\nmax_qos 3\n", 3, []string{"test.conf:2:", "max_qos"}},
		{"bad acl", "listener %d\nacl_file " + filepath.Join(dir, "badacl") + "\n", 3, []string{"test.conf:2: acl_file: " + filepath.Join(dir, "badacl") + ":2:"}},
		{"missing password file", "listener %d\npassword_file /nonexistent/pw\n", 13, []string{"test.conf:2: password_file:", "/nonexistent/pw"}},
		{"missing acl file", "listener %d\nacl_file /nonexistent/acl\n", 13, []string{"test.conf:2: acl_file:", "/nonexistent/acl"}},
		{"missing certificate", "listener %d\ncertfile /nonexistent/c.pem\nkeyfile " + certs.ServerKey + "\n", 1, []string{"test.conf:2:", "/nonexistent/c.pem"}},
		{"key of another certificate", "listener %d\ncertfile " + certs.ServerCert + "\nkeyfile " + other.ServerKey + "\n", 1, []string{"test.conf:1:", "private key does not match"}},
		{"port in use", "listener %d 127.0.0.1\nlistener " + strconv.Itoa(busyPort) + " 127.0.0.1\n", 1, []string{"listener " + strconv.Itoa(busyPort) + " 127.0.0.1 (", "test.conf:2)", "address already in use"}},
		// Mosquitto meets these when it opens the listeners: exit 1, not 3.
		{"unknown tls_version", "listener %d\ncertfile " + certs.ServerCert + "\nkeyfile " + certs.ServerKey + "\ntls_version tlsv9\n", 1, []string{"test.conf:4: tls_version", "tlsv9"}},
		{"listener twice", "listener %d 127.0.0.1\nlistener " + strconv.Itoa(free) + " 127.0.0.1\n", 1, []string{"test.conf:2: listener", "already defined at"}},
		// No IP address, so a host name, which does not resolve: Mosquitto says "Error
		// creating listener: Name or service not known." when it opens it.
		{"address that does not resolve", "allow_anonymous true\nlistener %d 300.1.2.3\n", 1, []string{`test.conf:2: listener: expected an IP address or a host name that resolves, got "300.1.2.3" (lookup 300.1.2.3`}},
	}
	mosquitto := testutil.LookTool("mosquitto")
	if mosquitto == "" && os.Getenv(testutil.RequireInteropEnv) != "" {
		t.Fatal("mosquitto not found and " + testutil.RequireInteropEnv + " is set")
	}
	for _, tc := range cases {
		conf := filepath.Join(dir, "test.conf")
		writeFile(t, conf, fmt.Sprintf(tc.text+user, free))
		for _, extra := range [][]string{nil, {"--test-config"}} {
			if extra != nil && tc.name == "port in use" {
				continue // --test-config opens nothing
			}
			code, _, stderr := runArgs(append([]string{"mqtt", "serve", "-c", conf}, extra...)...)
			noStackTrace(t, stderr)
			if code != tc.code {
				t.Errorf("%s %v: exit %d, want %d; stderr:\n%s", tc.name, extra, code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ReplaceAll(stderr, conf, "test.conf"), w) {
					t.Errorf("%s %v: stderr lacks %q:\n%s", tc.name, extra, w, stderr)
				}
			}
		}
		if mosquitto != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			r := runCmd(t, exec.CommandContext(ctx, mosquitto, "-c", conf), nil)
			cancel()
			if r.code != tc.code {
				t.Errorf("%s: mosquitto exits %d, we %d; its output:\n%s%s", tc.name, r.code, tc.code, r.stdout, r.stderr)
			}
		}
		// Nothing kept listening on the free port.
		if ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(free)); err != nil {
			t.Errorf("%s: port %d still in use after the refusal: %v", tc.name, free, err)
		} else {
			ln.Close()
		}
	}

	// A bad line that Mosquitto lets through (it reads any negative max_connections as
	// unlimited): exit 3 with FILE:LINE and what is expected.
	conf := filepath.Join(dir, "test.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d\nmax_connections -2\n", free))
	for _, extra := range [][]string{nil, {"--test-config"}} {
		code, _, stderr := runArgs(append([]string{"mqtt", "serve", "-c", conf}, extra...)...)
		want := "Error: " + conf + `:2: max_connections: expected -1 (unlimited) or a number of connections from 1 to 2147483647, got "-2"`
		if code != 3 || !strings.Contains(stderr, want) {
			t.Errorf("max_connections -2 %v: exit %d, stderr:\n%s\nwant 3 and %s", extra, code, stderr, want)
		}
	}

	// A listener's problem names its line once: "FILE:1: listener PORT ADDRESS: ...".
	conf = filepath.Join(dir, "certnokey.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\n", free, certs.ServerCert))
	for _, extra := range [][]string{nil, {"--test-config"}} {
		code, _, stderr := runArgs(append([]string{"mqtt", "serve", "-c", conf}, extra...)...)
		want := fmt.Sprintf("Error: %s:1: listener %d 127.0.0.1: certfile needs keyfile\n", conf, free)
		if code != 3 || !strings.Contains(stderr, want) || strings.Count(stderr, conf) != 1 {
			t.Errorf("certfile without keyfile %v: exit %d, stderr:\n%s\nwant 3 and %s", extra, code, stderr, want)
		}
	}

	conf = filepath.Join(dir, "good.conf")
	writeFile(t, conf, "listener 1883\nallow_anonymous true\nallow_duplicate_messages true\n")
	code, stdout, stderr := runArgs("mqtt", "serve", "--test-config", "-c", conf)
	if code != 0 || !strings.Contains(stdout, "configuration OK") || !strings.Contains(stderr, "allow_duplicate_messages") {
		t.Errorf("--test-config on a good file: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// A bad command line is exit status 3, as for mosquitto.
	if code, _, stderr := runArgs("mqtt", "serve", "--test-config"); code != 3 || !strings.Contains(stderr, "-c") {
		t.Errorf("--test-config without -c: exit %d %s", code, stderr)
	}
	if code, _, stderr := runArgs("mqtt", "serve", "-c", conf, "--listen", ":1883"); code != 3 || !strings.Contains(stderr, "listener") {
		t.Errorf("--listen with -c: exit %d %s", code, stderr)
	}
	code, _, stderr = runArgs("mqtt", "serve", "-c", filepath.Join(dir, "missing.conf"))
	if code != 3 || !strings.Contains(stderr, "missing.conf") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
}

// -p with a configuration that defines no listener: local only mode on that port, anonymous
// allowed (Mosquitto 2). The run also shows the mosquitto link name taking -c.
func TestServeConfigCommandLinePort(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	conf := filepath.Join(t.TempDir(), "m.conf")
	writeFile(t, conf, "sys_interval 5\n") // no listener, nothing that creates the default one
	port := testutil.FreePort(t)
	serveConf(t, conf, "-p", strconv.Itoa(port))
	if r := tool(t, pub, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "x", "-m", "x"); r.code != 0 {
		t.Fatalf("anonymous publish on the -p port: exit %d %s", r.code, r.stderr)
	}
}

// user: started as root, the broker switches to that user once its listeners and files are
// open (as Mosquitto), and keeps serving.
func TestServeConfigDropsPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	pub := testutil.RequireTool(t, "mosquitto_pub")
	conf := filepath.Join(t.TempDir(), "m.conf")
	port := testutil.FreePort(t)
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nuser nobody\n", port))
	s := serveConf(t, conf)
	s.waitLog("Dropped privileges to user nobody (uid 65534")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Uid:") && strings.Fields(line)[2] != "65534" {
			t.Fatalf("effective uid after dropping privileges: %q", line)
		}
	}
	if r := tool(t, pub, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "x", "-m", "x"); r.code != 0 {
		t.Fatalf("publish after dropping privileges: exit %d %s", r.code, r.stderr)
	}

	// An unknown user is an error before anything is served.
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nuser no-such-user-xyz\n", testutil.FreePort(t)))
	// (A subprocess: in-process, a successful switch would change the test's own user.)
	r := runCmd(t, mqttCmd(context.Background(), "serve", "-c", conf), nil)
	if r.code == 0 || !strings.Contains(string(r.stderr), "no-such-user-xyz") {
		t.Fatalf("unknown user: exit %d %s", r.code, r.stderr)
	}
}

// Home Assistant's template starts with "protocol mqtt" before its listener: as with
// Mosquitto 2.0, that opens no second (anonymous, every interface) listener.
func TestServeConfigEarlyDefaultValueOpensNoListener(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ha.conf")
	port := testutil.FreePort(t)
	writeFile(t, conf, fmt.Sprintf("protocol mqtt\nlistener %d 127.0.0.1\nallow_anonymous true\n", port))
	code, stdout, stderr := runArgs("mqtt", "serve", "--test-config", "-c", conf)
	if code != 0 || !strings.Contains(stdout, "configuration OK (1 listener)") || stderr != "" {
		t.Fatalf("--test-config: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	s := serveConf(t, conf, "-v")
	if n := strings.Count(s.log.String(), "Opening "); n != 1 {
		t.Errorf("%d listeners opened, want 1:\n%s", n, s.log)
	}
}

// A plugin line stops the start with FILE:LINE and Mosquitto's exit status for a plugin it
// cannot load (13), with --test-config too: the broker never runs without the authentication
// the file asks for.
func TestServeConfigPluginRefused(t *testing.T) {
	dir := t.TempDir()
	port := testutil.FreePort(t)
	for _, line := range []string{"auth_plugin /usr/lib/mosquitto-go-auth.so\nauth_opt_backends files", "plugin /usr/lib/mosquitto_dynamic_security.so\nplugin_opt_config_file /x.json"} {
		conf := filepath.Join(dir, "p.conf")
		writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\n%s\n", port, line))
		for _, extra := range [][]string{nil, {"--test-config"}} {
			code, _, stderr := runArgs(append([]string{"mqtt", "serve", "-c", conf}, extra...)...)
			name := strings.Fields(line)[0]
			if code != 13 || !strings.Contains(stderr, conf+":2: "+name+" /usr/lib/") || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("%s %v: exit %d, want 13 and one error at %s:2; stderr:\n%s", name, extra, code, conf, stderr)
			}
		}
	}
	if ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
		t.Errorf("port %d still in use after the refusal: %v", port, err)
	} else {
		ln.Close()
	}
}

// crlfile, as Mosquitto: a current list lets unrevoked clients in; an expired one refuses
// every client certificate of its CA, and both --test-config and the log say why.
func TestServeConfigCRL(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	ca := testcerts.New(t, "ca")
	good, expired := testutil.FreePort(t), testutil.FreePort(t)
	tlsLines := fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n", ca.CAFile, ca.ServerCert, ca.ServerKey)
	conf := filepath.Join(t.TempDir(), "m.conf")
	writeFile(t, conf, fmt.Sprintf("allow_anonymous true\nlistener %d 127.0.0.1\n%scrlfile %s\nlistener %d 127.0.0.1\n%scrlfile %s\n",
		good, tlsLines, ca.CRL(t), expired, tlsLines, ca.CRLAt(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))))
	code, _, stderr := runArgs("mqtt", "serve", "--test-config", "-c", conf)
	if code != 0 || !strings.Contains(stderr, "expired at") || !strings.Contains(stderr, conf+":8:") { // the second listener
		t.Errorf("--test-config: exit %d, stderr:\n%s", code, stderr)
	}
	s := serveConf(t, conf)
	args := func(port int) []string {
		return []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "--cafile", ca.CAFile, "--cert", ca.ClientCert, "--key", ca.ClientKey, "-t", "t", "-m", "x"}
	}
	if r := tool(t, pub, args(good)...); r.code != 0 {
		t.Errorf("current CRL: exit %d %s", r.code, r.stderr)
	}
	if r := tool(t, pub, args(expired)...); r.code == 0 {
		t.Error("expired CRL: the client was let in")
	}
	s.waitLog("(CRL has expired)")
}

// `serve -v` (log_type all) traces every packet in Mosquitto's words, as mosquitto -v does;
// people debug with exactly these lines.
func TestServeVerboseTracesPackets(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	conf := filepath.Join(t.TempDir(), "v.conf")
	port := testutil.FreePort(t)
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port))
	s := serveConf(t, conf, "-v")
	if r := tool(t, pub, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-i", "tracer", "-t", "home/temp", "-m", "21.5", "-q", "1"); r.code != 0 {
		t.Fatalf("mosquitto_pub: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Sending CONNACK to tracer (0, 0)",
		"Received PUBLISH from tracer (d0, q1, r0, m1, 'home/temp', ... (4 bytes))",
		"Sending PUBACK to tracer (m1, rc0)",
		"Received DISCONNECT from tracer",
	} {
		s.waitLog(want)
	}
}

// check_retain_source (true by default, as in Mosquitto): after a SIGHUP that takes bob's
// right to write cfg/#, the retained message he published there is no longer sent to new
// subscribers; with check_retain_source false it still is.
func TestServeConfigCheckRetainSource(t *testing.T) {
	pub, sub := testutil.RequireTool(t, "mosquitto_pub"), testutil.RequireTool(t, "mosquitto_sub")
	for _, check := range []string{"", "check_retain_source false\n"} {
		dir := t.TempDir()
		pw, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
		if r := runCmd(t, mqttCmd(context.Background(), "passwd", "-c", "-b", pw, "bob", "b"), nil); r.code != 0 {
			t.Fatalf("mqtt passwd: %s", r.stderr)
		}
		writeFile(t, acl, "user bob\ntopic readwrite cfg/#\n")
		port := testutil.FreePort(t)
		conf := filepath.Join(dir, "m.conf")
		writeFile(t, conf, fmt.Sprintf("user root\nlistener %d 127.0.0.1\npassword_file %s\nacl_file %s\n%s", port, pw, acl, check))
		s := serveConf(t, conf)
		p := strconv.Itoa(port)
		if r := tool(t, pub, "-h", "127.0.0.1", "-p", p, "-u", "bob", "-P", "b", "-t", "cfg/a", "-m", "retained", "-r", "-q", "1"); r.code != 0 {
			t.Fatalf("mosquitto_pub: %d %s", r.code, r.stderr)
		}
		writeFile(t, acl, "user bob\ntopic read cfg/#\n")
		n := strings.Count(s.log.String(), "Reloading config.")
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("Reloading config.", n+1)
		r := tool(t, sub, "-h", "127.0.0.1", "-p", p, "-u", "bob", "-P", "b", "-t", "cfg/#", "-W", "1", "-C", "1")
		got := strings.TrimSpace(string(r.stdout))
		if (check == "" && got != "") || (check != "" && got != "retained") {
			t.Errorf("%q: a new subscriber got %q", strings.TrimSpace(check), got)
		}
	}
}
