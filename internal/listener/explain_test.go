package listener

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
)

// handshakeFailure opens a TLS listener, lets client run against it and returns the error the
// accepted connection's first Read gets.
func handshakeFailure(t *testing.T, ca *testcerts.Set, client func(port string)) error {
	t.Helper()
	l := openT(t, Spec{Network: "tcp4", TLS: tlsSpec(ca)})
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		errc <- err
	}()
	client(strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	select {
	case err := <-errc:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("no handshake result")
		return nil
	}
}

// A client that does not trust the server's certificate: the error says so and names the
// certfile whose issuer the client's CA file must hold, whatever TLS version and alert the
// client used (mosquitto_pub and openssl s_client, TLS 1.3 and 1.2).
func TestHandshakeRejectedCertificateExplained(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	openssl := testutil.RequireTool(t, "openssl")
	ca := testcerts.New(t, "right-ca")
	wrong := testcerts.New(t, "wrong-ca")
	run := func(bin string, args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		_ = cmd.Run() // fails, as it should
	}
	for name, client := range map[string]func(port string){
		"mosquitto_pub": func(port string) {
			run(pub, "-h", "127.0.0.1", "-p", port, "--cafile", wrong.CAFile, "-t", "t", "-m", "x")
		},
		"openssl TLS 1.3": func(port string) {
			run(openssl, "s_client", "-connect", "127.0.0.1:"+port, "-CAfile", wrong.CAFile, "-verify_return_error", "-tls1_3")
		},
		"openssl TLS 1.2": func(port string) {
			run(openssl, "s_client", "-connect", "127.0.0.1:"+port, "-CAfile", wrong.CAFile, "-verify_return_error", "-tls1_2")
		},
	} {
		err := handshakeFailure(t, ca, client)
		var he *HandshakeError
		if !errors.As(err, &he) {
			t.Errorf("%s: %T %v, want a *HandshakeError", name, err, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "the client rejected the server's certificate") || !strings.Contains(msg, "certfile "+ca.ServerCert) || !strings.Contains(msg, "CN=right-ca") {
			t.Errorf("%s: %s", name, msg)
		}
	}
}

// A plain MQTT client on a TLS port is told apart too.
func TestHandshakePlainClientExplained(t *testing.T) {
	ca := testcerts.New(t, "ca")
	err := handshakeFailure(t, ca, func(port string) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"))
		_, _ = c.Read(make([]byte, 64))
	})
	if err == nil || !strings.Contains(err.Error(), "the client does not speak TLS") {
		t.Errorf("plain client on a TLS port: %v", err)
	}
}
