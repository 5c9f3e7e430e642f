package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/auth"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Tests that run the same configuration and clients against `mqtt serve` (invoked as
// mosquitto) and against mosquitto 2.0.11 itself, and compare what they log or answer.

// twins are the two brokers of a comparison: ours (as mosquitto) and mosquitto itself.
type twins struct {
	t         *testing.T
	mosquitto string // the mosquitto binary
	dir       string
}

func newTwins(t *testing.T) *twins {
	return &twins{t: t, mosquitto: testutil.RequireTool(t, "mosquitto"), dir: t.TempDir()}
}

// userLine keeps a broker started as root as root: both would drop to the user mosquitto,
// which cannot read the test's files.
func userLine() string {
	if os.Geteuid() == 0 {
		return "user root\n"
	}
	return ""
}

// start runs one broker ("ours" or "mosquitto") with the configuration conf(port) (plus
// userLine) and waits until it accepts connections.
func (w *twins) start(which string, conf func(port int) string) (*served, string) {
	t := w.t
	t.Helper()
	port := testutil.FreePort(t)
	path := filepath.Join(w.dir, which+strconv.Itoa(port)+".conf")
	writeFile(t, path, conf(port)+userLine())
	var s *served
	if which == "ours" {
		s = startServe(t, "mosquitto", "-c", path)
	} else {
		s = startCmd(t, exec.Command(w.mosquitto, "-c", path))
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitAccepting(t, addr)
	return s, addr
}

// stop ends a broker with SIGTERM and waits for it, so that its log is complete.
func (s *served) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("the broker did not stop on SIGTERM; log:\n%s", s.log)
	}
}

// startCmd runs cmd (a broker) until the test ends, its output in the log.
func startCmd(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	s := &served{t: t, cmd: cmd, log: &testutil.LockedBuffer{}}
	s.cmd.Stderr, s.cmd.Stdout = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(cmd.Path), s.log)
		}
	})
	return s
}

var (
	reAddr    = regexp.MustCompile(`(127\.0\.0\.1|\[::1\]|::1):\d+`)
	reVersion = regexp.MustCompile(`mosquitto version \S+`)
	reConf    = regexp.MustCompile(`from \S+\.conf\.`)
	rePort    = regexp.MustCompile(`port \d+`)
	reStamp   = regexp.MustCompile(`(?m)^\d+: `)
)

// normalizedLog is a broker's log without what differs between runs and brokers by nature:
// addresses, ports, version, configuration file name; without the lines about running as
// root, which each words its own way, and our debug line saying why a login failed. Sorted: the two brokers need not interleave clients the
// same way.
func normalizedLog(log string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if l == "" || strings.Contains(l, "root") || strings.HasPrefix(l, "Dropped privileges") ||
			strings.HasPrefix(l, "Authentication failed for client") { // ours, at debug level: why
			continue
		}
		// A wrong password is CONNACK 4 here, 5 in Mosquitto: a difference of mqtt-serve(1).
		l = strings.Replace(l, "Sending CONNACK to 127.0.0.1 (0, 4)", "Sending CONNACK to 127.0.0.1 (0, 5)", 1)
		l = reAddr.ReplaceAllString(l, "ADDR")
		l = reVersion.ReplaceAllString(l, "mosquitto version V")
		l = reConf.ReplaceAllString(l, "from CONF.")
		l = rePort.ReplaceAllString(l, "port P")
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// logScenario is what the clients do in TestServeLogTypesAsMosquitto: a subscription to two
// filters, an unsubscription, a QoS 1 message, a wrong password, a session taken over.
func logScenario(t *testing.T, addr string) {
	t.Helper()
	login := func(id, password string) (*testutil.Raw, *packet.Connack) {
		r := testutil.DialRaw(t, addr, packet.V311)
		return r, r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60,
			UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte(password)})
	}
	ok := func(id string) *testutil.Raw {
		r, ack := login(id, "secret")
		if ack.ReasonCode != packet.Success {
			t.Fatalf("%s: CONNACK %v", id, ack.ReasonCode)
		}
		return r
	}
	bye := func(r *testutil.Raw) {
		r.Send(&packet.Disconnect{})
		r.ExpectClosed(5 * time.Second)
	}
	sub := ok("subber")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/b", QoS: 1}, packet.Subscription{Filter: "c"})
	sub.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"c"}})
	sub.Recv()
	pub := ok("pubber")
	pub.Send(&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 1, Payload: []byte("x")})
	pub.Recv()
	m := sub.RecvPublish()
	sub.Send(&packet.Puback{PacketID: m.PacketID})
	bye(pub)
	bad, ack := login("badpw", "wrong")
	if ack.ReasonCode == packet.Success {
		t.Fatal("a wrong password was accepted")
	}
	bad.ExpectClosed(5 * time.Second)
	first := ok("same")
	second := ok("same")
	first.ExpectClosed(5 * time.Second)
	bye(second)
	bye(sub)
}

