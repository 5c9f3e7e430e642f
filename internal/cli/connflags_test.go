package cli

import (
	"crypto/tls"
	"io"
	"reflect"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// parseConn runs the connection flags over args exactly as a subcommand would, including the
// -D argv pre-processing, and returns what connOptionsFrom made of them.
func parseConn(t *testing.T, args ...string) (ConnOptions, error) {
	t.Helper()
	var got ConnOptions
	var gotErr error
	cmd := &ucli.Command{Name: "conn", Flags: connFlags(), Action: func(c *ucli.Context) error {
		got, gotErr = connOptionsFrom(c)
		return nil
	}}
	app := toolApp("conn", cmd, io.Discard, io.Discard)
	if err := app.Run(append([]string{"conn"}, prepareArgs(cmd, args)...)); err != nil {
		return got, err
	}
	return got, gotErr
}

func TestConnOptionsDefaults(t *testing.T) {
	o, err := parseConn(t)
	if err != nil {
		t.Fatal(err)
	}
	want := ConnOptions{Host: "localhost", Port: 1883, ProtocolVersion: ProtocolV311, KeepAlive: 60, CleanSession: true}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", o, want)
	}
}

func TestConnOptionsValid(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o ConnOptions)
	}{
		{"host and port", []string{"-h", "127.0.0.1", "-p", "18830"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Host, "127.0.0.1")
			eq(t, o.Port, 18830)
		}},
		{"long names", []string{"--host", "b", "--port", "1", "--keepalive", "0", "--qos", "2"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Host, "b")
			eq(t, o.Port, 1)
			eq(t, o.KeepAlive, uint16(0))
			eq(t, o.QoS, byte(2))
		}},
		{"version 5", []string{"-V", "5"}, func(t *testing.T, o ConnOptions) { eq(t, o.ProtocolVersion, ProtocolV5) }},
		{"version mqttv5", []string{"-V", "mqttv5"}, func(t *testing.T, o ConnOptions) { eq(t, o.ProtocolVersion, ProtocolV5) }},
		{"version mqttv311", []string{"-V", "mqttv311"}, func(t *testing.T, o ConnOptions) { eq(t, o.ProtocolVersion, ProtocolV311) }},
		{"version 31", []string{"-V", "31"}, func(t *testing.T, o ConnOptions) { eq(t, o.ProtocolVersion, ProtocolV31) }},
		{"version mqttv31", []string{"--protocol-version", "mqttv31"}, func(t *testing.T, o ConnOptions) { eq(t, o.ProtocolVersion, ProtocolV31) }},
		{"clean session off with id", []string{"-c", "-i", "c1"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.CleanSession, false)
			eq(t, o.ClientID, "c1")
			eq(t, o.SessionExpiry, uint32(0)) // v3: no expiry property
		}},
		{"-c v5 without id", []string{"-c", "-V", "5"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.CleanSession, false)
			eq(t, o.SessionExpiry, uint32(SessionExpiryNever))
		}},
		{"-x seconds", []string{"-V", "5", "-x", "30"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.SessionExpiry, uint32(30))
			eq(t, o.ExpirySet, true)
		}},
		{"-x -1", []string{"-V", "5", "-x", "-1"}, func(t *testing.T, o ConnOptions) { eq(t, o.SessionExpiry, uint32(SessionExpiryNever)) }},
		{"-x max", []string{"-V", "5", "-x", "4294967295"}, func(t *testing.T, o ConnOptions) { eq(t, o.SessionExpiry, uint32(SessionExpiryNever)) }},
		{"-x infinity", []string{"-V", "5", "-x", "∞"}, func(t *testing.T, o ConnOptions) { eq(t, o.SessionExpiry, uint32(SessionExpiryNever)) }},
		{"-x 4294967294", []string{"-V", "5", "-x", "4294967294"}, func(t *testing.T, o ConnOptions) { eq(t, o.SessionExpiry, uint32(4294967294)) }},
		{"id prefix", []string{"-I", "pre-"}, func(t *testing.T, o ConnOptions) {
			if !strings.HasPrefix(o.ClientID, "pre-") || len(o.ClientID) <= 4 {
				t.Errorf("client ID %q: want pre- followed by the PID", o.ClientID)
			}
		}},
		{"credentials", []string{"-u", "alice", "-P", "secret"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Username, "alice")
			eq(t, o.HasUsername, true)
			eq(t, o.Password, "secret")
			eq(t, o.HasPassword, true)
		}},
		{"empty username is still a username", []string{"-u", ""}, func(t *testing.T, o ConnOptions) { eq(t, o.HasUsername, true) }},
		{"v5 password without username", []string{"-V", "5", "-P", "x"}, func(t *testing.T, o ConnOptions) { eq(t, o.HasPassword, true) }},
		{"will", []string{"--will-topic", "dead/c1", "--will-payload", "gone", "--will-qos", "1", "--will-retain"}, func(t *testing.T, o ConnOptions) {
			if o.Will == nil {
				t.Fatal("no will")
			}
			eq(t, *o.Will, Will{Topic: "dead/c1", Payload: []byte("gone"), QoS: 1, Retain: true})
		}},
		{"mqtt URL", []string{"-L", "mqtt://bob:pw@broker.example:1884/a/b"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Host, "broker.example")
			eq(t, o.Port, 1884)
			eq(t, o.Username, "bob")
			eq(t, o.Password, "pw")
			eq(t, o.URLTopic, "a/b")
			eq(t, o.TLS == nil, true)
		}},
		{"mqtts URL defaults to 8883 and OS roots", []string{"-L", "mqtts://broker.example/t"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Port, 8883)
			if o.TLS == nil || !o.TLS.UseOSCerts {
				t.Fatalf("TLS = %+v, want OS certificates", o.TLS)
			}
		}},
		// The option given last wins, as in Mosquitto's clients.
		{"-h after -L", []string{"-L", "mqtt://bob:pw@broker.example:1884/a/b", "-h", "x", "-P", "other"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Host, "x")
			eq(t, o.Port, 1884)
			eq(t, o.Username, "bob")
			eq(t, o.Password, "other")
		}},
		{"-L after -h -p -u -P", []string{"-h", "x", "-p", "2", "-u", "u", "-P", "p", "-L", "mqtt://bob@broker.example/a/b"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Host, "broker.example")
			eq(t, o.Port, 1883)
			eq(t, o.Username, "bob")
			eq(t, o.Password, "p")
			eq(t, o.URLTopic, "a/b")
		}},
		{"ws URL", []string{"-L", "ws://127.0.0.1:8080/mqtt-ws"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.WebSocket, true)
			eq(t, o.Port, 8080)
			eq(t, o.WSPath, "/mqtt-ws")
			eq(t, o.URLTopic, "")
		}},
		{"wss URL defaults", []string{"-L", "wss://broker.example"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Port, 443)
			eq(t, o.WSPath, "/mqtt")
			eq(t, o.TLS != nil, true)
		}},
		{"--ws flag", []string{"--ws"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.WebSocket, true)
			eq(t, o.Port, 80)
			eq(t, o.WSPath, "/mqtt")
		}},
		{"unix socket", []string{"--unix", "/run/mqtt.sock"}, func(t *testing.T, o ConnOptions) { eq(t, o.Unix, "/run/mqtt.sock") }},
		{"cafile turns TLS on at 8883", []string{"--cafile", "ca.pem", "--insecure", "--tls-version", "tlsv1.3"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Port, 8883)
			eq(t, *o.TLS, TLSOptions{CAFile: "ca.pem", Insecure: true, MinVersion: tls.VersionTLS13})
		}},
		{"port 8883 implies TLS with OS roots", []string{"-p", "8883"}, func(t *testing.T, o ConnOptions) {
			eq(t, *o.TLS, TLSOptions{UseOSCerts: true, MinVersion: tls.VersionTLS12})
		}},
		{"client certificate", []string{"--cafile", "ca", "--cert", "c.pem", "--key", "k.pem", "-p", "1"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.TLS.CertFile, "c.pem")
			eq(t, o.TLS.KeyFile, "k.pem")
			eq(t, o.Port, 1)
		}},
		{"debug and quiet", []string{"-d", "--quiet"}, func(t *testing.T, o ConnOptions) {
			eq(t, o.Debug, true)
			eq(t, o.Quiet, true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseConn(t, tt.args...)
			if err != nil {
				t.Fatalf("%q: %v", tt.args, err)
			}
			tt.check(t, o)
		})
	}
}

