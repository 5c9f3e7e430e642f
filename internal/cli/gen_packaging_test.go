package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/testutil"
)

// The release configuration must be valid for the goreleaser that scripts/goreleaser-check.sh
// installs. CI installs it (MQTT_REQUIRE_INTEROP makes its absence a failure).
func TestGoreleaserCheck(t *testing.T) {
	gr := testutil.RequireTool(t, "goreleaser")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gr, "check")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
}

// Every generated man page and completion is packaged and archived: adding a page without
// listing it in .goreleaser.yaml fails here rather than shipping a package without it.
func TestGoreleaserShipsGeneratedFiles(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := generatedFiles()
	if err != nil {
		t.Fatal(err)
	}
	for p := range files {
		if !strings.Contains(string(cfg), "src: "+p+"\n") {
			t.Errorf(".goreleaser.yaml: nfpms do not install %s", p)
		}
	}
	for _, want := range []string{"- LICENSE\n", "- README.md\n", "- man/*\n", "- completions/*\n",
		"src: packaging/mqtt.service\n", "src: packaging/mqtt.conf\n", "type: config|noreplace\n",
		"postinstall: packaging/postinstall.sh\n", "package_name: mqtt-mosquitto-compat\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf(".goreleaser.yaml lacks %q", want)
		}
	}
}

// The example /etc/mqtt/mqtt.conf the packages install loads without errors or warnings.
func TestPackagedConfigLoads(t *testing.T) {
	_, warns, err := config.Load(filepath.Join(repoRoot, "packaging", "mqtt.conf"))
	if err != nil {
		t.Fatalf("packaging/mqtt.conf: %v", err)
	}
	for _, w := range warns {
		t.Errorf("packaging/mqtt.conf: warning %s", w)
	}
}

func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(repoRoot, "packaging", "mqtt.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nExecStart=/usr/bin/mqtt serve -c /etc/mqtt/mqtt.conf\n", "\nUser=mqtt\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nWantedBy=multi-user.target\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("mqtt.service lacks %q", strings.TrimSpace(want))
		}
	}
	// systemd's own check, where systemd is installed: the unit with this checkout's binary and
	// man pages in place of the installed ones.
	analyze := testutil.LookTool("systemd-analyze")
	if analyze == "" {
		t.Skip("systemd-analyze not installed; unit not verified")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "mqtt")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	manDir := filepath.Join(dir, "man")
	for _, sec := range []string{"man1", "man5"} {
		if err := os.MkdirAll(filepath.Join(manDir, sec), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, page := range []string{"mqtt-serve.1", "mqtt.conf.5"} {
		src, err := filepath.Abs(filepath.Join(repoRoot, "man", page))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, filepath.Join(manDir, "man"+page[len(page)-1:], page)); err != nil {
			t.Fatal(err)
		}
	}
	test := filepath.Join(dir, "mqtt.service")
	if err := os.WriteFile(test, []byte(strings.ReplaceAll(string(unit), "/usr/bin/mqtt", fake)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "verify", test)
	cmd.Env = append(os.Environ(), "MANPATH="+manDir)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify mqtt.service: %v\n%s", err, out)
	}
}

// The maintainer scripts are POSIX sh (dpkg and rpm run them with /bin/sh).
func TestMaintainerScriptsParse(t *testing.T) {
	sh := testutil.RequireTool(t, "sh")
	for _, s := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		if out, err := exec.Command(sh, "-n", filepath.Join(repoRoot, "packaging", s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n packaging/%s: %v\n%s", s, err, out)
		}
	}
}
