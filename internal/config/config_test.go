package config

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
)

// files writes name -> content into a temporary directory and returns its path.
func files(t *testing.T, m map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range m {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustParse(t *testing.T, text string) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := Parse("test.conf", []byte(text))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror:\n%v", text, err)
	}
	return cfg, warns
}

func TestOperatorConfig(t *testing.T) {
	ca := testcerts.New(t, "ca")
	dir := files(t, map[string]string{
		"passwd":               "",
		"acl":                  "topic read #\n",
		"conf.d/10-tls.conf":   "listener 8883 127.0.0.1\ncertfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\ncafile " + ca.CAFile + "\nrequire_certificate true\nuse_identity_as_username true\ntls_version tlsv1.3\n",
		"conf.d/20-ws.conf":    "listener 8080\nprotocol websockets\nmax_connections 100\n",
		"conf.d/ignored.txt":   "this is not read\n",
		"conf.d/05-first.conf": "max_inflight_messages 7\n",
	})
	text := strings.Join([]string{
		"# an operator's configuration",
		"",
		"   # indented comment",
		"per_listener_settings false",
		"allow_anonymous false",
		"password_file " + filepath.Join(dir, "passwd"),
		"acl_file " + filepath.Join(dir, "acl"),
		"persistence true",
		"persistence_location /var/lib/mosquitto/",
		"autosave_interval 60",
		"persistent_client_expiration 2w",
		"sys_interval 0",
		"max_queued_messages 5000",
		"max_queued_bytes 1M",
		"message_size_limit 1024",
		"max_packet_size 2048",
		"max_keepalive 120",
		"retain_available false",
		"log_dest stdout",
		"log_dest file /var/log/mqtt.log",
		"log_type error",
		"log_type warning",
		"connection_messages false",
		"pid_file /run/mqtt.pid",
		"user nobody",
		"set_tcp_nodelay true",
		"",
		"listener 1883 0.0.0.0",
		"max_qos 1",
		"mount_point tenant1/",
		"listener 0 /run/mqtt.sock",
		"include_dir " + filepath.Join(dir, "conf.d"),
	}, "\n")
	cfg, warns := mustParse(t, text)
	// Directives the broker does not apply (yet) are warned about by name, where written.
	var warned []string
	for _, w := range warns {
		warned = append(warned, w.Directive)
	}
	if got := strings.Join(warned, " "); got != "autosave_interval set_tcp_nodelay" {
		t.Errorf("warnings for %s: %v", got, warns)
	}
	if cfg.LocalOnly || cfg.Security.AllowAnonymous || cfg.Security.PasswordFile == "" || cfg.Security.ACLFile == "" {
		t.Errorf("security = %+v, local only %v", cfg.Security, cfg.LocalOnly)
	}
	if !cfg.Persistence || cfg.AutosaveInterval != time.Minute || cfg.PersistentClientExpiration != 14*24*time.Hour || cfg.SysInterval != 0 {
		t.Errorf("persistence/sys settings wrong: %+v", cfg)
	}
	if cfg.MaxInflightMessages != 7 || cfg.MaxQueuedMessages != 5000 || cfg.MaxQueuedBytes != 1<<20 || cfg.MessageSizeLimit != 1024 || cfg.MaxPacketSize != 2048 || cfg.MaxKeepalive != 120 || cfg.RetainAvailable {
		t.Errorf("limits wrong: %+v", cfg)
	}
	if len(cfg.LogDest) != 2 || cfg.LogDest[0].Kind != "stdout" || cfg.LogDest[1].Kind != "file" || cfg.LogDest[1].Path != "/var/log/mqtt.log" || cfg.LogDest[1].Pos.Line != 20 {
		t.Errorf("log_dest = %+v", cfg.LogDest)
	}
	if strings.Join(cfg.LogType, ",") != "error,warning" || cfg.ConnectionMessages || cfg.PIDFile != "/run/mqtt.pid" || cfg.User != "nobody" {
		t.Errorf("log/process settings wrong: %+v", cfg)
	}
	if p, ok := cfg.IsSet("max_queued_messages"); !ok || p.Line != 13 {
		t.Errorf("IsSet(max_queued_messages) = %v, %v", p, ok)
	}
	if _, ok := cfg.IsSet("max_inflight_bytes"); ok {
		t.Error("IsSet reports a directive that is not in the file")
	}

	if len(cfg.Listeners) != 4 {
		t.Fatalf("listeners = %d, want 4: %+v", len(cfg.Listeners), cfg.Listeners)
	}
	l0, l1, l2, l3 := cfg.Listeners[0], cfg.Listeners[1], cfg.Listeners[2], cfg.Listeners[3]
	if l0.Port != 1883 || l0.Address != "0.0.0.0" || l0.MaxQoS != 1 || l0.MountPoint != "tenant1/" || l0.Pos.Line != 28 || l0.Security.AllowAnonymous {
		t.Errorf("listener 1883 = %+v", l0)
	}
	if l1.UnixPath != "/run/mqtt.sock" || l1.Port != 0 || l1.MaxQoS != 2 || l1.MountPoint != "" {
		t.Errorf("unix listener = %+v", l1)
	}
	if !l2.TLS.Enabled() || !l2.TLS.RequireCertificate || !l2.TLS.UseIdentityAsUsername || l2.TLS.Version != "tlsv1.3" || l2.Port != 8883 || !strings.HasSuffix(l2.Pos.File, "10-tls.conf") {
		t.Errorf("TLS listener = %+v", l2)
	}
	if l3.Protocol != "websockets" || l3.MaxConnections != 100 || l3.Port != 8080 {
		t.Errorf("websocket listener = %+v", l3)
	}
	if s := l2.Spec(); s.Network != "tcp" || s.Address != "127.0.0.1:8883" || s.TLS == nil || !s.TLS.RequireCertificate || s.TLS.MinVersion != "tlsv1.3" {
		t.Errorf("TLS spec = %+v", s)
	}
	if s := l1.Spec(); s.Network != "unix" || s.Address != "/run/mqtt.sock" || s.TLS != nil || s.UnixMode != 0o770 {
		t.Errorf("unix spec = %+v", s)
	}
}