// log_type categories are independent switches that put each line where Mosquitto puts it:
// for each category alone, for the default (no log_type line) and for all (the packet trace
// of -v), ours logs what mosquitto logs for the same clients.
func TestServeLogTypesAsMosquitto(t *testing.T) {
	w := newTwins(t)
	hash, err := auth.HashPBKDF2("secret", 101)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(w.dir, "passwd")
	writeFile(t, pw, "alice:"+hash+"\n")
	for _, lt := range []string{"", "error", "warning", "notice", "information", "subscribe", "unsubscribe", "none", "all"} {
		t.Run("log_type "+lt, func(t *testing.T) {
			w.t = t
			conf := func(port int) string {
				c := fmt.Sprintf("listener %d 127.0.0.1\npassword_file %s\nlog_timestamp false\n", port, pw)
				if lt != "" {
					c += "log_type " + lt + "\n"
				}
				return c
			}
			logs := map[string][]string{}
			for _, which := range []string{"mosquitto", "ours"} {
				s, addr := w.start(which, conf)
				logScenario(t, addr)
				s.stop()
				logs[which] = normalizedLog(s.log.String())
			}
			if !slices.Equal(logs["ours"], logs["mosquitto"]) {
				t.Errorf("log_type %q: ours logs\n\t%s\nmosquitto logs\n\t%s", lt,
					strings.Join(logs["ours"], "\n\t"), strings.Join(logs["mosquitto"], "\n\t"))
			}
		})
	}
}

// Without -c the broker logs what mosquitto logs without a configuration (connections
// included), and SIGHUP, which has nothing to reload, is logged as mosquitto logs it and
// keeps it running.
func TestServeWithoutConfigAsMosquitto(t *testing.T) {
	bin := testutil.RequireTool(t, "mosquitto")
	logs := map[string][]string{}
	for _, which := range []string{"mosquitto", "ours"} {
		port := testutil.FreePort(t)
		var s *served
		if which == "ours" {
			s = startServe(t, "mosquitto", "-p", strconv.Itoa(port))
		} else {
			s = startCmd(t, exec.Command(bin, "-p", strconv.Itoa(port)))
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		waitAccepting(t, addr)
		c := testutil.ConnectRaw(t, addr, packet.V311, "plain")
		c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/b"})
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("Reloading config.")
		c.Send(&packet.Pingreq{}) // still served after SIGHUP
		if _, ok := c.Recv().(*packet.Pingresp); !ok {
			t.Fatalf("%s: no PINGRESP after SIGHUP", which)
		}
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(5 * time.Second)
		s.stop()
		if s.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("%s: exit status %d after SIGHUP and SIGTERM", which, s.cmd.ProcessState.ExitCode())
		}
		logs[which] = normalizedLog(reStamp.ReplaceAllString(s.log.String(), ""))
	}
	if !slices.Equal(logs["ours"], logs["mosquitto"]) {
		t.Errorf("without -c ours logs\n\t%s\nmosquitto logs\n\t%s", strings.Join(logs["ours"], "\n\t"), strings.Join(logs["mosquitto"], "\n\t"))
	}
}

