package config

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/auth"
	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
)

// running is a broker started from a configuration text the way `mqtt serve -c` starts it:
// Load, BrokerOptions, ListenerSecurity with auth.FileAuth, listener.Open per listener.
type running struct {
	cfg   *Config
	warns []Warning
	addrs []net.Addr // one per listener, in file order
	b     *broker.Broker
}

// serveText writes text to a file, starts a broker from it in-process and stops it when the
// test ends. tune, when not nil, may change the broker options first (only for what cannot
// be waited for in a test, e.g. hours of persistent_client_expiration).
func serveText(t *testing.T, text string, tune func(*broker.Options)) *running {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := Load(conf)
	if err != nil {
		t.Fatalf("Load:\n%s\n%v", text, err)
	}
	opts, more := cfg.BrokerOptions()
	warns = append(warns, more...)
	secs, _, err := cfg.ListenerSecurity()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var lns []net.Listener
	r := &running{cfg: cfg, warns: warns}
	for _, l := range cfg.Listeners {
		ln, err := listener.Open(ctx, l.Spec())
		if err != nil {
			cancel()
			for _, o := range lns {
				o.Close()
			}
			t.Fatal(err)
		}
		lns = append(lns, ln)
		r.addrs = append(r.addrs, ln.Addr())
	}
	fa := auth.NewFileAuth(&auth.ListenerSecurity{Name: "unconfigured"}, slog.New(slog.DiscardHandler))
	if err := fa.Rebind(lns, secs); err != nil {
		t.Fatal(err)
	}
	opts.Authenticator = fa
	if fa.HasACL() {
		opts.Authorizer = fa
	}
	if tune != nil {
		tune(&opts)
	}
	b, err := broker.New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.b = b
	var wg sync.WaitGroup
	for i, ln := range lns {
		lc := cfg.Listeners[i].BrokerConfig()
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.ServeListenerConfig(ctx, ln, lc) }()
	}
	t.Cleanup(func() {
		cancel()
		fa.Close()
		_ = b.Close()
		wg.Wait()
	})
	return r
}

// waitOffline waits until the session of id is held with no connection:
// a client's DISCONNECT is handled after the client has sent it, and a
// message routed before that goes to the connection, not the queue.
func (r *running) waitOffline(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, c := range r.b.Clients() {
			if c.ClientID == id && !c.Connected {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %q did not go offline", id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// addr is the i-th listener's address as "host:port".
func (r *running) addr(i int) string { return r.addrs[i].String() }

// lport returns "listener PORT 127.0.0.1" on a free port.
func lport(t *testing.T) string {
	return "listener " + strconv.Itoa(testutil.FreePort(t)) + " 127.0.0.1\n"
}