func TestDefaults(t *testing.T) {
	t.Run("empty file: local only, anonymous allowed", func(t *testing.T) {
		cfg, _ := mustParse(t, "# nothing\n")
		if !cfg.LocalOnly || len(cfg.Listeners) != 2 {
			t.Fatalf("local only = %v, listeners %+v", cfg.LocalOnly, cfg.Listeners)
		}
		if a := cfg.Listeners[0].Spec().Address; a != "127.0.0.1:1883" {
			t.Errorf("first local listener = %s", a)
		}
		if a := cfg.Listeners[1]; a.Spec().Address != "[::1]:1883" || !a.Optional {
			t.Errorf("second local listener = %+v", a)
		}
		if !cfg.Security.AllowAnonymous || !cfg.Listeners[0].Security.AllowAnonymous {
			t.Error("local-only mode must allow anonymous clients by default")
		}
		if cfg.MaxInflightMessages != 20 || cfg.MaxQueuedMessages != 1000 || cfg.MaxKeepalive != 65535 || !cfg.RetainAvailable ||
			cfg.SysInterval != 10*time.Second || cfg.AutosaveInterval != 1800*time.Second || cfg.PersistenceFile != "mosquitto.db" ||
			!cfg.Security.AllowZeroLengthClientID || cfg.Security.AutoIDPrefix != "auto-" || !cfg.ConnectionMessages || !cfg.LogTimestamp ||
			!cfg.CheckRetainSource || len(cfg.LogDest) != 1 || cfg.LogDest[0].Kind != "stderr" {
			t.Errorf("defaults differ from Mosquitto 2: %+v", cfg)
		}
		l := cfg.Listeners[0]
		if l.MaxConnections != -1 || l.MaxQoS != 2 || l.MaxTopicAlias != 10 || l.Protocol != "mqtt" {
			t.Errorf("listener defaults differ from Mosquitto 2: %+v", l)
		}
	})
	t.Run("a listener turns anonymous off", func(t *testing.T) {
		cfg, _ := mustParse(t, "listener 1883\n")
		if cfg.LocalOnly || len(cfg.Listeners) != 1 || cfg.Listeners[0].Security.AllowAnonymous {
			t.Fatalf("cfg = %+v", cfg)
		}
		if s := cfg.Listeners[0].Spec(); s.Address != ":1883" || s.Network != "tcp" {
			t.Errorf("spec = %+v", s)
		}
	})
	t.Run("socket_domain", func(t *testing.T) {
		cfg, _ := mustParse(t, "listener 1883\nsocket_domain ipv6\n")
		if s := cfg.Listeners[0].Spec(); s.Network != "tcp6" {
			t.Errorf("spec = %+v", s)
		}
		// Alone, socket_domain creates Mosquitto 2.0's default listener: 1883 on every IPv4
		// interface (not local only mode), refusing anonymous clients unless told otherwise.
		cfg, _ = mustParse(t, "socket_domain ipv4\n")
		if len(cfg.Listeners) != 1 || cfg.Listeners[0].Spec().Address != ":1883" || cfg.Listeners[0].Spec().Network != "tcp4" || cfg.LocalOnly || cfg.Security.AllowAnonymous {
			t.Errorf("listeners = %+v", cfg.Listeners)
		}
	})
	t.Run("deprecated port", func(t *testing.T) {
		cfg, warns := mustParse(t, "port 1884\nbind_address 127.0.0.1\nmax_connections 5\n")
		if len(cfg.Listeners) != 1 || !cfg.Listeners[0].Default || cfg.Listeners[0].Port != 1884 || cfg.Listeners[0].Address != "127.0.0.1" || cfg.Listeners[0].MaxConnections != 5 {
			t.Fatalf("listeners = %+v", cfg.Listeners)
		}
		if cfg.LocalOnly || cfg.Security.AllowAnonymous {
			t.Error("port turns off local-only mode and anonymous access")
		}
		if len(warns) != 2 || !strings.Contains(warns[0].String(), "test.conf:1: port is deprecated") {
			t.Errorf("warnings = %v", warns)
		}
	})
	t.Run("listener setting before the first listener", func(t *testing.T) {
		cfg, warns := mustParse(t, "max_qos 1\nlistener 1884\n")
		if len(cfg.Listeners) != 2 || cfg.Listeners[0].Port != 1883 || cfg.Listeners[0].MaxQoS != 1 || cfg.Listeners[1].MaxQoS != 2 {
			t.Fatalf("listeners = %+v", cfg.Listeners)
		}
		if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "test.conf:1: max_qos: before the first \"listener\" line this creates a default listener") {
			t.Errorf("warnings = %v", warns)
		}
	})
}

