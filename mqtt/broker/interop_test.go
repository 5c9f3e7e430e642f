package broker

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

// mosqSub starts mosquitto_sub and waits until the broker has its
// subscriptions; the returned func waits for it and returns its output.
func mosqSub(t *testing.T, b *Broker, addr string, args ...string) func() string {
	t.Helper()
	needPlain(t)
	bin := testutil.RequireTool(t, "mosquitto_sub")
	host, port := hostPort(t, addr)
	var filter string
	for i, a := range args {
		if a == "-t" && i+1 < len(args) {
			filter = args[i+1]
		}
	}
	before := b.subscribers(filter)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port, "-W", "10"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for b.subscribers(filter) <= before && time.Now().Before(deadline) && len(exited) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	return func() string {
		t.Helper()
		defer cancel()
		if err := <-exited; err != nil {
			t.Fatalf("mosquitto_sub %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		return out.String()
	}
}

func mosqPub(t *testing.T, addr string, args ...string) {
	t.Helper()
	needPlain(t)
	bin := testutil.RequireTool(t, "mosquitto_pub")
	host, port := hostPort(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

// Round trips at QoS 0, 1 and 2 for MQTT 3.1, 3.1.1 and 5 with Mosquitto's
// own clients.
func TestMosquittoClientsRoundTrip(t *testing.T) {
	b, addr := startBroker(t, nil)
	for _, v := range []string{"31", "311", "5"} {
		for _, q := range []string{"0", "1", "2"} {
			done := mosqSub(t, b, addr, "-V", v, "-q", q, "-t", "m/"+v+"/#", "-C", "1", "-v")
			mosqPub(t, addr, "-V", v, "-q", q, "-t", "m/"+v+"/q"+q, "-m", "hello "+v)
			if got, want := done(), "m/"+v+"/q"+q+" hello "+v+"\n"; got != want {
				t.Fatalf("-V %s -q %s: got %q want %q", v, q, got, want)
			}
		}
	}
}

// Retained messages and a persistent session with mosquitto_sub -c.
func TestMosquittoClientsRetainedAndPersistent(t *testing.T) {
	b, addr := startBroker(t, nil)
	for _, v := range []string{"31", "311", "5"} {
		mosqPub(t, addr, "-V", v, "-q", "1", "-r", "-t", "ret/"+v, "-m", "kept")
		done := mosqSub(t, b, addr, "-V", v, "-t", "ret/"+v, "-C", "1", "-F", "%r %p")
		if got := done(); got != "1 kept\n" {
			t.Fatalf("-V %s retained: %q", v, got)
		}
		// Persistent session: subscribe, leave, messages queue, come back.
		id := "persist-" + v
		args := []string{"-V", v, "-c", "-i", id, "-q", "1", "-t", "pq/" + v, "-C", "1"}
		if v == "5" {
			args = append(args, "-x", "600")
		}
		mosqSub(t, b, addr, append(args, "-E")...)()
		mosqPub(t, addr, "-V", v, "-q", "1", "-t", "pq/"+v, "-m", "queued")
		done = mosqSub(t, b, addr, args...)
		if got := done(); got != "queued\n" {
			t.Fatalf("-V %s persistent: %q", v, got)
		}
	}
}

// $SYS/broker/version answers (issue 3's "done when").
func TestMosquittoSysVersion(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.SysInterval = time.Second })
	done := mosqSub(t, b, addr, "-t", "$SYS/broker/version", "-C", "1")
	if got := done(); got != "mqtt version test\n" {
		t.Fatalf("got %q", got)
	}
}

// A will through mosquitto_sub's --will-* options when it is killed.
func TestMosquittoWill(t *testing.T) {
	b, addr := startBroker(t, nil)
	watch := mosqSub(t, b, addr, "-t", "wills/#", "-C", "1", "-v")
	bin := testutil.RequireTool(t, "mosquitto_sub")
	host, port := hostPort(t, addr)
	before := b.subscribers("x")
	cmd := exec.Command(bin, "-h", host, "-p", port, "-t", "x", "--will-topic", "wills/m", "--will-payload", "bye", "--will-qos", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); b.subscribers("x") <= before && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if got := watch(); got != "wills/m bye\n" {
		t.Fatalf("got %q", got)
	}
}

// subscribers counts the connected sessions subscribed to filter.
func (b *Broker) subscribers(filter string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for s := range b.sessions.all() {
		s.mu.Lock()
		if _, ok := s.subs[filter]; ok && s.conn != nil {
			n++
		}
		s.mu.Unlock()
	}
	return n
}
