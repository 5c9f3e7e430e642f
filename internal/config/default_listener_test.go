package config

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
)

// defaultListenerCases are lines written before the first "listener" line and whether
// Mosquitto 2.0.11 then opens its default listener on port 1883 (every interface). Each was
// checked by running mosquitto 2.0.11 on the same file (TestDefaultListenerMatchesMosquitto
// does it again where mosquitto is installed). TLS settings that need a certfile here (cafile,
// require_certificate true, ...) are errors without one, so only certfile stands for them.
func defaultListenerCases(t *testing.T) []struct {
	early   string
	creates bool
} {
	ca := testcerts.New(t, "ca")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return []struct {
		early   string
		creates bool
	}{
		{"protocol mqtt", false}, // Home Assistant's template starts with this
		{"protocol websockets", true},
		{"socket_domain ipv4", true},
		{"max_connections -1", false},
		{"max_connections 10", true},
		{"max_qos 2", false},
		{"max_qos 1", true},
		{"maximum_qos 1", true},
		{"max_topic_alias 5", false},
		{"use_username_as_clientid false", false},
		{"use_username_as_clientid true", true},
		{"require_certificate false", false},
		{"use_identity_as_username false", false},
		{"tls_version tlsv1.3", false},
		{"tls_keyform pem", false},
		{"certfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey, true},
		{"dhparamfile " + empty, true},
		{"per_listener_settings true\nallow_anonymous true", false},
		{"per_listener_settings true\nacl_file " + empty, false},
		{"per_listener_settings true\nauto_id_prefix x-", false},
		{"per_listener_settings true\npassword_file " + empty, true},
		{"per_listener_settings true\nallow_zero_length_clientid true", false},
		{"per_listener_settings true\nallow_zero_length_clientid false", true},
		{"allow_zero_length_clientid false", false}, // global without per_listener_settings
		{"password_file " + empty, false},
		{"port 1883", true},
		{"bind_address 127.0.0.1", true},
	}
}

// defaultListenerText is the file of one case: its early lines, then one explicit listener.
func defaultListenerText(early string, port int) string {
	return early + "\nlistener " + strconv.Itoa(port) + " 127.0.0.1\n"
}

// An early setting opens the default listener exactly when Mosquitto 2.0 would, so a template
// starting with "protocol mqtt" does not add an anonymous listener on every interface.
func TestDefaultListenerAsMosquitto(t *testing.T) {
	for _, tc := range defaultListenerCases(t) {
		cfg, warns := mustParse(t, defaultListenerText(tc.early, 1884))
		has := false
		for _, l := range cfg.Listeners {
			if l.Default {
				has = true
				if tc.early != "bind_address 127.0.0.1" && l.Spec().Address != ":1883" {
					t.Errorf("%q: default listener on %s", tc.early, l.Spec().Address)
				}
			}
		}
		if has != tc.creates {
			t.Errorf("%q: default listener opened = %v, Mosquitto 2.0.11: %v (%d listeners, warnings %v)", tc.early, has, tc.creates, len(cfg.Listeners), warns)
		}
	}

	// Home Assistant's template: one listener, and --test-config says so.
	cfg, warns := mustParse(t, "protocol mqtt\nlistener 1883\nallow_anonymous true\n")
	if len(cfg.Listeners) != 1 || len(warns) != 0 {
		t.Errorf("listeners %+v warnings %v", cfg.Listeners, warns)
	}
	// A setting that does not open it and is not the default is lost, as in Mosquitto: say so.
	_, warns = mustParse(t, "max_topic_alias 5\nlistener 1883\n")
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "test.conf:1: max_topic_alias: has no effect") {
		t.Errorf("warnings %v", warns)
	}
	// Created without any listener line: all interfaces, anonymous clients refused unless
	// allowed (Mosquitto 2.0 would still allow them there, as in local only mode).
	cfg, warns = mustParse(t, "max_qos 1\n")
	if cfg.LocalOnly || len(cfg.Listeners) != 1 || cfg.Listeners[0].Spec().Address != ":1883" || cfg.Security.AllowAnonymous {
		t.Errorf("listeners %+v", cfg.Listeners)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "without any \"listener\" line") {
		t.Errorf("warnings %v", warns)
	}
}

var mosquittoOpening = regexp.MustCompile(`Opening (?:ipv4|ipv6|websockets) listen socket on port (\d+)\.`)

// TestDefaultListenerMatchesMosquitto runs mosquitto on each case's file and compares the
// ports it opens with ours. Anonymous clients are refused by an empty password file, and
// mosquitto is stopped as soon as it runs.
func TestDefaultListenerMatchesMosquitto(t *testing.T) {
	bin := testutil.RequireTool(t, "mosquitto")
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tc := range defaultListenerCases(t) {
		port := testutil.FreePort(t)
		text := defaultListenerText(tc.early, port)
		ours, _ := mustParse(t, text)
		var want []string
		for _, l := range ours.Listeners {
			want = append(want, strconv.Itoa(l.Port))
		}

		extra := "allow_anonymous false\n"
		if strings.HasPrefix(tc.early, "per_listener_settings") {
			extra = "" // per listener: the explicit listener refuses anonymous clients by default
		} else if !strings.HasPrefix(tc.early, "password_file") {
			extra += "password_file " + pw + "\n"
		}
		if os.Geteuid() == 0 {
			extra += "user root\n"
		}
		conf := filepath.Join(dir, "m"+strconv.Itoa(i)+".conf")
		if err := os.WriteFile(conf, []byte(text+extra), 0o644); err != nil {
			t.Fatal(err)
		}
		got := runMosquittoUntilRunning(t, bin, conf)
		var ports []string
		seen := map[string]bool{}
		for _, m := range mosquittoOpening.FindAllStringSubmatch(got, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				ports = append(ports, m[1])
			}
		}
		sort.Strings(ports)
		sort.Strings(want)
		if strings.Join(ports, " ") != strings.Join(want, " ") {
			t.Errorf("%q: mosquitto opened ports %v, we open %v; mosquitto's log:\n%s", tc.early, ports, want, got)
		}
	}
}

// runMosquittoUntilRunning starts mosquitto -c conf and returns its log once it says it is
// running (or has exited), then stops it.
func runMosquittoUntilRunning(t *testing.T, bin, conf string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out testutil.LockedBuffer
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	for {
		select {
		case <-exited:
			return out.String()
		case <-ctx.Done():
			t.Fatalf("mosquitto -c %s did not start in time:\n%s", conf, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if strings.Contains(out.String(), " running") {
			return out.String()
		}
	}
}