// The exit status of a bad command line is mosquitto's: 3.
func TestServeUsageExitsAsMosquitto(t *testing.T) {
	bin := testutil.RequireTool(t, "mosquitto")
	for _, args := range [][]string{{"--bogus"}, {"-p", "0"}, {"-p", "70000"}, {"-p", "abc"}, {"extra"}, {"-c"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		real := runCmd(t, exec.CommandContext(ctx, bin, args...), nil)
		ours := runCmd(t, progCmd(ctx, "mosquitto", args...), nil)
		cancel()
		if real.code != 3 || ours.code != real.code {
			t.Errorf("mosquitto %v: mosquitto exits %d, we %d (%s)", args, real.code, ours.code, ours.stderr)
		}
	}
}

// A password file with bad lines does not stop the broker: as mosquitto, it skips them and
// the other users log in, at start and after SIGHUP; our warnings name FILE:LINE.
func TestServePasswordFileBadLinesAsMosquitto(t *testing.T) {
	w := newTwins(t)
	hash := func(pw string) string {
		h, err := auth.HashPBKDF2(pw, 101)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	alice, bob := "alice:"+hash("secret"), "bob:"+hash("hunter2")
	files := []string{
		// garbage, an empty user, a broken $7$ hash, a plain-text password, a $6$ without hash
		alice + "\ngarbage\n:nouser\ndave:$7$101$abc\neve:secret\nfrank:$6$x\n" + bob + "\n",
		// after SIGHUP: bob's entry broken, alice listed again with another password, carol added
		alice + "\nbob:$7$101$broken\n" + "alice:" + hash("changed") + "\ncarol:" + hash("pass3") + "\nmore garbage\n",
	}
	logins := [][3]string{{"alice", "secret"}, {"alice", "changed"}, {"bob", "hunter2"}, {"carol", "pass3"}, {"dave", "x"}, {"eve", "secret"}, {"nouser", ""}}
	try := func(addr string) []string {
		var got []string
		for _, l := range logins {
			r := testutil.DialRaw(t, addr, packet.V311)
			ack := r.Connect(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60,
				UsernameFlag: true, Username: l[0], PasswordFlag: true, Password: []byte(l[1])})
			got = append(got, fmt.Sprintf("%s/%s:%v", l[0], l[1], ack.ReasonCode == packet.Success))
			r.NC.Close()
		}
		return got
	}
	results := map[string][][]string{}
	var ours *served
	for _, which := range []string{"mosquitto", "ours"} {
		pw := filepath.Join(w.dir, which+".passwd")
		writeFile(t, pw, files[0])
		s, addr := w.start(which, func(port int) string {
			return fmt.Sprintf("listener %d 127.0.0.1\npassword_file %s\n", port, pw)
		})
		results[which] = append(results[which], try(addr))
		writeFile(t, pw, files[1])
		n := strings.Count(s.log.String(), "Reloading config.")
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog("Reloading config.", n+1)
		// The reload is done when carol, added by it, can log in (mosquitto says nothing then).
		for deadline := time.Now().Add(10 * time.Second); ; {
			r := testutil.DialRaw(t, addr, packet.V311)
			ack := r.Connect(&packet.Connect{ClientID: "c", CleanStart: true, UsernameFlag: true, Username: "carol", PasswordFlag: true, Password: []byte("pass3")})
			r.NC.Close()
			if ack.ReasonCode == packet.Success {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: carol cannot log in after SIGHUP", which)
			}
			time.Sleep(20 * time.Millisecond)
		}
		results[which] = append(results[which], try(addr))
		if which == "ours" {
			ours = s
		}
	}
	for i := range files {
		if !slices.Equal(results["ours"][i], results["mosquitto"][i]) {
			t.Errorf("file %d: logins here %v, mosquitto %v", i+1, results["ours"][i], results["mosquitto"][i])
		}
	}
	pw := filepath.Join(w.dir, "ours.passwd")
	for _, want := range []string{pw + ":2: no ':'", pw + ":3: user \"nouser\" has no password hash", pw + ":4: user \"dave\": malformed $7$ hash",
		pw + ":5: plain-text password for user \"eve\"", pw + ":6: user \"frank\": malformed $6$ hash",
		pw + ":2: user \"bob\": malformed $7$ hash", pw + ":3: user \"alice\" is listed again (first at line 1)", pw + ":5: no ':'"} {
		if !strings.Contains(ours.log.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// use_subject_as_username gives the username mosquitto gives (RFC 2253 order, OpenSSL's
// escapes, multi-valued RDNs, UTF-8 as \XX), so that an ACL written for mosquitto grants the
// same; "New client connected" names it as mosquitto does.
func TestServeSubjectAsUsernameAsMosquitto(t *testing.T) {
	w := newTwins(t)
	ca := testcerts.New(t, "subjects")
	name := func(sets ...pkix.RelativeDistinguishedNameSET) []byte {
		b, err := asn1.Marshal(pkix.RDNSequence(sets))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	atv := func(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(v)}}
	}
	cn, o, ou := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}
	clients := []struct {
		subject []byte
		user    string // as mosquitto 2.0.11 gives it
	}{
		{name(pkix.RelativeDistinguishedNameSET{atv(cn, "alice")}, pkix.RelativeDistinguishedNameSET{atv(o, "Home")}), "O=Home,CN=alice"},
		{name(pkix.RelativeDistinguishedNameSET{atv(o, "x")}, pkix.RelativeDistinguishedNameSET{atv(cn, `a,b+c<d>;e`)}), `CN=a\,b\+c\<d\>\;e,O=x`},
		{name(pkix.RelativeDistinguishedNameSET{atv(cn, "Müller"), atv(ou, "dev")}), `CN=M\C3\BCller+OU=dev`},
	}
	var acl strings.Builder
	certs := make([]tls.Certificate, len(clients))
	for i, c := range clients {
		fmt.Fprintf(&acl, "user %s\ntopic readwrite ok/%d\n", c.user, i)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), RawSubject: c.subject,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.CA, &key.PublicKey, ca.CAKey)
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	aclFile := filepath.Join(w.dir, "acl")
	writeFile(t, aclFile, acl.String())
	for _, which := range []string{"mosquitto", "ours"} {
		s, addr := w.start(which, func(port int) string {
			return fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_subject_as_username true\nacl_file %s\n",
				port, ca.CAFile, ca.ServerCert, ca.ServerKey, aclFile)
		})
		for i, c := range clients {
			nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{certs[i]}})
			if err != nil {
				t.Fatalf("%s: %v", which, err)
			}
			r := testutil.NewRaw(t, nc, packet.V311)
			id := fmt.Sprint("cert", i)
			if ack := r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); ack.ReasonCode != packet.Success {
				t.Fatalf("%s: %s refused: %v", which, c.user, ack.ReasonCode)
			}
			// The ACL names the user: the message comes back only if the username is right.
			topic := fmt.Sprint("ok/", i)
			r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: topic})
			r.Send(&packet.Publish{Topic: topic, Payload: []byte("x")})
			if p := r.RecvPublish(); p.Topic != topic {
				t.Fatalf("%s: got %q", which, p.Topic)
			}
			s.waitLog("as " + id + " (p2, c1, k60, u'" + c.user + "').")
			nc.Close()
		}
	}
}