func TestPerListenerSettings(t *testing.T) {
	dir := files(t, map[string]string{"pw1": "", "pw2": "", "acl": ""})
	cfg, warns := mustParse(t, strings.Join([]string{
		"per_listener_settings true",
		"acl_file " + filepath.Join(dir, "acl"), // before any listener: lost, as in Mosquitto 2.0
		"listener 1884",
		"password_file " + filepath.Join(dir, "pw1"),
		"allow_anonymous true",
		"listener 1885",
		"password_file " + filepath.Join(dir, "pw2"),
		"auto_id_prefix dev-",
		"allow_zero_length_clientid false",
	}, "\n"))
	if len(cfg.Listeners) != 2 {
		t.Fatalf("listeners = %+v", cfg.Listeners)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "test.conf:2: acl_file: has no effect") {
		t.Errorf("warnings = %v", warns)
	}
	a, b := cfg.Listeners[0].Security, cfg.Listeners[1].Security
	if !strings.HasSuffix(a.PasswordFile, "pw1") || !a.AllowAnonymous || a.ACLFile != "" || a.AutoIDPrefix != "auto-" || !a.AllowZeroLengthClientID {
		t.Errorf("listener 1884 security = %+v", a)
	}
	if !strings.HasSuffix(b.PasswordFile, "pw2") || b.AllowAnonymous || b.AutoIDPrefix != "dev-" || b.AllowZeroLengthClientID {
		t.Errorf("listener 1885 security = %+v", b)
	}

	// Without per_listener_settings, security is global even when written under a listener.
	cfg, _ = mustParse(t, "listener 1883\nallow_anonymous true\nlistener 1884\n")
	if !cfg.Listeners[0].Security.AllowAnonymous || !cfg.Listeners[1].Security.AllowAnonymous {
		t.Errorf("global allow_anonymous not applied to every listener: %+v", cfg.Listeners)
	}
}

func TestIncludeDirOrder(t *testing.T) {
	dir := files(t, map[string]string{
		"d/b.conf": "listener 2\n",
		"d/a.conf": "listener 1\n",
		"d/c.conf": "listener 3\ninclude_dir /nonexistent\n",
	})
	cfg, warns := mustParse(t, "include_dir "+filepath.Join(dir, "d")+"\n")
	var ports []int
	for _, l := range cfg.Listeners {
		ports = append(ports, l.Port)
	}
	if len(ports) != 3 || ports[0] != 1 || ports[1] != 2 || ports[2] != 3 {
		t.Errorf("ports = %v, want lexical file order 1 2 3", ports)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "c.conf:2: include_dir: only read from the main") {
		t.Errorf("warnings = %v", warns)
	}
}