func TestConnOptionsInvalid(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error, naming the flag
	}{
		{[]string{"-q", "3"}, "-q/--qos"},
		{[]string{"-q", "-1"}, "-q/--qos"},
		{[]string{"-q", "x"}, "-q"},
		{[]string{"--will-topic", "w", "--will-qos", "5"}, "--will-qos"},
		{[]string{"-V", "4"}, "-V/--protocol-version"},
		{[]string{"-V", "mqttv6"}, "-V/--protocol-version"},
		{[]string{"-c"}, "-c/--disable-clean-session"},
		{[]string{"-c", "-V", "31"}, "-c/--disable-clean-session"},
		{[]string{"-i", "a", "-I", "b"}, "-I/--id-prefix"},
		{[]string{"-V", "31", "-i", ""}, "-i/--id"},
		{[]string{"-p", "0"}, "-p/--port"},
		{[]string{"-p", "65536"}, "-p/--port"},
		{[]string{"-L", "mqtt://h:70000/t"}, "-p/--port"},
		{[]string{"-k", "65536"}, "-k/--keepalive"},
		{[]string{"-V", "5", "-x", "4294967296"}, "-x/--session-expiry"},
		{[]string{"-V", "5", "-x", "-2"}, "-x/--session-expiry"},
		{[]string{"-V", "5", "-x", "soon"}, "-x/--session-expiry"},
		{[]string{"-P", "secret"}, "-P/--pw needs -u/--username"},
		{[]string{"--will-payload", "x"}, "--will-payload needs --will-topic"},
		{[]string{"--will-retain"}, "--will-retain needs --will-topic"},
		{[]string{"--will-topic", "a/+"}, "--will-topic"},
		{[]string{"--will-topic", ""}, "--will-topic"},
		{[]string{"-L", "http://h/t"}, "-L/--url"},
		{[]string{"-L", "mqtt:///t"}, "-L/--url"},
		{[]string{"-L", "mqtt://h/t", "--unix", "/s"}, "-L/--url cannot be combined with --unix"},
		{[]string{"--unix", "/s", "-p", "1"}, "--unix cannot be combined with -p/--port"},
		{[]string{"--cert", "c.pem", "--cafile", "ca"}, "--cert and --key"},
		{[]string{"--insecure"}, "--insecure needs TLS"},
		{[]string{"--cafile", "ca", "--tls-version", "tlsv9"}, "--tls-version"},
		{[]string{"-h", ""}, "-h/--host"},
		{[]string{"-D", "publish", "content-type", "x", "-V", "311"}, "-D/--property needs MQTT v5"},
		{[]string{"-D", "publish"}, "-D/--property needs CMD IDENT VALUE"},
		{[]string{"-D", "nosuch", "content-type", "x"}, `invalid command "nosuch"`},
		{[]string{"-D", "publish", "no-such-prop", "x"}, `invalid property name "no-such-prop"`},
		{[]string{"-D", "connect", "content-type", "x"}, "content-type is not allowed in CONNECT"},
		{[]string{"-D", "publish", "topic-alias", "70000"}, "topic-alias: value \"70000\" out of range"},
		{[]string{"-D", "publish", "payload-format-indicator", "256"}, "out of range"},
		{[]string{"-D", "subscribe", "subscription-identifier", "0"}, "out of range"},
		{[]string{"-D", "connect", "receive-maximum", "ten"}, "out of range"},
		{[]string{"-D", "will", "content-type", "x"}, "needs --will-topic"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseConn(t, tt.args...)
			if err == nil {
				t.Fatalf("%q: no error, want one containing %q", tt.args, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%q: error %q does not contain %q", tt.args, err, tt.want)
			}
			if exitCodeOf(err) != 1 {
				t.Fatalf("%q: exit code %d, want 1", tt.args, exitCodeOf(err))
			}
		})
	}
}

