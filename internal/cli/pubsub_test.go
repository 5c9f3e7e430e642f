package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The pub/sub tests run this test binary as the mqtt command (TestMain
// dispatches on the environment) next to mosquitto's own clients, against
// a real mosquitto.

const runMainEnv = "MQTT_CLI_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if prog := os.Getenv(runMainEnv); prog != "" {
		if prog == "1" {
			prog = "mqtt"
		}
		os.Exit(Main(append([]string{prog}, os.Args[1:]...)))
	}
	os.Exit(m.Run())
}

// mqttCmd is `mqtt ARGS...` as a subprocess.
func mqttCmd(ctx context.Context, args ...string) *exec.Cmd {
	return progCmd(ctx, "mqtt", args...)
}

// progCmd is the binary invoked as prog (e.g. "mosquitto", as through a link) as a subprocess.
func progCmd(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"="+prog)
	return cmd
}

type result struct {
	code           int
	stdout, stderr []byte
}

func runCmd(t *testing.T, cmd *exec.Cmd, stdin []byte) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{code, out.Bytes(), errb.Bytes()}
}

func startBroker(t *testing.T, extra ...string) *testutil.Mosquitto {
	t.Helper()
	return testutil.StartMosquitto(t, append([]string{"log_type all"}, extra...)...)
}

