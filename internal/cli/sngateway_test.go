package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

// gatewayProc is `mqtt sn-gateway` running as a subprocess.
type gatewayProc struct {
	addr   string // its UDP address
	port   string
	stderr *testutil.LockedBuffer
	exited chan error
	stop   func() int
}

var gatewayAddrRE = regexp.MustCompile(`MQTT-SN (?:on udp|gateway socket on udp) ([^\s,]+?)\.?(?:,|$)`)

// startGatewayProc runs mqtt sn-gateway on a loopback UDP port in front of the broker at
// brokerPort, and returns once it printed its address.
func startGatewayProc(t *testing.T, brokerPort int, args ...string) *gatewayProc {
	t.Helper()
	return startSNProc(t, append([]string{"sn-gateway", "--listen", "127.0.0.1:0", "-p", fmt.Sprint(brokerPort), "-v"}, args...)...)
}

// startSNProc runs mqtt with args (sn-gateway, or serve with an MQTT-SN gateway inside) and
// returns once it printed its gateway's UDP address.
func startSNProc(t *testing.T, all ...string) *gatewayProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := mqttCmd(ctx, all...)
	g := &gatewayProc{stderr: &testutil.LockedBuffer{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(g.stderr, pw)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { g.exited <- cmd.Wait(); pw.Close() }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := gatewayAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var exitErr error
	exitedEarly := false
	select {
	case g.addr = <-found:
	case exitErr = <-g.exited:
		exitedEarly = true
	case <-time.After(20 * time.Second):
	}
	if g.addr == "" {
		cancel()
		if !exitedEarly {
			exitErr = <-g.exited
		}
		t.Fatalf("sn-gateway did not start (%v):\n%s", exitErr, g.stderr.String())
	}
	g.port = g.addr[strings.LastIndexByte(g.addr, ':')+1:]
	stopped := false
	g.stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-g.exited:
		case <-time.After(15 * time.Second):
			cancel()
			t.Fatalf("sn-gateway did not stop on SIGTERM:\n%s", g.stderr.String())
		}
		cancel()
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			return ee.ExitCode()
		}
		return 0
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("sn-gateway log:\n%s", g.stderr.String())
		}
	})
	return g
}