func TestBadConfigs(t *testing.T) {
	ca := testcerts.New(t, "ca")
	dir := files(t, map[string]string{"pw": "", "sub/x": ""})
	missing := filepath.Join(dir, "missing.pem")
	tls := "certfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown directive", "listener 1883\n\nfoo bar\n", `test.conf:3: unknown directive "foo"`},
		{"plugin", "listener 1\nplugin /usr/lib/mosquitto_dynamic_security.so\nplugin_opt_config_file /x.json\n", `test.conf:2: plugin /usr/lib/mosquitto_dynamic_security.so: plugins are not supported yet`},
		{"auth_plugin", "auth_plugin /x.so\nauth_opt_backends files\nauth_plugin_deny_special_chars true\n", `test.conf:1: auth_plugin /x.so: plugins are not supported yet`},
		{"unknown 2.1 directive", "accept_protocol_versions 5\n", `test.conf:1: unknown directive "accept_protocol_versions"`},
		{"max_qos range", "listener 1883\nmax_qos 7\n", `test.conf:2: max_qos: expected 0, 1 or 2, got "7"`},
		{"max_qos word", "max_qos two\n", `test.conf:1: max_qos: expected 0, 1 or 2, got "two"`},
		{"bool", "allow_anonymous yes\n", `test.conf:1: allow_anonymous: expected true or false, got "yes"`},
		{"missing bool", "retain_available\n", `test.conf:1: retain_available: missing value`},
		{"extra word", "allow_anonymous true false\n", `test.conf:1: allow_anonymous: unexpected "false" after the value "true"`},
		{"int", "max_inflight_messages lots\n", `test.conf:1: max_inflight_messages: expected an integer from 0 to 65535, got "lots"`},
		{"int range", "max_inflight_messages 70000\n", `max_inflight_messages: expected an integer from 0 to 65535, got "70000"`},
		{"keepalive too low", "max_keepalive 5\n", `test.conf:1: max_keepalive: expected an integer from 10 to 65535, got "5"`},
		{"packet size too small", "max_packet_size 10\n", `test.conf:1: max_packet_size: expected a size in bytes from 20 to 268435460`},
		{"message size too big", "message_size_limit 268435456\n", `message_size_limit: expected a size in bytes from 0 to 268435455`},
		{"bad size suffix", "max_queued_bytes 10X\n", `max_queued_bytes: expected a size in bytes`},
		{"negative queue", "max_queued_messages -5\n", `max_queued_messages: expected an integer from 0`},
		{"sys_interval", "sys_interval -1\n", `sys_interval: expected an integer from 0 to 65535, got "-1"`},
		{"expiration unit", "persistent_client_expiration 3x\n", `test.conf:1: persistent_client_expiration: expected a positive number followed by h, d, w, m or y (e.g. 14d), got "3x"`},
		{"expiration zero", "persistent_client_expiration 0d\n", `persistent_client_expiration: expected a positive number`},
		{"protocol", "listener 1883\nprotocol http\n", `test.conf:2: protocol: expected mqtt, websockets or mqttsn, got "http"`},
		{"mqttsn on a unix socket", "listener 0 /tmp/x.sock\nprotocol mqttsn\n", `test.conf:1: listener 0 /tmp/x.sock: protocol mqttsn needs a UDP port, not a unix socket`},
		{"mqttsn with TLS", "listener 1884\nprotocol mqttsn\n" + tls, `protocol mqttsn has no TLS`},
		{"socket_domain", "listener 1883\nsocket_domain ipv5\n", `socket_domain: expected ipv4 or ipv6, got "ipv5"`},
		{"tls_version", "listener 1883\ntls_version tlsv1.0\n", `tls_version: expected tlsv1.1, tlsv1.2 or tlsv1.3, got "tlsv1.0"`},
		{"listener port", "listener 70000\n", `test.conf:1: listener: expected a port number from 0 to 65535, got "70000"`},
		{"listener no port", "listener\n", `test.conf:1: listener: missing port`},
		{"unix needs path", "listener 0\n", `test.conf:1: listener: port 0 needs a unix socket path`},
		{"duplicate listener", "listener 1883\nlistener 1883\n", `test.conf:2: listener: listener 1883 is already defined at test.conf:1`},
		{"max_connections 0", "listener 1\nmax_connections 0\n", `test.conf:2: max_connections: 0 would refuse every connection`},
		{"max_connections below -1", "listener 1\nmax_connections -2 # unlimited?\n", `test.conf:2: max_connections: expected -1 (unlimited) or a number of connections from 1 to 2147483647, got "-2"`},
		{"max_connections word", "listener 1\nmax_connections many\n", `test.conf:2: max_connections: expected an integer`},
		{"mount_point without listener", "mount_point a/\n", `test.conf:1: mount_point: only valid after a "listener" line`},
		{"mount_point wildcard", "listener 1\nmount_point a/+/\n", `test.conf:2: mount_point: "a/+/" must not contain the wildcards + or #`},
		{"missing password file", "password_file " + missing + "\n", `test.conf:1: password_file: file "` + missing + `" does not exist`},
		{"missing acl file", "listener 1\n\nacl_file " + missing + "\n", `test.conf:3: acl_file: file "` + missing + `" does not exist`},
		{"password file is a dir", "password_file " + dir + "\n", `password_file: "` + dir + `" is a directory, not a file`},
		{"missing cafile", "listener 8883\ncafile " + missing + "\n", `test.conf:2: cafile: file "` + missing + `" does not exist`},
		{"missing certfile", "listener 8883\ncertfile " + missing + "\n", `test.conf:2: certfile: file "` + missing + `" does not exist`},
		{"missing keyfile", "listener 8883\ncertfile " + ca.ServerCert + "\nkeyfile " + missing + "\n", `test.conf:3: keyfile: file "` + missing + `" does not exist`},
		{"capath not a dir", "listener 8883\ncapath " + ca.CAFile + "\n", `test.conf:2: capath: "` + ca.CAFile + `" is not a directory`},
		{"duplicate password_file", "password_file " + dir + "/pw\npassword_file " + dir + "/pw\n", `test.conf:2: password_file: duplicate value (already set at test.conf:1)`},
		{"certfile without keyfile", "listener 8883\ncertfile " + ca.ServerCert + "\n", `test.conf:1: listener 8883: certfile needs keyfile`},
		{"cafile without certfile", "listener 8883\ncafile " + ca.CAFile + "\n", `test.conf:1: listener 8883: cafile needs certfile and keyfile`},
		{"require_certificate without CA", "listener 8883\n" + tls + "require_certificate true\n", `require_certificate needs cafile or capath`},
		{"key does not match", "listener 8883\ncertfile " + ca.ServerCert + "\nkeyfile " + ca.ClientKey + "\n", `test.conf:1: listener 8883: certfile "`},
		{"cafile not PEM", "listener 8883\n" + tls + "cafile " + dir + "/pw\n", `cafile "` + dir + `/pw": no PEM certificate in it`},
		{"bad cipher", "listener 8883\n" + tls + "ciphers RC4-MD5-XYZ\n", `test.conf:4: ciphers: none of the ciphers is offered by Go's crypto/tls (unknown or unsupported: RC4-MD5-XYZ)`},
		{"per_listener_settings late", "allow_anonymous true\nper_listener_settings true\n", `test.conf:2: per_listener_settings: must come before any security setting (the first is at test.conf:1)`},
		{"log_dest", "log_dest printer\n", `test.conf:1: log_dest: expected stderr, stdout, syslog, file PATH, topic, dlt or none, got "printer"`},
		{"log_dest file no path", "log_dest file\n", `test.conf:1: log_dest file: missing file name`},
		{"log_type", "log_type chatter\n", `test.conf:1: log_type: expected error, warning, notice, information, debug, subscribe, unsubscribe, websockets, none or all, got "chatter"`},
		{"log_facility", "log_facility 9\n", `log_facility: expected an integer from 0 to 7, got "9"`},
		{"bridge directive outside bridge", "address 10.0.0.1\n", `test.conf:1: address: only valid in a bridge section (after "connection NAME")`},
		{"plugin option without plugin", "auth_opt_db x\n", `test.conf:1: auth_opt_db: only valid after a "plugin" or "auth_plugin" line`},
		{"tls engine", "listener 8883\ntls_engine pkcs11\n", `test.conf:2: tls_engine OpenSSL engines are not supported`},
		{"tls_keyform engine", "listener 8883\ntls_keyform engine\n", `test.conf:2: tls_keyform engine: OpenSSL engines are not supported`},
		{"clientid_prefixes", "clientid_prefixes sensor-\n", `test.conf:1: clientid_prefixes is not supported`},
		{"bind_interface", "listener 1\nbind_interface nosuchif0\n", `test.conf:2: bind_interface: no network interface "nosuchif0"`},
		{"include_dir missing", "include_dir " + missing + "\n", `test.conf:1: include_dir: directory "` + missing + `" does not exist`},
		{"bad utf-8", "user \xff\xfe\n", `test.conf:1: malformed UTF-8`},
		{"empty string value", "pid_file   \n", `test.conf:1: pid_file: missing value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("test.conf", []byte(tc.text))
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || es[0].Pos.File == "" || es[0].Pos.Line == 0 {
				t.Fatalf("error is not an Errors with positions: %#v", err)
			}
		})
	}
}

func TestErrorsInIncludedFileNameThatFile(t *testing.T) {
	dir := files(t, map[string]string{"d/x.conf": "listener 1\n\nmax_qos 3\n"})
	_, _, err := Parse("main.conf", []byte("include_dir "+filepath.Join(dir, "d")+"\n"))
	want := filepath.Join(dir, "d", "x.conf") + `:3: max_qos: expected 0, 1 or 2, got "3"`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, _, err := Parse("test.conf", []byte("foo\nmax_qos 9\nbar\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("err = %v, want 3 errors", err)
	}
	if es[0].Pos.Line != 1 || es[1].Pos.Line != 2 || es[2].Pos.Line != 3 {
		t.Errorf("lines = %d %d %d", es[0].Pos.Line, es[1].Pos.Line, es[2].Pos.Line)
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"bridge", "connection upstream\naddress 10.0.0.1:1883\ntopic # both 2\nlistener 1883\n", `test.conf:1: connection "upstream": bridges are not supported yet; ignored (with all its bridge directives)`},
		{"psk", "listener 8883\npsk_hint hint\npsk_file /etc/psk\n", `test.conf:2: psk_hint TLS-PSK is not supported yet`},
		{"http_dir", "listener 8080\nprotocol websockets\nhttp_dir /var/www\n", `test.conf:3: http_dir is not supported`},
		{"websockets_log_level", "websockets_log_level 255\n", `test.conf:1: websockets_log_level configures libwebsockets`},
		{"ciphers_tls1.3", "listener 1\nciphers_tls1.3 TLS_AES_128_GCM_SHA256\n", `test.conf:2: ciphers_tls1.3 is not configurable in Go's crypto/tls`},
		{"dhparamfile", "listener 1\ndhparamfile /etc/dh.pem\n", `test.conf:2: dhparamfile is not needed`},
		{"log_dest topic", "log_dest topic\n", `test.conf:1: log_dest topic: not supported yet; ignored`},
		{"allow_duplicate_messages", "allow_duplicate_messages true\n", `test.conf:1: allow_duplicate_messages is deprecated`},
		{"autosave_interval", "persistence true\nautosave_interval 60\n", `test.conf:2: autosave_interval is not needed: every change is written to the store as it happens`},
		{"autosave_on_changes", "autosave_on_changes true\n", `test.conf:1: autosave_on_changes is not needed`},
		{"set_tcp_nodelay", "set_tcp_nodelay true\n", `test.conf:1: set_tcp_nodelay has no effect: client sockets always have Nagle's algorithm off`},
		{"retry_interval", "retry_interval 20\n", `test.conf:1: retry_interval was removed from Mosquitto`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warns := mustParse(t, tc.text)
			var all []string
			for _, w := range warns {
				all = append(all, w.String())
			}
			if len(all) == 0 || !strings.Contains(all[0], tc.want) {
				t.Fatalf("warnings = %q, want the first to contain %q", all, tc.want)
			}
		})
	}
}

