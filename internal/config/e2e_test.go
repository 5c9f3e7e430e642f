package config

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
)

// TestServeConfiguredListeners is the path `mqtt serve -c FILE` takes: Load, BrokerOptions,
// listener.Open for every listener, Broker.ServeListener. It drives TLS (right and wrong CA)
// and a unix socket with mosquitto_pub and websockets with a raw CONNECT.
func TestServeConfiguredListeners(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	ca := testcerts.New(t, "ca")
	wrong := testcerts.New(t, "wrong")
	sockDir, err := os.MkdirTemp("", "mqttc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "m.sock")
	tlsPort, wsPort := testutil.FreePort(t), testutil.FreePort(t)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := "allow_anonymous true\n" +
		"listener " + strconv.Itoa(tlsPort) + " 127.0.0.1\ncertfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\n" +
		"listener " + strconv.Itoa(wsPort) + " 127.0.0.1\nprotocol websockets\n" +
		"listener 0 " + sock + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := Load(conf)
	if err != nil || len(warns) != 0 {
		t.Fatalf("Load: %v %v", err, warns)
	}
	opts, _ := cfg.BrokerOptions()
	b, err := broker.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ln, err := listener.Open(ctx, l.Spec())
		if err != nil {
			t.Fatal(err)
		}
		go func() { // ends when ctx is cancelled
			defer func() { done <- struct{}{} }()
			_ = b.ServeListener(ctx, ln)
		}()
	}
	defer func() {
		cancel()
		for range cfg.Listeners {
			<-done
		}
	}()

	run := func(args ...string) error {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(c, pub, append(args, "-t", "t", "-m", "x", "-q", "1")...).CombinedOutput()
		if err != nil {
			t.Logf("mosquitto_pub %v: %v\n%s", args, err, out)
		}
		return err
	}
	if err := run("-h", "127.0.0.1", "-p", strconv.Itoa(tlsPort), "--cafile", ca.CAFile); err != nil {
		t.Error("TLS publish with the right CA failed")
	}
	if err := run("-h", "127.0.0.1", "-p", strconv.Itoa(tlsPort), "--cafile", wrong.CAFile); err == nil {
		t.Error("TLS publish with the wrong CA succeeded")
	}
	if err := run("--unix", sock); err != nil {
		t.Error("publish over the unix socket failed")
	}

	// Websockets: CONNECT (MQTT 3.1.1, clean session, empty client id) -> CONNACK accepted.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	wc, _, err := websocket.Dial(wctx, "ws://127.0.0.1:"+strconv.Itoa(wsPort)+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	connect := []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0}
	if err := wc.Write(wctx, websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(wctx, wc, websocket.MessageBinary)
	buf := make([]byte, 4)
	if _, err := io.ReadFull(nc, buf); err != nil || buf[0] != 0x20 || buf[3] != 0 {
		t.Fatalf("CONNACK over websockets = %x, %v", buf, err)
	}
}