// waitSubscribed waits until the broker logged a SUBSCRIBE from clientID.
func waitSubscribed(t *testing.T, m *testutil.Mosquitto, clientIDs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range clientIDs {
		// The newline keeps "ref1" from matching "ref10"'s line.
		for !strings.Contains(m.Log(), "Received SUBSCRIBE from "+id+"\n") {
			if time.Now().After(deadline) {
				t.Fatalf("%s never subscribed; broker log:\n%s", id, m.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

var tstField = regexp.MustCompile(`"tst":\s*"[^"]*"`)

// TestSubOutputMatchesMosquittoSub runs mosquitto_sub and mqtt sub with the
// same flags on the same messages and compares their output byte for byte
// (JSON timestamps aside).
func TestSubOutputMatchesMosquittoSub(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	m := startBroker(t)
	port := fmt.Sprint(m.Port)
	// Published with our client in-process (starting processes is slow on
	// a loaded machine); its codec writes properties in the order that
	// format.go prints them.
	props := packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k2", Value: "v2"}},
		ContentType: "text/plain", ResponseTopic: "r/t", CorrelationData: []byte("cd"),
		PayloadFormat: 1, HasPayloadFormat: true, MessageExpiry: 100, HasMessageExpiry: true}
	pubs := []client.Message{
		{Topic: "a", Payload: []byte("hello")},
		{Topic: "b"},
		{Topic: "c", Payload: []byte("a\"b\\c\x01é\t end"), QoS: 1},
		{Topic: "e", Payload: []byte("with props"), QoS: 1, Properties: props},
		// QoS 2 last: libmosquitto hands a QoS 2 message to mosquitto_sub
		// only at PUBREL, so a later QoS 0/1 message can overtake it there.
		{Topic: "d", Payload: []byte(`{"a": [1, 2.50, -0.0, 1e5, 0.1, 3.14159265358979, 1e-7, "x\u00e9"], "b": {}, "c": {"d": [[], {}]}}`), QoS: 2},
	}
	pubCtx, pubCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pubCancel()
	pc, err := client.Dial(pubCtx, client.Options{Server: m.Addr, CleanStart: true, ProtocolVersion: packet.V5})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cases := [][]string{
		{},
		{"-v"},
		{"-N"},
		{"-v", "-N"},
		{"-q", "2", "-F", "%t|%p|%l|%q|%r|%m|%x|%X|%%|@@"},
		{"-q", "1", "-F", "[%10t][%-10t][%.2t][%5.2t][%-5.2t][%10p][%-p][%5x][%-20X][%05l][%-5l][%5l][%3m]"},
		{"-F", `\t\n\e\a\v\0\\x`},
		{"-F", "@Y-@m-@d @a @b @j @H @I @p @y @C @e @u @w @@"},
		{"-F", "%j"},
		{"-q", "2", "-F", "%j"},
		{"-F", "%J"},
		{"-F", "%j", "--pretty"},
		{"-F", "%J", "--pretty"},
		{"-V", "5", "-F", "%C|%5C|%-5C.|%E|%05E|%-4F|%P|%A|%5A|%S|%R|%D"},
		{"-V", "5", "-q", "1", "-F", "%j"},
		{"-V", "5", "-F", "%J", "--pretty"},
		{"-V", "5", "-D", "subscribe", "subscription-identifier", "9", "-F", "%S %j"},
		{"-T", "+/c", "-T", "+/d", "-v"},
		{"-F", "%Z"},
		{"-F", "%5."},
		{"-F", `\q`},
		{"-F", ""}, // an empty line per message
		{"-F", "", "-N", "-v"},
	}
	sem := make(chan struct{}, 4)
	t.Run("group", func(t *testing.T) {
		for i, flags := range cases {
			t.Run(strings.Join(flags, " "), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{} // a few at a time: each case starts two processes
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				n := len(pubs)
				if containsFlag(flags, "-T") {
					n -= 2
				}
				idA, idB := fmt.Sprintf("ref%d", i), fmt.Sprintf("our%d", i)
				prefix := fmt.Sprintf("c%d/", i)
				base := []string{"-p", port, "-t", prefix + "#", "-C", fmt.Sprint(n)}
				ref := exec.CommandContext(ctx, mosqSub, append(append(base, "-i", idA), flags...)...)
				our := mqttCmd(ctx, append(append([]string{"sub"}, append(base, "-i", idB)...), flags...)...)
				var wg sync.WaitGroup
				var rr, ro result
				wg.Add(2)
				go func() { defer wg.Done(); rr = runCmd(t, ref, nil) }()
				go func() { defer wg.Done(); ro = runCmd(t, our, nil) }()
				if rr0 := isFormatError(flags); !rr0 {
					waitSubscribed(t, m, idA, idB)
					for _, p := range pubs {
						p.Topic = prefix + p.Topic
						if err := pc.Publish(ctx, p); err != nil {
							t.Fatalf("publish %s: %v", p.Topic, err)
						}
					}
				}
				wg.Wait()
				if ctx.Err() != nil {
					t.Fatalf("timed out: mosquitto_sub printed %q, mqtt sub %q", rr.stdout, ro.stdout)
				}
				if rr.code != ro.code {
					t.Fatalf("exit code: mosquitto_sub %d, mqtt sub %d (stderr %q / %q)", rr.code, ro.code, rr.stderr, ro.stderr)
				}
				want, got := tstField.ReplaceAll(rr.stdout, nil), tstField.ReplaceAll(ro.stdout, nil)
				if !bytes.Equal(want, got) {
					t.Fatalf("stdout differs\nmosquitto_sub: %q\nmqtt sub:      %q", want, got)
				}
				// Error lines match up to the program name in the --help hint.
				wantErr := strings.ReplaceAll(string(rr.stderr), "mosquitto_sub --help", "PROG --help")
				gotErr := strings.ReplaceAll(string(ro.stderr), "mqtt sub --help", "PROG --help")
				if wantErr != gotErr {
					t.Fatalf("stderr differs\nmosquitto_sub: %q\nmqtt sub:      %q", wantErr, gotErr)
				}
			})
		}
	})
}

func containsFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func isFormatError(flags []string) bool {
	for i, f := range flags {
		if f == "-F" && checkFormat(flags[i+1]) != nil {
			return true
		}
	}
	return false
}

// subscriber collects messages with our client.
func subscriber(t *testing.T, m *testutil.Mosquitto, filter string, qos byte, v byte) (chan *client.Message, *client.Client) {
	t.Helper()
	ch := make(chan *client.Message, 10000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Server: m.Addr, CleanStart: true, ProtocolVersion: v,
		OnMessage: func(msg *client.Message) { ch <- msg }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Subscribe(ctx, []packet.Subscription{{Filter: filter, QoS: qos}}, nil); err != nil {
		t.Fatal(err)
	}
	return ch, c
}

func TestPubLinesInOrder(t *testing.T) {
	m := startBroker(t)
	ch, _ := subscriber(t, m, "lines", 1, packet.V311)
	var in bytes.Buffer
	const n = 2000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	in.WriteString("\n")       // an empty line is an empty message
	in.WriteString("no eol\r") // the last line has no newline; '\r' is kept
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := runCmd(t, mqttCmd(ctx, "pub", "-p", fmt.Sprint(m.Port), "-t", "lines", "-q", "1", "-l"), in.Bytes())
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for i := 0; i < n+2; i++ {
		var msg *client.Message
		select {
		case msg = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d messages", i, n+2)
		}
		want := fmt.Sprintf("line %d", i)
		switch i {
		case n:
			want = ""
		case n + 1:
			want = "no eol\r"
		}
		if string(msg.Payload) != want {
			t.Fatalf("message %d = %q, want %q", i, msg.Payload, want)
		}
	}
}

func TestPubBinaryFileAndStdin(t *testing.T) {
	m := startBroker(t)
	ch, _ := subscriber(t, m, "bin/#", 1, packet.V311)
	data := make([]byte, 3<<20)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	port := fmt.Sprint(m.Port)
	if r := runCmd(t, mqttCmd(ctx, "pub", "-p", port, "-t", "bin/f", "-q", "1", "-f", file), nil); r.code != 0 {
		t.Fatalf("-f: exit %d: %s", r.code, r.stderr)
	}
	if r := runCmd(t, mqttCmd(ctx, "pub", "-p", port, "-t", "bin/s", "-q", "2", "-s"), data); r.code != 0 {
		t.Fatalf("-s: exit %d: %s", r.code, r.stderr)
	}
	for _, topic := range []string{"bin/f", "bin/s"} {
		select {
		case msg := <-ch:
			if msg.Topic != topic || !bytes.Equal(msg.Payload, data) {
				t.Fatalf("%s: payload of %d bytes changed (topic %s)", topic, len(msg.Payload), msg.Topic)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not received", topic)
		}
	}
}

// TestRetainedWithProperties stores a retained v5 message with properties
// and reads it back with both subscribers.
func TestRetainedWithProperties(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	m := startBroker(t)
	port := fmt.Sprint(m.Port)
	// Generous: starting a process can take seconds on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	r := runCmd(t, mqttCmd(ctx, "pub", "-p", port, "-t", "ret/a", "-m", "kept", "-r", "-q", "1",
		"-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain"), nil)
	if r.code != 0 {
		t.Fatalf("pub: exit %d: %s", r.code, r.stderr)
	}
	args := []string{"-p", port, "-V", "5", "-t", "ret/#", "-C", "1", "-F", "%r %t %C %P %p|%J"}
	want := runCmd(t, exec.CommandContext(ctx, mosqSub, args...), nil)
	got := runCmd(t, mqttCmd(ctx, append([]string{"sub"}, args...)...), nil)
	w, g := tstField.ReplaceAll(want.stdout, nil), tstField.ReplaceAll(got.stdout, nil)
	if want.code != 0 || got.code != 0 || !bytes.Equal(w, g) {
		t.Fatalf("mosquitto_sub (exit %d) %q\nmqtt sub (exit %d)      %q", want.code, w, got.code, g)
	}
	if !bytes.HasPrefix(g, []byte("1 ret/a text/plain k:v kept|")) {
		t.Fatalf("unexpected output %q", g)
	}
	// -R hides it, --retained-only exits at the first live message, and
	// --remove-retained clears it.
	if r := runCmd(t, mqttCmd(ctx, "sub", "-p", port, "-t", "ret/#", "-R", "-W", "1"), nil); r.code != 27 || len(r.stdout) != 0 {
		t.Fatalf("-R: exit %d, output %q", r.code, r.stdout)
	}
	if r := runCmd(t, mqttCmd(ctx, "sub", "-p", port, "-t", "ret/#", "--remove-retained", "-C", "1"), nil); r.code != 0 || string(r.stdout) != "kept\n" {
		t.Fatalf("--remove-retained: exit %d, output %q, %s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, mqttCmd(ctx, "sub", "-p", port, "-t", "ret/#", "-W", "1"), nil); r.code != 27 || len(r.stdout) != 0 {
		t.Fatalf("retained message not removed: exit %d, output %q", r.code, r.stdout)
	}
}

func TestSubTimeoutAndExitOnSuback(t *testing.T) {
	mosqSub := testutil.RequireTool(t, "mosquitto_sub")
	m := startBroker(t)
	port := fmt.Sprint(m.Port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := runCmd(t, exec.CommandContext(ctx, mosqSub, "-p", port, "-t", "none", "-W", "1"), nil)
	got := runCmd(t, mqttCmd(ctx, "sub", "-p", port, "-t", "none", "-W", "1"), nil)
	if got.code != 27 || want.code != got.code || string(got.stderr) != string(want.stderr) {
		t.Fatalf("-W: mosquitto_sub exit %d %q, mqtt sub exit %d %q", want.code, want.stderr, got.code, got.stderr)
	}
	if r := runCmd(t, mqttCmd(ctx, "sub", "-p", port, "-t", "a", "-t", "b", "-E"), nil); r.code != 0 {
		t.Fatalf("-E: exit %d %s", r.code, r.stderr)
	}
}

// TestRefusedInput compares error messages and exit codes with mosquitto_pub.
func TestRefusedInput(t *testing.T) {
	mosqPub := testutil.RequireTool(t, "mosquitto_pub")
	m := startBroker(t)
	port := fmt.Sprint(m.Port)
	closed := fmt.Sprint(testutil.FreePort(t))
	cases := [][]string{
		{"-p", port, "-t", "a", "-q", "3", "-m", "x"},
		{"-p", port, "-t", "a/+", "-m", "x"},
		{"-p", port, "-t", "a/#", "-m", "x"},
		{"-p", port, "-t", "a", "-f", "/nonexistent/file"},
		{"-p", port, "-t", "a", "-m", "x", "-n"},
		{"-p", port, "-t", "a", "-m", "x", "-l"},
		{"-p", port, "-t", "a", "-m", "x", "--repeat", "0"},
		{"-p", port, "-m", "x"},
		{"-p", closed, "-t", "a", "-m", "x"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args[2:], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			want := runCmd(t, exec.CommandContext(ctx, mosqPub, args...), nil)
			got := runCmd(t, mqttCmd(ctx, append([]string{"pub"}, args...)...), nil)
			firstLine := func(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }
			if want.code != got.code || firstLine(want.stderr) != firstLine(got.stderr) {
				t.Fatalf("mosquitto_pub: exit %d %q\nmqtt pub:      exit %d %q", want.code, want.stderr, got.code, got.stderr)
			}
			if strings.Contains(string(got.stderr), "goroutine ") {
				t.Fatalf("stack trace: %s", got.stderr)
			}
		})
	}
}

// TestRefusedByBroker checks CONNACK refusals and a v5 PUBACK failure.
func TestRefusedByBroker(t *testing.T) {
	mosqPub := testutil.RequireTool(t, "mosquitto_pub")
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte("topic readwrite allowed/#\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := startBroker(t, "acl_file "+acl)
	closedAnon := startBroker(t, "allow_anonymous false")
	cases := [][]string{
		{"-p", fmt.Sprint(closedAnon.Port), "-t", "a", "-m", "x"},
		{"-p", fmt.Sprint(closedAnon.Port), "-t", "a", "-m", "x", "-V", "5"},
		{"-p", fmt.Sprint(open.Port), "-t", "denied", "-m", "x", "-q", "1", "-V", "5"},
		{"-p", fmt.Sprint(open.Port), "-t", "denied", "-m", "x", "-q", "1"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args[2:], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			want := runCmd(t, exec.CommandContext(ctx, mosqPub, args...), nil)
			got := runCmd(t, mqttCmd(ctx, append([]string{"pub"}, args...)...), nil)
			if want.code != got.code || string(want.stderr) != string(got.stderr) {
				t.Fatalf("mosquitto_pub: exit %d %q\nmqtt pub:      exit %d %q", want.code, want.stderr, got.code, got.stderr)
			}
		})
	}
}

// -s with empty input is an error, as in mosquitto_pub (same words, exit 1, nothing sent): with
// -r a zero-length message would erase the retained value. An empty -f file is published, as
// mosquitto_pub 2.0.11 does.
func TestPubEmptyInput(t *testing.T) {
	mpub := testutil.RequireTool(t, "mosquitto_pub")
	m := startBroker(t)
	port := fmt.Sprint(m.Port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	retained := func() string {
		t.Helper()
		r := runCmd(t, exec.CommandContext(ctx, testutil.RequireTool(t, "mosquitto_sub"), "-p", port, "-t", "r/x", "-W", "1", "--retained-only"), nil)
		return string(r.stdout)
	}
	if r := runCmd(t, exec.CommandContext(ctx, mpub, "-p", port, "-t", "r/x", "-r", "-m", "keep"), nil); r.code != 0 {
		t.Fatal(string(r.stderr))
	}
	want := runCmd(t, exec.CommandContext(ctx, mpub, "-p", port, "-t", "r/x", "-r", "-s"), []byte{})
	for _, prog := range []string{"mqtt", "mosquitto_pub"} {
		args := []string{"-p", port, "-t", "r/x", "-r", "-s"}
		if prog == "mqtt" {
			args = append([]string{"pub"}, args...)
		}
		got := runCmd(t, progCmd(ctx, prog, args...), []byte{})
		if got.code != 1 || got.code != want.code || string(got.stderr) != string(want.stderr) || string(got.stderr) != "Error: Zero length input.\nError loading input from stdin.\n" {
			t.Errorf("%s -s with empty input: exit %d, stderr %q; mosquitto_pub: exit %d, stderr %q", prog, got.code, got.stderr, want.code, want.stderr)
		}
	}
	if got := retained(); got != "keep\n" {
		t.Fatalf("the retained value after empty -s input: %q", got)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, mqttCmd(ctx, "pub", "-p", port, "-t", "r/x", "-r", "-f", empty), nil); r.code != 0 {
		t.Fatalf("-f empty file: exit %d %s", r.code, r.stderr)
	}
	if got := retained(); got != "" {
		t.Errorf("an empty -f file did not clear the retained value (mosquitto_pub's does): %q", got)
	}
}
