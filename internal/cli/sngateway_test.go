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

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/sn"
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
	if err := os.WriteFile(pre, []byte("# predefined topics\n*, sensors/predefined, 12\nsnsub, sensors/mine, 3\nsnsub, sensors/named, 4\n"), 0o644); err != nil {
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
	sub = mqttCmd(ctx, "sub", "--sn", "-p", gw.port, "-i", "snsub", "-t", "down/#", "-t", "sensors/named", "--topic-id", "3", "-q", "1", "-v", "-C", "5")
	subOut := startCapture(t, sub)
	waitSubscribed(t, m, "snsub")
	waitLogCount(t, m, "Received SUBSCRIBE from snsub\n", 3)
	for _, args := range [][]string{
		{"-t", "down/a", "-m", "A", "-q", "1"},
		{"-t", "down/b/c", "-m", "BC", "-q", "2"},
		{"-t", "sensors/mine", "-m", "mine", "-q", "1"},
		{"-t", "sensors/named", "-m", "named", "-q", "1"},
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
	// The predefined id subscribed to by id has no name on the client's side: it prints as
	// the id. The one subscribed to by name (SUBACK gave its predefined id) prints its name.
	if want := "down/a A\ndown/b/c BC\n3 mine\nsensors/named named\ndown/a A again\n"; got != want {
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
		{[]string{"pub", "--sn", "-i", strings.Repeat("x", 257), "-t", "a", "-m", "x"}, "invalid client id"},
		{[]string{"pub", "--sn", "--topic-id", "1", "-t", "a/b", "-m", "x"}, "--topic-id and -t cannot be combined"},
		{[]string{"pub", "--sn", "-c", "-t", "a", "-m", "x"}, "needs a client ID (-i/--id or -I/--id-prefix) with MQTT-SN (--sn)"},
		{[]string{"sn-gateway", "--listen", "127.0.0.1:0", "--advertise-to", "127.0.0.1:0"}, `invalid --advertise-to "127.0.0.1:0": the port must be 1 to 65535`},
		{[]string{"sn-gateway", "--listen", "127.0.0.1:0", "--advertise-to", "[::1]:1884"}, `invalid --advertise-to "[::1]:1884": the gateway listens on 127.0.0.1:0, which cannot send to an IPv6 address`},
		{[]string{"sn-gateway", "--listen", "127.0.0.1:0", "--advertise-to", "192.168.1.255:1884"}, "from which nothing off this host can be reached"},
		{[]string{"sn-gateway", "--listen", "[::1]:0", "--advertise-to", "127.0.0.1:1884"}, "cannot send to an IPv4 address"},
		{[]string{"sn-gateway", "--max-message-size", "5"}, "invalid --max-message-size 5"},
		{[]string{"sn-gateway", "-D", "publish", "content-type", "text/plain"}, "-D/--property: this command sends no PUBLISH packet"},
		// CONNECT property values the broker refuses: every client got CONNACK "not supported".
		{[]string{"sn-gateway", "-V", "5", "-D", "connect", "receive-maximum", "0"}, "-D/--property connect receive-maximum: value 0 is not allowed"},
		{[]string{"sn-gateway", "-V", "5", "-D", "connect", "maximum-packet-size", "0"}, "-D/--property connect maximum-packet-size: value 0 is not allowed"},
		{[]string{"sn-gateway", "-V", "5", "-D", "connect", "request-problem-information", "2"}, "value 2 is not allowed"},
		{[]string{"pub", "-V", "5", "-D", "connect", "receive-maximum", "0", "-t", "a", "-m", "x"}, "-D/--property connect receive-maximum: value 0 is not allowed"},
		{[]string{"sub", "-V", "5", "-D", "will", "payload-format-indicator", "2", "-t", "a"}, "value 2 is not allowed"},
		{[]string{"serve", "--sn-gateway-id", "3"}, "--sn-gateway-id needs --sn-listen"},
		{[]string{"serve", "--sn-listen", "127.0.0.1:0", "--sn-gateway-id", "300"}, "invalid --sn-gateway-id 300"},
		{[]string{"serve", "-c", bad, "--sn-predefined", bad}, "--sn-predefined cannot be combined with -c: add an sn_predefined line"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--sn-listen", "127.0.0.1:0", "--sn-advertise-to", "127.0.0.1:0"}, `invalid --sn-advertise-to "127.0.0.1:0"`},
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

// The help of each command describes its own --sn flags, and sn-gateway's -D example is one
// it accepts.
func TestSNHelpTexts(t *testing.T) {
	for _, c := range []struct {
		cmd          string
		want, absent []string
	}{
		{"sub", []string{"subscribe through the MQTT-SN 1.2 gateway", "also subscribe to the predefined topic id"},
			[]string{"publishes without connecting", "instead of -t"}},
		{"pub", []string{"-q -1 publishes without connecting", "instead of -t"}, nil},
		{"sn-gateway", []string{"-D connect receive-maximum 100", "--max-message-size"}, []string{"-D publish"}},
		{"serve", []string{"--sn-gateway-id", "--sn-predefined"}, nil},
	} {
		code, out, errOut := runArgs("mqtt", c.cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d %s", c.cmd, code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q", c.cmd, w)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(out, a) {
				t.Errorf("%s --help says %q", c.cmd, a)
			}
		}
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
				gw = startSNProc(t, "serve", "-v", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--sn-listen", "127.0.0.1:0")
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
			// The broker's log names the gateway's clients' listener the same way in each
			// mode: its port, with /udp.
			waitOutput(t, gw.stderr, " on port "+gw.port+"/udp.")
			if code := gw.stop(); code != 0 {
				t.Fatalf("exit %d after SIGTERM:\n%s", code, gw.stderr.String())
			}
		})
	}
}

// serve's --sn-* flags configure its --sn-listen gateways as sn-gateway's flags do.
func TestServeSNFlags(t *testing.T) {
	adv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer adv.Close()
	pre := filepath.Join(t.TempDir(), "topics.conf")
	writeFile(t, pre, "*, pre/t, 9\n")
	port := testutil.FreePort(t)
	gw := startSNProc(t, "serve", "-v", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--sn-listen", "127.0.0.1:0",
		"--sn-gateway-id", "9", "--sn-advertise-interval", "1", "--sn-advertise-to", adv.LocalAddr().String(),
		"--sn-predefined", pre, "--sn-max-clients", "1", "--sn-retry-interval", "1", "--sn-max-retries", "1",
		"--sn-max-message-size", "64")
	buf := make([]byte, 64)
	_ = adv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := adv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := sn.Decode(buf[:n]); err != nil || m.(*sn.Advertise).GwID != 9 {
		t.Fatalf("got %+v %v, want ADVERTISE from gateway 9", m, err)
	}
	a := dialSNRaw(t, "127.0.0.1:"+gw.port)
	a.send(&sn.Connect{CleanSession: true, ProtocolID: sn.ProtocolID, Duration: 60, ClientID: "flags-a"})
	a.expect(&sn.Connack{})
	// --sn-predefined: the id is known.
	a.send(&sn.Subscribe{QoS: 1, MsgID: 1, TopicIDType: sn.TopicPredefined, TopicID: 9})
	if sa := a.expect(&sn.Suback{}).(*sn.Suback); sa.ReturnCode != sn.Accepted {
		t.Fatalf("SUBACK %v", sa.ReturnCode)
	}
	// --sn-max-clients 1.
	b := dialSNRaw(t, "127.0.0.1:"+gw.port)
	b.send(&sn.Connect{CleanSession: true, ProtocolID: sn.ProtocolID, Duration: 60, ClientID: "flags-b"})
	if ca := b.expect(&sn.Connack{}).(*sn.Connack); ca.ReturnCode != sn.RejectedCongestion {
		t.Fatalf("a second client: %v", ca.ReturnCode)
	}
	// --sn-max-message-size 64: dropped; --sn-retry-interval 1: the unanswered one comes again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []string{strings.Repeat("x", 100), "fits"} {
		if r := runCmd(t, mqttCmd(ctx, "pub", "-p", fmt.Sprint(port), "-t", "pre/t", "-m", m, "-q", "1"), nil); r.code != 0 {
			t.Fatalf("pub: %s", r.stderr)
		}
	}
	p := a.expect(&sn.Publish{}).(*sn.Publish)
	if string(p.Data) != "fits" {
		t.Fatalf("got %q", p.Data)
	}
	if again, ok := a.recv(3 * time.Second).(*sn.Publish); !ok || !again.Dup {
		t.Fatalf("after 1 s: %+v, want the PUBLISH again", again)
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

// snRaw is a hand-driven MQTT-SN client on a UDP socket.
type snRaw struct {
	t *testing.T
	c *net.UDPConn
}

func dialSNRaw(t *testing.T, addr string) *snRaw {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &snRaw{t: t, c: c}
}

func (r *snRaw) send(m sn.Message) {
	r.t.Helper()
	b, err := sn.Append(nil, m)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// recv returns the next message, or nil after d.
func (r *snRaw) recv(d time.Duration) sn.Message {
	r.t.Helper()
	buf := make([]byte, sn.MaxMessageSize)
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	n, err := r.c.Read(buf)
	if err != nil {
		return nil
	}
	m, err := sn.Decode(buf[:n])
	if err != nil {
		r.t.Fatalf("% X: %v", buf[:n], err)
	}
	return m
}

func (r *snRaw) expect(want sn.Message) sn.Message {
	r.t.Helper()
	m := r.recv(5 * time.Second)
	if m == nil || m.Type() != want.Type() {
		r.t.Fatalf("got %T %+v, want %T", m, m, want)
	}
	return m
}

// Interrupted (SIGINT, SIGTERM), sub --sn and pub --sn send DISCONNECT, as sub does over
// MQTT: the gateway ends the client's session at once and publishes no will.
func TestSNSignalsDisconnect(t *testing.T) {
	m := startBroker(t)
	gw := startGatewayProc(t, m.Port)
	// A gateway on loopback sends no ADVERTISE, and says so.
	waitOutput(t, gw.stderr, "no ADVERTISE: the gateway listens on loopback only")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, c := range []struct {
		sig  syscall.Signal
		args []string
	}{
		{syscall.SIGINT, []string{"sub", "-t", "sig/a"}},
		{syscall.SIGTERM, []string{"sub", "-t", "sig/a"}},
		{syscall.SIGINT, []string{"pub", "-t", "sig/a", "-m", "x", "-q", "1", "--repeat", "1000", "--repeat-delay", "1"}},
	} {
		id := fmt.Sprintf("sig-%d", i)
		args := append([]string{c.args[0], "--sn", "-p", gw.port, "-i", id, "-k", "60", "--will-topic", "sig/will", "--will-payload", "gone"}, c.args[1:]...)
		cmd := mqttCmd(ctx, args...)
		p := startCapture(t, cmd)
		waitOutput(t, gw.stderr, "MQTT-SN client connected client="+id+" ")
		if c.args[0] == "sub" {
			waitLogCount(t, m, "Received SUBSCRIBE from "+id+"\n", 1)
		}
		if err := cmd.Process.Signal(c.sig); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, gw.stderr, "MQTT-SN client disconnected client="+id+" state=active reason=DISCONNECT")
		code, _ := p.wait(t)
		if c.args[0] == "sub" && code != 0 {
			t.Errorf("%v: exit %d after %v: %s", c.args, code, c.sig, p.errOut.String())
		}
		// The broker got DISCONNECT: the will is discarded.
		waitLogCount(t, m, "Received DISCONNECT from "+id+"\n", 1)
	}
}

// A gateway that answers CONNECT "rejected: congestion" is asked again after a pause: pub
// --sn waits until the gateway has room (here: the one client it takes leaves).
func TestSNCongestionRetried(t *testing.T) {
	m := startBroker(t)
	gw := startGatewayProc(t, m.Port, "--max-clients", "1", "--advertise-interval", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	holder := mqttCmd(ctx, "sub", "--sn", "-p", gw.port, "-i", "holder", "-t", "busy/x")
	h := startCapture(t, holder)
	waitOutput(t, gw.stderr, "MQTT-SN client connected client=holder ")
	pub := startCapture(t, mqttCmd(ctx, "pub", "--sn", "-p", gw.port, "-i", "waiter", "-t", "busy/x", "-m", "at last", "-q", "1"))
	waitOutput(t, &pub.errOut, "Warning: the gateway is congested (CONNACK rejected: congestion); trying again in")
	if err := holder.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
	if code, _ := pub.wait(t); code != 0 {
		t.Fatalf("pub --sn: exit %d: %s", code, pub.errOut.String())
	}
	waitOutput(t, gw.stderr, "MQTT-SN client connected client=waiter ")
}

// A "protocol mqttsn" listener's gateway takes the sn_* lines (gateway id, ADVERTISE interval
// and target, predefined topics, T_RETRY and N_RETRY, the largest message), max_connections
// (its clients) and mount_point; it may share its port number with a TCP listener, and the
// broker's log names its clients' listener "PORT/udp".
func TestServeConfigSNListener(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	mosqPub := testutil.RequireTool(t, "mosquitto_pub")
	dir := t.TempDir()
	port := testutil.FreePort(t)
	adv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer adv.Close()
	pre := filepath.Join(dir, "topics.conf")
	writeFile(t, pre, "*, t/x, 5\n")
	conf := filepath.Join(dir, "mqtt.conf")
	writeFile(t, conf, fmt.Sprintf(`allow_anonymous true
log_type all
listener %[1]d 127.0.0.1
listener %[1]d 127.0.0.1
protocol mqttsn
max_connections 2
mount_point site/
sn_gateway_id 42
sn_advertise_interval 1
sn_advertise_to %[2]s
sn_predefined %[3]s
sn_retry_interval 1
sn_max_retries 1
sn_max_message_size 100
`, port, adv.LocalAddr(), pre))
	if code, out, errOut := runArgs("mqtt", "serve", "--test-config", "-c", conf); code != 0 {
		t.Fatalf("--test-config: exit %d %s %s", code, out, errOut)
	}
	s := serveConf(t, conf)
	gw := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// sn_gateway_id, sn_advertise_interval, sn_advertise_to.
	buf := make([]byte, 64)
	for i := 0; i < 2; i++ {
		_ = adv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := adv.Read(buf)
		if err != nil {
			t.Fatalf("ADVERTISE %d: %v", i, err)
		}
		if m, err := sn.Decode(buf[:n]); err != nil || m.(*sn.Advertise).GwID != 42 || m.(*sn.Advertise).Duration != 1 {
			t.Fatalf("got %+v %v, want ADVERTISE from gateway 42 every 1 s", m, err)
		}
	}
	a := dialSNRaw(t, gw)
	a.send(&sn.SearchGW{Radius: 1})
	if gi := a.expect(&sn.GWInfo{}).(*sn.GWInfo); gi.GwID != 42 {
		t.Fatalf("GWINFO from gateway %d", gi.GwID)
	}

	// max_connections 2.
	for _, id := range []string{"cfg-a", "cfg-b"} {
		c := a
		if id == "cfg-b" {
			c = dialSNRaw(t, gw)
		}
		c.send(&sn.Connect{CleanSession: true, ProtocolID: sn.ProtocolID, Duration: 60, ClientID: id})
		if ca := c.expect(&sn.Connack{}).(*sn.Connack); ca.ReturnCode != sn.Accepted {
			t.Fatalf("%s: %v", id, ca.ReturnCode)
		}
	}
	third := dialSNRaw(t, gw)
	third.send(&sn.Connect{CleanSession: true, ProtocolID: sn.ProtocolID, Duration: 60, ClientID: "cfg-c"})
	if ca := third.expect(&sn.Connack{}).(*sn.Connack); ca.ReturnCode != sn.RejectedCongestion {
		t.Fatalf("a third client: %v, want rejected: congestion", ca.ReturnCode)
	}

	// sn_predefined and mount_point: predefined id 5 is t/x, which the broker routes as
	// site/t/x.
	watch := startCapture(t, exec.CommandContext(ctx, mosqSub, "-p", fmt.Sprint(port), "-i", "cfg-watch", "-t", "#", "-v", "-C", "1"))
	s.waitLog("Received SUBSCRIBE from cfg-watch")
	a.send(&sn.Publish{QoS: 1, TopicIDType: sn.TopicPredefined, TopicID: 5, MsgID: 1, Data: []byte("up")})
	if pa := a.expect(&sn.Puback{}).(*sn.Puback); pa.ReturnCode != sn.Accepted {
		t.Fatalf("PUBACK %v", pa.ReturnCode)
	}
	if _, out := watch.wait(t); out != "site/t/x up\n" {
		t.Fatalf("mosquitto_sub got %q", out)
	}
	a.send(&sn.Subscribe{QoS: 1, MsgID: 2, TopicIDType: sn.TopicPredefined, TopicID: 5})
	a.expect(&sn.Suback{})

	// sn_max_message_size 100: a larger message is dropped, the next arrives.
	for _, m := range []string{strings.Repeat("x", 200), "small"} {
		if r := runCmd(t, exec.CommandContext(ctx, mosqPub, "-p", fmt.Sprint(port), "-t", "site/t/x", "-m", m), nil); r.code != 0 {
			t.Fatalf("mosquitto_pub: %s", r.stderr)
		}
	}
	if p := a.expect(&sn.Publish{}).(*sn.Publish); string(p.Data) != "small" || p.TopicID != 5 {
		t.Fatalf("got %q on topic id %d", p.Data, p.TopicID)
	}

	// sn_retry_interval 1, sn_max_retries 1: an unanswered QoS 1 message comes again after a
	// second, and then the client is lost.
	if r := runCmd(t, exec.CommandContext(ctx, mosqPub, "-p", fmt.Sprint(port), "-t", "site/t/x", "-m", "unanswered", "-q", "1"), nil); r.code != 0 {
		t.Fatalf("mosquitto_pub: %s", r.stderr)
	}
	first := a.expect(&sn.Publish{}).(*sn.Publish)
	again := a.recv(3 * time.Second)
	if p, ok := again.(*sn.Publish); !ok || !p.Dup || p.MsgID != first.MsgID {
		t.Fatalf("after 1 s: %+v, want the PUBLISH again with DUP", again)
	}
	s.waitLog("MQTT-SN client disconnected client=cfg-a state=active reason=no answer after retransmissions")
	// The broker names the gateway's clients' listener PORT/udp.
	s.waitLog(fmt.Sprintf("on port %d/udp.", port))
}

// SIGHUP: a changed sn_* line is a listener change, which needs a restart (and is logged so);
// the same lines moved down the file are not.
func TestSNSettingsChangeNeedsRestart(t *testing.T) {
	parse := func(text string) *config.Config {
		t.Helper()
		cfg, _, err := config.Parse("m.conf", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a := parse("listener 1884\nprotocol mqttsn\nsn_gateway_id 3\n")
	if !sameListeners(a, parse("\n\nlistener 1884\nprotocol mqttsn\nsn_gateway_id 3\n")) {
		t.Error("the same settings on other lines count as a change")
	}
	for _, text := range []string{
		"listener 1884\nprotocol mqttsn\nsn_gateway_id 4\n",
		"listener 1884\nprotocol mqttsn\n",
		"listener 1884\nprotocol mqttsn\nsn_gateway_id 3\nsn_retry_interval 5\n",
	} {
		if sameListeners(a, parse(text)) {
			t.Errorf("%q: not seen as a change", text)
		}
	}
}

// pub --sn's payload limit is one datagram less the MQTT-SN header: 65,498 octets over IPv4.
// The message names the largest size accepted (it said "less than 65498" and took 65,498),
// and -m is checked before anything is sent (it failed with "write udp ...: message too
// long").
func TestPubSNPayloadLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 65499), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on the port: with QoS 1 a valid publish would wait for a CONNACK.
	for _, argv := range [][]string{
		{"-q", "-1", "--short", "-t", "ab", "-m", strings.Repeat("x", 65499)},
		{"-q", "1", "-t", "a/b", "-m", strings.Repeat("x", 65499)},
		{"-q", "-1", "--short", "-t", "ab", "-f", big},
	} {
		code, out, errOut := runArgs(append([]string{"mqtt", "pub", "--sn", "-h", "127.0.0.1", "-p", "27931"}, argv...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "is 65499 bytes; with --sn it must be at most 65498 bytes") {
			t.Errorf("%.40q: exit %d, stdout %q, stderr %q", argv, code, out, errOut)
		}
	}
}

// An MQTT-SN predefined-topics file is treated as the broker treats a password or ACL file:
// one that cannot be opened (missing, a directory) exits 13, one with a bad line 3, with
// --test-config as at start, from sn_predefined or --sn-predefined alike. (A missing file
// exited 1 and a bad one 3.)
func TestServeSNPredefinedExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "*,a,0\n")
	for _, tc := range []struct {
		file string
		code int
		want string
	}{
		{filepath.Join(dir, "missing"), 13, "does not exist"},
		{dir, 13, "is a directory"},
		{bad, 3, "topic id 0 is reserved"},
	} {
		conf := filepath.Join(dir, "mqtt.conf")
		port := testutil.FreePort(t) // nothing listens on it: every case stops before
		writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlistener %d 127.0.0.1\nprotocol mqttsn\nsn_predefined %s\n", port, port, tc.file))
		for _, argv := range [][]string{
			{"serve", "-c", conf, "--test-config"},
			{"serve", "-c", conf},
			{"serve", "--listen", "127.0.0.1:0", "--sn-listen", "127.0.0.1:0", "--sn-predefined", tc.file},
		} {
			code, _, errOut := runArgs(append([]string{"mqtt"}, argv...)...)
			want := tc.want
			if argv[1] != "-c" && tc.code == 13 {
				want = map[bool]string{true: "no such file", false: "is a directory"}[tc.file != dir]
			}
			if code != tc.code || !strings.Contains(errOut, want) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", argv, code, errOut, tc.code, want)
			}
		}
	}
}
