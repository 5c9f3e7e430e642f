package testutil

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d from FreePort is not bindable: %v", p, err)
	}
	_ = l.Close()
}

func TestLookToolFindsShell(t *testing.T) {
	if LookTool("sh") == "" {
		t.Fatal("LookTool(sh) found nothing")
	}
	if LookTool("no-such-tool-mqttkit") != "" {
		t.Fatal("LookTool found a tool that does not exist")
	}
}

// RequireTool's failure mode is checked in a child process, because it ends the test.
func TestRequireToolMissing(t *testing.T) {
	if os.Getenv("TESTUTIL_CHILD") == "1" {
		RequireTool(t, "no-such-tool-mqttkit")
		t.Log("not reached")
		return
	}
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"", "--- SKIP"},
		{"1", "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireToolMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_CHILD=1", RequireInteropEnv+"="+tc.require)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "not reached") {
			t.Errorf("%s=%q: want %s, got:\n%s", RequireInteropEnv, tc.require, tc.want, out)
		}
	}
}

func TestConfigText(t *testing.T) {
	c := configText(1234, []string{"allow_anonymous false", "password_file /x"})
	if !strings.HasPrefix(c, "listener 1234 127.0.0.1\n") || strings.Contains(c, "allow_anonymous true") ||
		!strings.Contains(c, "password_file /x\n") {
		t.Fatalf("config:\n%s", c)
	}
	if c := configText(1, nil); !strings.Contains(c, "allow_anonymous true\n") {
		t.Fatalf("config without extra lines does not allow anonymous clients:\n%s", c)
	}
}

// StartMosquitto gives a broker that speaks MQTT: a CONNECT gets a CONNACK with return code 0.
func TestStartMosquitto(t *testing.T) {
	m := StartMosquitto(t)
	c, err := net.DialTimeout("tcp", m.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// MQTT 3.1.1 CONNECT, clean session, keep alive 10, client ID "t".
	connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 1, 't'}
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := bufio.NewReader(c).Read(ack); err != nil {
		t.Fatal(err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK = % x, want 20 02 00 00", ack)
	}
	if mp := LookTool("mosquitto_pub"); mp != "" {
		out, err := exec.Command(mp, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-t", "a/b", "-m", "hi", "-q", "1").CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub against the test broker: %v\n%s\nbroker log:\n%s", err, out, m.Log())
		}
	}
}

// Two brokers in one test run side by side on different ports.
func TestStartMosquittoTwice(t *testing.T) {
	a, b := StartMosquitto(t), StartMosquitto(t)
	if a.Port == b.Port {
		t.Fatalf("both brokers on port %d", a.Port)
	}
}

// With a password file the broker refuses anonymous clients and accepts the user, so the
// generated configuration really reaches mosquitto (and, as root, the file is readable).
func TestStartMosquittoPasswordFile(t *testing.T) {
	passwd := RequireTool(t, "mosquitto_passwd")
	pub := RequireTool(t, "mosquitto_pub")
	pw := t.TempDir() + "/passwords"
	if out, err := exec.Command(passwd, "-c", "-b", pw, "alice", "secret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	m := StartMosquitto(t, "allow_anonymous false", "password_file "+pw)
	port := strconv.Itoa(m.Port)
	if out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-u", "alice", "-P", "secret", "-t", "a", "-m", "x").CombinedOutput(); err != nil {
		t.Fatalf("alice refused: %v\n%s\n%s", err, out, m.Log())
	}
	err := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-t", "a", "-m", "x").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("anonymous publish: %v, want exit code 5 (not authorised)", err)
	}
}