// A connection over max_connections is logged as mosquitto logs it (the address without the
// port).
func TestServeMaxConnectionsAsMosquitto(t *testing.T) {
	w := newTwins(t)
	for _, which := range []string{"mosquitto", "ours"} {
		s, addr := w.start(which, func(port int) string {
			return fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_connections 1\n", port)
		})
		// Connect until one is refused (mosquitto's count lags behind closed connections).
		refused := false
		for i := 0; i < 5 && !refused; i++ {
			r := testutil.DialRaw(t, addr, packet.V311)
			r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: fmt.Sprint("c", i), CleanStart: true, KeepAlive: 60})
			_, err := r.RecvErr(5 * time.Second)
			refused = err != nil
		}
		if !refused {
			t.Fatalf("%s: max_connections 1 refused none of 5 connections", which)
		}
		s.waitLog("Client connection from 127.0.0.1 denied: max_connections exceeded.\n")
	}
}

// A broker restart (SIGTERM, start again) does not end an MQTT 5 mosquitto_sub: the broker
// closes the connection without DISCONNECT 0x8B, as mosquitto 2.0.11 does, and mosquitto_sub
// reconnects (on a server DISCONNECT it exits 0).
func TestServeRestartKeepsV5Subscriber(t *testing.T) {
	sub := testutil.RequireTool(t, "mosquitto_sub")
	pub := testutil.RequireTool(t, "mosquitto_pub")
	dir := t.TempDir()
	port := strconv.Itoa(testutil.FreePort(t))
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, "listener "+port+" 127.0.0.1\nallow_anonymous true\nlog_type all\n"+userLine())
	s := serveConf(t, conf)
	wait := bgTool(t, sub, "-p", port, "-V", "5", "-i", "restart-sub", "-t", "a", "-C", "1")
	s.waitLog("restart-sub 0 a")
	s.stop()
	s = serveConf(t, conf)
	s.waitLog("restart-sub 0 a") // it came back and subscribed again
	if r := tool(t, pub, "-p", port, "-t", "a", "-m", "back"); r.code != 0 {
		t.Fatalf("mosquitto_pub: exit %d %s", r.code, r.stderr)
	}
	if r := wait(); r.code != 0 || string(r.stdout) != "back\n" {
		t.Errorf("mosquitto_sub -V 5 across a restart: exit %d, stdout %q, stderr %q; want 0 and the message published after it", r.code, r.stdout, r.stderr)
	}
}