// Mozilla's intermediate cipher list names DHE suites Go does not offer: Mosquitto (OpenSSL)
// skips them and starts; so does the broker, with one warning naming them at FILE:LINE.
func TestCiphersNotOfferedWarned(t *testing.T) {
	ca := testcerts.New(t, "ca")
	tls := "certfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\n"
	cfg, warns := mustParse(t, "listener 8883\n"+tls+"ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n")
	var all []string
	for _, w := range warns {
		all = append(all, w.String())
	}
	want := `test.conf:4: ciphers: ignoring DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384: not offered by Go's crypto/tls (or unknown); the other ciphers of the list are used`
	if len(all) != 1 || !strings.Contains(all[0], want) {
		t.Fatalf("warnings = %q, want one containing %q", all, want)
	}
	tc, err := listener.NewTLS(*cfg.Listeners[0].Spec().TLS)
	if err != nil {
		t.Fatalf("the listener's TLS with those ciphers: %v", err)
	}
	cur, _ := tc.Config().GetConfigForClient(nil)
	if got := cur.CipherSuites; len(got) != 2 {
		t.Errorf("cipher suites %v, want the 2 ECDHE ones of the list", got)
	}
}

// TestEveryDirectiveHandled feeds every honoured directive a plausible value: none may reach
// the parser's "no handler" fallback, and every directive in the table has a status.
func TestEveryDirectiveHandled(t *testing.T) {
	ca := testcerts.New(t, "ca")
	dir := files(t, map[string]string{"f": "", "d/x.conf": ""})
	values := map[string]string{
		"listener": "1884", "include_dir": filepath.Join(dir, "d"), "protocol": "mqtt", "socket_domain": "ipv4",
		"tls_version": "tlsv1.2", "tls_keyform": "pem", "max_qos": "1", "log_dest": "stdout", "log_type": "all",
		"persistent_client_expiration": "1d", "cafile": ca.CAFile, "certfile": ca.ServerCert, "keyfile": ca.ServerKey,
		"capath": ca.Dir, "crlfile": ca.CRL(t), "password_file": filepath.Join(dir, "f"), "acl_file": filepath.Join(dir, "f"),
		"ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256", "max_keepalive": "60", "max_packet_size": "100", "port": "1883",
		"bind_address": "127.0.0.1", "max_connections": "10", "bind_interface": loopbackName(t), "log_facility": "1",
	}
	for _, d := range Directives() {
		if d.Status != Supported && d.Status != Deprecated {
			continue
		}
		v, ok := values[d.Name]
		if !ok {
			v = "1"
		}
		text := "listener 1883\n" + d.Name + " " + v + "\n"
		if d.Name == "mount_point" {
			text = "listener 1883\nmount_point a/\n"
		}
		_, _, err := Parse("test.conf", []byte(text))
		if err != nil && strings.Contains(err.Error(), "no handler") {
			t.Errorf("%s: %v", d.Name, err)
		}
		if err != nil && strings.Contains(err.Error(), "unknown directive") {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
	// Names from mosquitto.conf(5) of Mosquitto 2.0.11 must all be known.
	for _, n := range strings.Fields(`acl_file address allow_anonymous allow_duplicate_messages allow_zero_length_clientid
		auth_plugin auth_plugin_deny_special_chars auto_id_prefix autosave_interval autosave_on_changes bind_address
		bind_interface bridge_alpn bridge_attempt_unsubscribe bridge_bind_address bridge_cafile bridge_capath
		bridge_certfile bridge_identity bridge_insecure bridge_keyfile bridge_max_packet_size bridge_outgoing_retain
		bridge_protocol_version bridge_psk bridge_require_ocsp bridge_tls_version cafile capath certfile
		check_retain_source ciphers ciphers_tls1.3 cleansession clientid_prefixes connection connection_messages crlfile
		dhparamfile http_dir idle_timeout include_dir keepalive_interval keyfile listener local_cleansession
		local_clientid local_password local_username log_dest log_facility log_timestamp log_timestamp_format log_type
		max_connections max_inflight_bytes max_inflight_messages max_keepalive max_packet_size max_qos max_queued_bytes
		max_queued_messages max_topic_alias memory_limit message_size_limit mount_point notification_topic notifications
		notifications_local_only password_file per_listener_settings persistence persistence_file persistence_location
		persistent_client_expiration pid_file port protocol psk_file psk_hint queue_qos0_messages remote_clientid
		remote_password remote_username require_certificate restart_timeout retain_available round_robin
		set_tcp_nodelay socket_domain start_type sys_interval threshold tls_engine tls_engine_kpass_sha1 tls_keyform
		tls_version topic try_private upgrade_outgoing_qos use_identity_as_username use_subject_as_username
		use_username_as_clientid user websockets_headers_size websockets_log_level plugin auth_opt_x plugin_opt_x`) {
		if _, ok := lookup(n); !ok {
			t.Errorf("Mosquitto 2.0 directive %q is not in the table", n)
		}
	}
}

func loopbackName(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"lo", "lo0"} {
		if _, err := netInterface(n); err == nil {
			return n
		}
	}
	t.Skip("no loopback interface named lo or lo0")
	return ""
}

func TestLoad(t *testing.T) {
	dir := files(t, map[string]string{"m.conf": "listener 1883\nfoo\n"})
	_, _, err := Load(filepath.Join(dir, "m.conf"))
	if err == nil || err.Error() != filepath.Join(dir, "m.conf")+`:2: unknown directive "foo"` {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := Load(filepath.Join(dir, "none.conf")); err == nil || !strings.Contains(err.Error(), "none.conf") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func netInterface(name string) (*net.Interface, error) { return net.InterfaceByName(name) }

// protocol mqttsn: an MQTT-SN gateway's UDP port among the listeners, with the listener's
// security; its TCP port may equal the default listener's (they are different protocols).
func TestMQTTSNListener(t *testing.T) {
	cfg, _ := mustParse(t, "port 1883\nlistener 1884 127.0.0.1\nprotocol mqttsn\nallow_anonymous true\n")
	if len(cfg.Listeners) != 2 {
		t.Fatalf("%d listeners", len(cfg.Listeners))
	}
	l := cfg.Listeners[1]
	if l.Protocol != "mqttsn" || l.Port != 1884 || l.Address != "127.0.0.1" {
		t.Fatalf("%+v", l)
	}
	if sp := l.Spec(); sp.Address != "127.0.0.1:1884" {
		t.Fatalf("spec %+v", sp)
	}
	mustParse(t, "port 1884\nlistener 1884\nprotocol mqttsn\n")
	// A TCP listener and an MQTT-SN gateway may share a port number: UDP and TCP do not
	// clash. Two of either kind may not.
	cfg, _ = mustParse(t, "listener 25911\nlistener 25911\nprotocol mqttsn\nsn_gateway_id 7\nsn_advertise_to 192.168.1.255:1884\n")
	if g := cfg.Listeners[1].SN; g.GatewayID != 7 || g.AdvertiseTo != "192.168.1.255:1884" {
		t.Fatalf("%+v", g)
	}
	if _, ok := cfg.Listeners[1].SN.IsSet("sn_gateway_id"); !ok {
		t.Fatal("sn_gateway_id not recorded as set")
	}
	for _, c := range []struct{ text, want string }{
		{"listener 25911\nprotocol mqttsn\nlistener 25911\nprotocol mqttsn\n", "test.conf:3: listener: listener 25911 is already defined at test.conf:1"},
		{"listener 1883\nsn_gateway_id 3\n", `test.conf:2: sn_gateway_id: only valid on a listener with "protocol mqttsn"`},
		{"listener 1884\nprotocol mqttsn\nsn_gateway_id 256\n", `test.conf:3: sn_gateway_id: expected an integer from 0 to 255, got "256"`},
		{"listener 1884\nprotocol mqttsn\nsn_advertise_to 1.2.3.4:0\n", `sn_advertise_to: expected HOST:PORT with a port from 1 to 65535`},
		{"listener 1884\nprotocol mqttsn\nsn_predefined /nonexistent/topics.conf\n", `sn_predefined: file "/nonexistent/topics.conf" does not exist`},
		{"listener 1884\nprotocol mqttsn\nsn_retry_interval 0\n", `sn_retry_interval: expected an integer from 1 to 3600`},
		{"listener 1884\nprotocol mqttsn\nsn_max_message_size 8\n", `sn_max_message_size: expected an integer from 16 to 65535`},
		{"listener 1884\nprotocol mqttsn\nsn_max_retries 3\nsn_max_retries 4\n", `sn_max_retries: duplicate value`},
	} {
		if _, _, err := Parse("test.conf", []byte(c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}

// CheckAddresses finds the listener addresses that are neither IP addresses nor host names
// that resolve, with the line that gave each (listener or bind_address), as errors that are
// Unusable (the start fails on them with exit status 1, as Mosquitto's).
func TestCheckAddresses(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"not an IPv4 address", "listener 1883 300.1.2.3\n", `test.conf:1: listener: expected an IP address or a host name that resolves, got "300.1.2.3" (lookup 300.1.2.3`},
		{"bind_address", "allow_anonymous true\nport 1884\nbind_address 300.1.2.3\n", `test.conf:3: bind_address: expected an IP address or a host name that resolves, got "300.1.2.3"`},
		{"second listener", "listener 1883 127.0.0.1\nlistener 1884 300.1.2.3\nprotocol mqttsn\n", `test.conf:2: listener: expected`},
	} {
		cfg, _ := mustParse(t, tc.text)
		err := cfg.CheckAddresses(context.Background())
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 || !es[0].Unusable || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want one Unusable error containing %s", tc.name, err, tc.want)
		}
	}
	cfg, _ := mustParse(t, "listener 1883 127.0.0.1\nlistener 1884 ::1\nlistener 1885 fe80::1%lo\nlistener 1886 localhost\nlistener 1887\nlistener 0 /run/x.sock\n")
	if err := cfg.CheckAddresses(context.Background()); err != nil {
		t.Errorf("addresses that resolve: %v", err)
	}
	if err := Default().CheckAddresses(context.Background()); err != nil {
		t.Errorf("local only mode: %v", err)
	}
}