// pub --sn and sub --sn through mqtt sn-gateway in front of Mosquitto, watched by
// mosquitto_sub and fed by mosquitto_pub: QoS -1, 0, 1 and 2, registered, short and
// predefined topics.
func TestSNGatewayWithPubSub(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	mosqPub := testutil.RequireTool(t, "mosquitto_pub")
	m := startBroker(t)
	dir := t.TempDir()
	pre := filepath.Join(dir, "predefined.conf")
	if err := os.WriteFile(pre, []byte("# predefined topics\n*, sensors/predefined, 12\nsnsub, sensors/mine, 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayProc(t, m.Port, "--predefined", pre, "--advertise-interval", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Up: pub --sn, watched by mosquitto_sub.
	watch := startCapture(t, exec.CommandContext(ctx, mosqSub, "-p", fmt.Sprint(m.Port), "-i", "watcher", "-t", "sensors/#", "-t", "ab", "-v", "-C", "6", "-q", "2"))
	waitSubscribed(t, m, "watcher")
	for _, args := range [][]string{
		{"-t", "sensors/reg", "-m", "q0"},
		{"-t", "sensors/reg", "-m", "q1", "-q", "1"},
		{"-t", "sensors/reg", "-m", "q2", "-q", "2", "-i", "snpub-2", "-k", "30"},
		{"--topic-id", "12", "-m", "predefined", "-q", "1"},
		{"--short", "-t", "ab", "-m", "minus one", "-q", "-1"},
		{"--topic-id", "12", "-m", "predefined minus one", "-q", "-1"},
	} {
		r := runCmd(t, mqttCmd(ctx, append([]string{"pub", "--sn", "-p", gw.port}, args...)...), nil)
		if r.code != 0 {
			t.Fatalf("pub --sn %v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	_, out := watch.wait(t)
	// Six publishers: their messages may arrive in any order.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	sort.Strings(lines)
	want := []string{"ab minus one", "sensors/predefined predefined", "sensors/predefined predefined minus one",
		"sensors/reg q0", "sensors/reg q1", "sensors/reg q2"}
	if !slices.Equal(lines, want) {
		t.Fatalf("mosquitto_sub printed %q, want %q", lines, want)
	}

	// Down: sub --sn, fed by mosquitto_pub; a wildcard (the gateway registers each topic),
	// a short name and a predefined id of this client.
	sub := mqttCmd(ctx, "sub", "--sn", "-p", gw.port, "-i", "snsub", "-t", "down/#", "-t", "dn", "--short",
		"-q", "1", "-v", "-C", "4")
	// --short applies to every -t: "down/#" is refused.
	if r := runCmd(t, sub, nil); r.code == 0 || !strings.Contains(string(r.stderr), "two characters") {
		t.Fatalf("--short with a long topic: exit %d, %s", r.code, r.stderr)
	}
	sub = mqttCmd(ctx, "sub", "--sn", "-p", gw.port, "-i", "snsub", "-t", "down/#", "--topic-id", "3", "-q", "1", "-v", "-C", "4")
	subOut := startCapture(t, sub)
	waitSubscribed(t, m, "snsub")
	waitLogCount(t, m, "Received SUBSCRIBE from snsub\n", 2)
	for _, args := range [][]string{
		{"-t", "down/a", "-m", "A", "-q", "1"},
		{"-t", "down/b/c", "-m", "BC", "-q", "2"},
		{"-t", "sensors/mine", "-m", "mine", "-q", "1"},
		{"-t", "down/a", "-m", "A again"},
	} {
		r := runCmd(t, exec.CommandContext(ctx, mosqPub, append([]string{"-p", fmt.Sprint(m.Port)}, args...)...), nil)
		if r.code != 0 {
			t.Fatalf("mosquitto_pub %v: %s", args, r.stderr)
		}
	}
	code, got := subOut.wait(t)
	if code != 0 {
		t.Fatalf("sub --sn exit %d: %s", code, got)
	}
	// The predefined id has no name on the client's side: it prints as the id.
	if want := "down/a A\ndown/b/c BC\n3 mine\ndown/a A again\n"; got != want {
		t.Fatalf("sub --sn printed %q, want %q", got, want)
	}
	if code := gw.stop(); code != 0 {
		t.Fatalf("sn-gateway exit %d after SIGTERM:\n%s", code, gw.stderr.String())
	}
	for _, line := range []string{"MQTT-SN client connected client=snpub-2", "MQTT-SN client disconnected client=snsub"} {
		if !strings.Contains(gw.stderr.String(), line) {
			t.Errorf("the gateway's -v log lacks %q:\n%s", line, gw.stderr.String())
		}
	}
}

// waitLogCount waits until the broker logged line n times.
func waitLogCount(t *testing.T, m *testutil.Mosquitto, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(m.Log(), line) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q logged fewer than %d times:\n%s", line, n, m.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Usage errors name the flag (or the file and line) and exit 1.
func TestSNBadFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("*,a,1\n*,b,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"sn-gateway", "-k", "5"}, "-k/--keepalive does not apply to sn-gateway"},
		{[]string{"sn-gateway", "--will-topic", "x"}, "--will-topic does not apply to sn-gateway"},
		{[]string{"sn-gateway", "--gateway-id", "256"}, "invalid --gateway-id 256"},
		{[]string{"sn-gateway", "--advertise-interval", "70000"}, "invalid --advertise-interval 70000"},
		{[]string{"sn-gateway", "--advertise-interval", "0", "--advertise-to", "1.2.3.4:5"}, "--advertise-to needs"},
		{[]string{"sn-gateway", "--advertise-to", "nowhere"}, "invalid --advertise-to"},
		{[]string{"sn-gateway", "--listen", "x:y"}, "invalid --listen"},
		{[]string{"sn-gateway", "--retry-interval", "0"}, "invalid --retry-interval 0"},
		{[]string{"sn-gateway", "--predefined", bad}, bad + ":2: topic id 1 of client * is already \"a\" (line 1)"},
		{[]string{"sn-gateway", "--predefined", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"sn-gateway", "extra"}, "unexpected argument"},
		{[]string{"sn-gateway", "--embedded", "--cafile", "ca.pem"}, "--cafile cannot be used with --embedded"},
		{[]string{"sn-gateway", "--embedded", "-u", "me"}, "-u/--username cannot be used with --embedded"},
		{[]string{"serve", "--sn-listen", "x:y"}, "invalid --sn-listen \"x:y\""},
		{[]string{"serve", "--sn-listen", "70000"}, "the port must be between 0 and 65535"},
		{[]string{"serve", "-c", bad, "--sn-listen", "1884"}, "--sn-listen cannot be combined with -c"},
		{[]string{"bench", "pub", "--sn", "--inflight", "5"}, "--inflight does not apply with --sn"},
		{[]string{"bench", "sub", "--sn"}, "subscribers stay MQTT"},
		{[]string{"bench", "pub", "--sn-gateway", "h:1"}, "--sn-gateway needs --sn"},
		{[]string{"bench", "pub", "--sn", "--sn-gateway", "nohost"}, "invalid --sn-gateway"},
		{[]string{"pub", "--short", "-t", "ab", "-m", "x"}, "--short needs --sn"},
		{[]string{"sub", "--topic-id", "3"}, "--topic-id needs --sn"},
		{[]string{"pub", "-q", "-1", "-t", "a", "-m", "x"}, "Invalid QoS given: -1"},
		{[]string{"pub", "--sn", "-q", "-1", "-t", "a/b", "-m", "x"}, "QoS -1 needs --topic-id or --short"},
		{[]string{"pub", "--sn", "--short", "-t", "abc", "-m", "x"}, "exactly two characters"},
		{[]string{"pub", "--sn", "--topic-id", "0", "-m", "x"}, "invalid --topic-id 0"},
		{[]string{"pub", "--sn", "--topic-id", "3", "--short", "-t", "ab", "-m", "x"}, "cannot be combined"},
		{[]string{"pub", "--sn", "-t", "a/+", "-m", "x"}, "Invalid publish topic"},
		{[]string{"pub", "--sn", "-L", "mqtt://h/t", "-m", "x"}, "-L/--url cannot be used with --sn"},
		{[]string{"pub", "--sn", "-V", "5", "-t", "a", "-m", "x"}, "-V/--protocol-version cannot be used with --sn"},
		{[]string{"pub", "--sn", "--cafile", "x", "-t", "a", "-m", "x"}, "--cafile cannot be used with --sn"},
		{[]string{"sub", "--sn", "-q", "-1", "-t", "a"}, "QoS -1 is for publishing only"},
		{[]string{"sub", "--sn", "-t", "a", "--remove-retained"}, "--remove-retained cannot be used with --sn"},
		{[]string{"sub", "--sn"}, "You must specify a topic"},
	} {
		code, out, errOut := runArgs(append([]string{"mqtt"}, c.argv...)...)
		wantCode := 1
		if c.argv[0] == "serve" {
			wantCode = 3 // serve's usage errors exit 3, as mosquitto's
		}
		if code != wantCode || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %d and %q", c.argv, code, errOut, wantCode, c.want)
		}
		if out != "" {
			t.Errorf("%v: wrote to stdout: %q", c.argv, out)
		}
		noStackTrace(t, errOut)
	}
}

// pub --sn -q -1 sends without a connection: nothing has to answer.
func TestPubSNNoGateway(t *testing.T) {
	port := testutil.FreePort(t) // a TCP port number, most likely free for UDP too
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := runCmd(t, mqttCmd(ctx, "pub", "--sn", "-p", fmt.Sprint(port), "-m", "x", "-q", "-1", "--short", "-t", "ab"), nil)
	if r.code != 0 {
		t.Fatalf("QoS -1 needs no gateway to answer: exit %d %s", r.code, r.stderr)
	}
}

// capture is a started subprocess whose output is kept.
type capture struct {
	out    testutil.LockedBuffer
	errOut testutil.LockedBuffer
	done   chan struct{}
	err    error // after done
}

func startCapture(t *testing.T, cmd *exec.Cmd) *capture {
	t.Helper()
	c := &capture{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &c.out, &c.errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait returns the exit code and standard output once the process ends.
func (c *capture) wait(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running after 30s; stdout %q stderr %q", c.out.String(), c.errOut.String())
	}
	code := 0
	if ee, ok := c.err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if c.err != nil {
		t.Fatal(c.err)
	}
	return code, c.out.String()
}

// freeUDPPort is a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// The embedded gateway, three ways: mqtt sn-gateway --embedded, mqtt serve --sn-listen, and
// a "protocol mqttsn" listener in serve's configuration. Up: pub --sn publishes retained
// messages that mosquitto_sub reads from the broker; down: sub --sn gets what
// mosquitto_pub publishes.
func TestSNEmbedded(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	mosqPub := testutil.RequireTool(t, "mosquitto_pub")
	for _, mode := range []string{"sn-gateway --embedded", "serve --sn-listen", "serve -c"} {
		t.Run(mode, func(t *testing.T) {
			port := testutil.FreePort(t)
			var gw *gatewayProc
			switch mode {
			case "sn-gateway --embedded":
				gw = startSNProc(t, "sn-gateway", "--embedded", "-h", "127.0.0.1", "-p", fmt.Sprint(port),
					"--listen", "127.0.0.1:0", "--advertise-interval", "0", "-v")
			case "serve --sn-listen":
				gw = startSNProc(t, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--sn-listen", "127.0.0.1:0")
			case "serve -c":
				conf := filepath.Join(t.TempDir(), "mqtt.conf")
				text := fmt.Sprintf("allow_anonymous true\nlistener %d 127.0.0.1\nlistener %d 127.0.0.1\nprotocol mqttsn\n", port, freeUDPPort(t))
				if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				gw = startSNProc(t, "serve", "-c", conf)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for _, args := range [][]string{
				{"-t", "emb/up", "-m", "retained up", "-q", "1", "-r"},
				{"--short", "-t", "eu", "-m", "short up", "-q", "2", "-r"},
			} {
				if r := runCmd(t, mqttCmd(ctx, append([]string{"pub", "--sn", "-p", gw.port}, args...)...), nil); r.code != 0 {
					t.Fatalf("pub --sn %v: exit %d %s", args, r.code, r.stderr)
				}
			}
			r := runCmd(t, exec.CommandContext(ctx, mosqSub, "-p", fmt.Sprint(port), "-t", "emb/up", "-t", "eu", "-v", "-C", "2", "-W", "10"), nil)
			got := strings.Split(strings.TrimSpace(string(r.stdout)), "\n")
			sort.Strings(got)
			if want := []string{"emb/up retained up", "eu short up"}; r.code != 0 || !slices.Equal(got, want) {
				t.Fatalf("mosquitto_sub: exit %d, %q, want %q (%s)", r.code, got, want, r.stderr)
			}

			sub := startCapture(t, mqttCmd(ctx, "sub", "--sn", "-p", gw.port, "-d", "-t", "emb/down/#", "-q", "1", "-v", "-C", "1"))
			waitOutput(t, &sub.out, "Subscribed (mid")
			if r := runCmd(t, exec.CommandContext(ctx, mosqPub, "-p", fmt.Sprint(port), "-t", "emb/down/1", "-m", "down", "-q", "1"), nil); r.code != 0 {
				t.Fatalf("mosquitto_pub: %s", r.stderr)
			}
			code, out := sub.wait(t)
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				if l != "" && !strings.HasPrefix(l, "Client ") && !strings.HasPrefix(l, "Subscribed") {
					lines = append(lines, l)
				}
			}
			if code != 0 || !slices.Equal(lines, []string{"emb/down/1 down"}) {
				t.Fatalf("sub --sn: exit %d, %q", code, out)
			}
			if code := gw.stop(); code != 0 {
				t.Fatalf("exit %d after SIGTERM:\n%s", code, gw.stderr.String())
			}
		})
	}
}

// waitOutput waits until a subprocess wrote want.
func waitOutput(t *testing.T, b *testutil.LockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