// Each listener is announced in mosquitto 2.0.11's words whether the binary runs as mqtt or as
// mosquitto: family and port, without the bind address (listener PORT ADDRESS included),
// websockets, an unspecified address as one line per family, a unix socket by its path.
func TestServeListenBannerAsMosquitto(t *testing.T) {
	w := newTwins(t)
	ipv6 := true
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		ln.Close()
	}
	ports := make([]int, 4)
	for i := range ports {
		ports[i] = testutil.FreePort(t)
	}
	conf := func(sock string) string {
		c := fmt.Sprintf("listener %d 127.0.0.1\nlistener %d 127.0.0.1\nprotocol websockets\nlistener %d\nlistener 0 %s\n", ports[0], ports[1], ports[2], sock)
		if ipv6 {
			c += fmt.Sprintf("listener %d ::1\n", ports[3])
		}
		return c + "allow_anonymous true\n" + userLine()
	}
	sockDir, err := os.MkdirTemp("", "mqb") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	opening := func(log, sock string) []string {
		var out []string
		for _, l := range strings.Split(reStamp.ReplaceAllString(log, ""), "\n") {
			if strings.HasPrefix(l, "Opening ") {
				for i, p := range ports {
					l = strings.ReplaceAll(l, "port "+strconv.Itoa(p)+".", fmt.Sprintf("port P%d.", i))
				}
				out = append(out, strings.ReplaceAll(l, sock, "SOCK"))
			}
		}
		slices.Sort(out)
		return out
	}
	run := func(which string) []string {
		sock := filepath.Join(sockDir, which)
		path := filepath.Join(w.dir, which+".conf")
		writeFile(t, path, conf(sock))
		var s *served
		if which == "ours" {
			s = serveArgs(t, "mqtt", "serve", "-c", path)
		} else {
			s = startCmd(t, exec.Command(w.mosquitto, "-c", path))
			s.waitLog(" running\n")
		}
		s.stop()
		return opening(s.log.String(), sock)
	}
	theirs := run("mosquitto")
	ours := run("ours")
	if len(theirs) < 5 || !slices.Equal(ours, theirs) {
		t.Errorf("listen lines differ:\nmqtt serve:\n  %s\nmosquitto 2.0.11:\n  %s", strings.Join(ours, "\n  "), strings.Join(theirs, "\n  "))
	}
	if !slices.Contains(ours, "Opening ipv4 listen socket on port P0.") {
		t.Errorf("listener PORT 127.0.0.1 is not announced as Mosquitto does: %q", ours)
	}
}
