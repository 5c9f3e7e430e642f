package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqttkit/mqtt/internal/auth"
)

func hashed(t *testing.T, user, pass string) string {
	t.Helper()
	h, err := auth.HashPBKDF2(pass, 101)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + h + "\n"
}

func TestListenerSecurityShared(t *testing.T) {
	dir := files(t, map[string]string{"pw": hashed(t, "u", "p"), "acl": "user u\ntopic a/#\n"})
	cfg, _ := mustParse(t, "password_file "+filepath.Join(dir, "pw")+"\nacl_file "+filepath.Join(dir, "acl")+
		"\nlistener 1884\nlistener 1885\nallow_anonymous true\n")
	secs, warns, err := cfg.ListenerSecurity()
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if len(secs) != 2 || secs[0].Files == nil || secs[0].Files != secs[1].Files {
		t.Fatalf("listeners without per_listener_settings must share one store: %+v", secs)
	}
	if !secs[0].AllowAnonymous || !secs[1].AllowAnonymous {
		t.Fatal("global allow_anonymous true not applied to every listener")
	}
	if !secs[0].Files.Passwords().Verify("u", "p") || secs[0].Files.ACL() == nil {
		t.Fatal("files not loaded")
	}
}

func TestListenerSecurityPerListener(t *testing.T) {
	dir := files(t, map[string]string{"pw": hashed(t, "u", "p"), "acl": "topic read #\n"})
	cfg, _ := mustParse(t, "per_listener_settings true\nlistener 1884\npassword_file "+filepath.Join(dir, "pw")+
		"\nlistener 1885\nallow_anonymous true\nacl_file "+filepath.Join(dir, "acl")+"\n")
	secs, _, err := cfg.ListenerSecurity()
	if err != nil {
		t.Fatal(err)
	}
	a, b := secs[0], secs[1]
	if a.AllowAnonymous || a.Files == nil || a.Files.Passwords() == nil || a.Files.ACL() != nil {
		t.Fatalf("listener 1884: %+v", a)
	}
	if !b.AllowAnonymous || b.Files == nil || b.Files.Passwords() != nil || b.Files.ACL() == nil {
		t.Fatalf("listener 1885: %+v", b)
	}
}

func TestListenerSecurityErrorsNameBothLines(t *testing.T) {
	dir := files(t, map[string]string{"pw": "u:$7$bad\n", "acl": "user u\ntopic wirte a\nbogus\n"})
	cfg, _ := mustParse(t, "listener 1884\n\npassword_file "+filepath.Join(dir, "pw")+"\nacl_file "+filepath.Join(dir, "acl")+"\n")
	_, warns, err := cfg.ListenerSecurity()
	if err == nil {
		t.Fatal("bad files accepted")
	}
	// A bad ACL line is an error; a bad password file line is a warning: the entry is skipped,
	// as Mosquitto skips it.
	if want := "test.conf:4: acl_file: " + filepath.Join(dir, "acl") + ":2:"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if want := "test.conf:3: password_file: " + filepath.Join(dir, "pw") + ":1:"; len(warns) != 1 || !strings.Contains(warns[0].String(), want) {
		t.Errorf("warnings %v, want one with %q", warns, want)
	}
}

func TestUseCommandLinePorts(t *testing.T) {
	// max_topic_alias alone does not create the default listener (max_qos 1 would): local only.
	cfg, _ := mustParse(t, "max_topic_alias 3\n")
	if w := cfg.UseCommandLinePorts([]int{1884, 1885}); w != nil {
		t.Fatal(w)
	}
	var got []string
	for _, l := range cfg.Listeners {
		got = append(got, l.Spec().Address)
		if !l.LocalOnly || l.MaxTopicAlias != 10 {
			t.Fatalf("%+v", l)
		}
	}
	if strings.Join(got, " ") != "127.0.0.1:1884 [::1]:1884 127.0.0.1:1885 [::1]:1885" {
		t.Fatalf("listeners %v", got)
	}
	if !cfg.Security.AllowAnonymous {
		t.Fatal("local only mode with -p must allow anonymous clients")
	}

	cfg, _ = mustParse(t, "listener 8883\n")
	w := cfg.UseCommandLinePorts([]int{1884})
	if len(w) != 1 || !strings.Contains(w[0].String(), "-p 1884 ignored") || cfg.Listeners[0].Port != 8883 {
		t.Fatalf("warnings %v listeners %+v", w, cfg.Listeners)
	}
}
