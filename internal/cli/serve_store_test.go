package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// persistence true in a configuration: the store is persistence_location/mqtt.db (Mosquitto's
// own mosquitto.db beside it is named in the log and left alone), autosave_interval is
// explained, a retained message survives a restart, and --check reads the store.
func TestServeConfigPersistence(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	mosq := filepath.Join(data, "mosquitto.db")
	mosqBytes := append([]byte{0x00, 0xB5, 0x00, 'm', 'o', 's', 'q', 'u', 'i', 't', 't', 'o', ' ', 'd', 'b'}, make([]byte, 64)...)
	writeFile(t, mosq, string(mosqBytes))
	port := testutil.FreePort(t)
	conf := filepath.Join(dir, "m.conf")
	// user root: started as root, the broker would otherwise run as mosquitto, which may not
	// enter the test's directories (TestServeStoreAsOtherUser covers that).
	writeFile(t, conf, "user root\nlistener "+strconv.Itoa(port)+" 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location "+data+"\nautosave_interval 60\n")
	addr := "127.0.0.1:" + strconv.Itoa(port)

	s := serveConf(t, conf)
	for _, want := range []string{"autosave_interval is not needed: every change is written to the store as it happens",
		mosq + " is Mosquitto's persistence file, which mqtt cannot read",
		"Persistence: " + filepath.Join(data, "mqtt.db")} {
		if !strings.Contains(s.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, s.log)
		}
	}
	pub := testutil.ConnectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "home/mode", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("away")})
	if _, ok := pub.Recv().(*packet.Puback); !ok {
		t.Fatal("no PUBACK")
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.waitLog(" terminating")
	s.cmd.Wait()

	code, stdout, stderr := runArgs("mqtt", "serve", "-c", conf, "--check")
	if code != 0 || !strings.Contains(stdout, filepath.Join(data, "mqtt.db")+": OK: format 2") || !strings.Contains(stdout, "1 retained message,") {
		t.Fatalf("--check: exit %d\n%s%s", code, stdout, stderr)
	}
	serveConf(t, conf)
	sub := testutil.ConnectRaw(t, addr, packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "home/#"})
	if m := sub.RecvPublish(); string(m.Payload) != "away" || !m.Retain {
		t.Fatalf("retained after the restart: %+v", m)
	}
	if b, err := os.ReadFile(mosq); err != nil || string(b) != string(mosqBytes) {
		t.Fatal("Mosquitto's file was changed")
	}

	// Named by persistence_file, Mosquitto's file is refused, and left as it is.
	bad := filepath.Join(dir, "bad.conf")
	writeFile(t, bad, "user root\nlistener "+strconv.Itoa(testutil.FreePort(t))+" 127.0.0.1\npersistence true\npersistence_location "+data+"\npersistence_file mosquitto.db\n")
	code, _, stderr = runArgs("mqtt", "serve", "-c", bad)
	noStackTrace(t, stderr)
	if code == 0 || !strings.Contains(stderr, "store "+mosq+": is a Mosquitto persistence file") {
		t.Fatalf("persistence_file mosquitto.db: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runArgs("mqtt", "serve", "--check"); code != 3 || !strings.Contains(stderr, "--data") { // a serve usage error
		t.Errorf("--check without a store: exit %d %s", code, stderr)
	}
}

// Started as root without a user line, the broker runs as mosquitto (or mqtt); a store in a
// directory that user may not enter is refused with the user named and what to do.
func TestServeStoreAsOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to drop privileges")
	}
	dir := t.TempDir() // 0700, root's
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, "listener "+strconv.Itoa(testutil.FreePort(t))+" 127.0.0.1\npersistence true\npersistence_location "+filepath.Join(dir, "data")+"\n")
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	// A child process: dropping privileges changes the whole process.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := mqttCmd(ctx, "serve", "-c", conf).CombinedOutput()
	stderr := string(out)
	noStackTrace(t, stderr)
	if !strings.Contains(stderr, "Dropped privileges") {
		t.Skipf("no unprivileged user to drop to here:\n%s", stderr)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(stderr, "permission denied (the broker runs as user ") || !strings.Contains(stderr, "chown -R ") {
		t.Fatalf("%v:\n%s", err, stderr)
	}
}

// --data with an empty name is a usage error (exit 3), not a broker
// running in memory, with -c as without.
func TestServeDataEmpty(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "m.conf")
	writeFile(t, conf, "listener "+strconv.Itoa(testutil.FreePort(t))+" 127.0.0.1\n")
	for _, args := range [][]string{{"mqtt", "serve", "-c", conf, "--data", "", "--test-config"}, {"mqtt", "serve", "--data", " ", "--check"}} {
		if code, _, stderr := runArgs(args...); code != 3 || !strings.Contains(stderr, "--data: empty directory name") {
			t.Errorf("%q: exit %d\n%s", args, code, stderr)
		}
	}
}

// Started as root without -c, the broker opens the store before it drops
// privileges; the files it made then belong to the user it runs as, so a
// later start that opens the store after dropping (-c) can use them, and
// so does the directory it made, where it writes as that user (the
// compaction at the stop).
func TestServeDataFilesBelongToTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to drop privileges")
	}
	data := filepath.Join(t.TempDir(), "data")
	port := testutil.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := mqttCmd(ctx, "serve", "-p", strconv.Itoa(port), "--data", data)
	var out testutil.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), " running") && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(out.String(), "Dropped privileges to user ") {
		t.Skipf("no unprivileged user to drop to here:\n%s", out.String())
	}
	for _, f := range []string{data, filepath.Join(data, "mqtt.db"), filepath.Join(data, "mqtt.db-journal")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 {
			t.Errorf("%s belongs to root after a start that ran as another user:\n%s", f, out.String())
		}
	}
}