func TestProperties(t *testing.T) {
	o, err := parseConn(t,
		"-D", "publish", "user-property", "name with space", "a,b",
		"-D", "PUBLISH", "Content-Type", "text/plain",
		"-D", "connect", "session-expiry-interval", "3600",
		"--property", "publish", "correlation-data", "-x",
		"-D", "subscribe", "subscription-identifier", "268435455",
		"-i", "c1",
	)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, o.ProtocolVersion, ProtocolV5) // -D selects v5
	eq(t, o.ClientID, "c1")              // parsing continues after the -D words
	want := []Property{
		{Command: "publish", Name: "user-property", ID: 0x26, Key: "name with space", Value: "a,b"},
		{Command: "publish", Name: "content-type", ID: 0x03, Value: "text/plain"},
		{Command: "connect", Name: "session-expiry-interval", ID: 0x11, Value: "3600", Number: 3600},
		{Command: "publish", Name: "correlation-data", ID: 0x09, Value: "-x"},
		{Command: "subscribe", Name: "subscription-identifier", ID: 0x0B, Value: "268435455", Number: 268435455},
	}
	if !reflect.DeepEqual(o.Properties, want) {
		t.Fatalf("properties:\n got %+v\nwant %+v", o.Properties, want)
	}
	if err := checkPropertyCommands(o.Properties, pubPropertyCommands()); err == nil ||
		!strings.Contains(err.Error(), "SUBSCRIBE") {
		t.Fatalf("pub accepted a SUBSCRIBE property: %v", err)
	}
	if err := checkPropertyCommands(o.Properties[:4], pubPropertyCommands()); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareArgs(t *testing.T) {
	cmd := &ucli.Command{Flags: append([]ucli.Flag{
		&ucli.StringFlag{Name: "message", Aliases: []string{"m"}},
		&ucli.BoolFlag{Name: "retain", Aliases: []string{"r"}},
	}, connFlags()...)}
	j := func(w ...string) string { return strings.Join(w, propSep) }
	tests := []struct {
		in, want []string
	}{
		{[]string{"-D", "publish", "content-type", "x", "-r"}, []string{"--property", j("publish", "content-type", "x"), "--retain"}},
		{[]string{"-D", "publish", "user-property", "k", "v", "-r"}, []string{"--property", j("publish", "user-property", "k", "v"), "--retain"}},
		{[]string{"--property", "connect", "USER-PROPERTY", "k", "v"}, []string{"--property", j("connect", "USER-PROPERTY", "k", "v")}},
		{[]string{"-m", "-D", "-r"}, []string{"--message", "-D", "--retain"}},                                 // -D is -m's value
		{[]string{"-D", "publish"}, []string{"--property", "publish"}},                                        // too few words: reported later
		{[]string{"-D"}, []string{"--property"}},                                                              // the flag package says it needs a value
		{[]string{"--", "-D", "a", "b", "c"}, []string{"--", "-D", "a", "b", "c"}},                            // after --, nothing is an option
		{[]string{"-r", "-D", "a", "b", "c", "d"}, []string{"--retain", "--property", j("a", "b", "c"), "d"}}, // three words unless user-property
		{[]string{"--message=-D", "-D", "a", "b", "c"}, []string{"--message=-D", "--property", j("a", "b", "c")}},
		{[]string{"-q=1", "-zz", "x"}, []string{"--qos=1", "-zz", "x"}}, // unknown options are left for the flag package
		{[]string{"-h", "b", "-host", "c"}, []string{"--host", "b", "--host", "c"}},
	}
	for _, tt := range tests {
		got := prepareArgs(cmd, tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("prepareArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// passwd's -D (delete) is not --property: only that command's own flags count.
	plain := &ucli.Command{Flags: []ucli.Flag{&ucli.BoolFlag{Name: "D"}}}
	in := []string{"-D", "file", "user"}
	if got := prepareArgs(plain, in); !reflect.DeepEqual(got, []string{"--D", "file", "user"}) {
		t.Errorf("prepareArgs for passwd changed %q to %q", in, got)
	}
}

// Mosquitto's tools accept two spellings of one option; urfave alone would refuse them.
func TestMixedSpellings(t *testing.T) {
	o, err := parseConn(t, "-q", "1", "--qos", "2", "-D", "publish", "content-type", "a", "--property", "publish", "response-topic", "r")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, o.QoS, byte(2))
	eq(t, len(o.Properties), 2)
}

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}
