package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/testutil"
	ucli "github.com/urfave/cli/v2"
)

const repoRoot = "../.."

// The checked-in completions and man pages must be what the definitions generate now.
func TestGeneratedFilesUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateFiles(dir); err != nil {
		t.Fatal(err)
	}
	files, err := generatedFiles()
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for p := range files {
		fresh, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(old, fresh) {
			stale = append(stale, p)
		}
	}
	// Nothing left over from a command that no longer exists.
	for _, d := range []string{"completions", "man"} {
		entries, err := os.ReadDir(filepath.Join(repoRoot, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := files[d+"/"+e.Name()]; !ok {
				stale = append(stale, d+"/"+e.Name()+" (not generated any more)")
			}
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Fatalf("generated files are out of date; run make gen and commit the result:\n  %s", strings.Join(stale, "\n  "))
	}
}

func TestManPagesRenderWithoutWarnings(t *testing.T) {
	groff := testutil.RequireTool(t, "groff")
	pages, err := manPages(commands())
	if err != nil {
		t.Fatal(err)
	}
	for name, page := range pages {
		cmd := exec.Command(groff, "-man", "-ww", "-z")
		cmd.Stdin = bytes.NewReader(page)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("groff -man -ww -z %s: %v\n%s", name, err, out)
		}
	}
}

func TestManPagesListEveryFlag(t *testing.T) {
	pages, err := manPages(commands())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range manPageCommands(commands()) {
		page := string(pages["mqtt-"+c.Name+".1"])
		for _, sec := range []string{".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH EXIT STATUS", ".SH SEE ALSO"} {
			if !strings.Contains(page, sec) {
				t.Errorf("mqtt-%s.1 lacks %s", c.Name, sec)
			}
		}
		for _, f := range c.Flags {
			if v, ok := f.(ucli.VisibleFlag); ok && !v.IsVisible() {
				continue // hidden on purpose (e.g. sn-gateway's flags a client's CONNECT sets)
			}
			if !strings.Contains(page, `\fB`+roff(flagDisplay(f.Names()[0]))+`\fR`) {
				t.Errorf("mqtt-%s.1 does not list %s", c.Name, flagDisplay(f.Names()[0]))
			}
		}
	}
}

func TestBashCompletionSyntax(t *testing.T) {
	bash := testutil.RequireTool(t, "bash")
	var b bytes.Buffer
	if err := writeBash(&b, commands()); err != nil {
		t.Fatal(err)
	}
	// Load the script (as bash-completion would, from the checked-in file's contents) and complete
	// in a real bash, in a directory holding one file and one directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mqtt.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := b.String() + `
r() { echo "$1:$(printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' ')"; }
COMP_WORDS=(mqtt pub --qo); COMP_CWORD=2; _mqtt; r flags
COMP_WORDS=(mqtt sub -q ""); COMP_CWORD=3; _mqtt; r qos
COMP_WORDS=(mqtt pub --will-qos ""); COMP_CWORD=3; _mqtt; r will-qos
COMP_WORDS=(mqtt pub -V ""); COMP_CWORD=3; _mqtt; r versions
COMP_WORDS=(mqtt sub -V mq); COMP_CWORD=3; _mqtt; r mqttv
COMP_WORDS=(mqtt se); COMP_CWORD=1; _mqtt; r cmds
COMP_WORDS=(mqtt completion ""); COMP_CWORD=2; _mqtt; r shells
COMP_WORDS=(mqtt bench ""); COMP_CWORD=2; _mqtt; r scenarios
COMP_WORDS=(mqtt serve -c m); COMP_CWORD=3; _mqtt; r serve-c
COMP_WORDS=(mqtt pub -f m); COMP_CWORD=3; _mqtt; r pub-f
COMP_WORDS=(mqtt sub --cafile ""); COMP_CWORD=3; _mqtt; r cafile
COMP_WORDS=(mqtt sub --capath ""); COMP_CWORD=3; _mqtt; r capath
COMP_WORDS=(mqtt pub -c ""); COMP_CWORD=3; _mqtt; r pub-c
COMP_WORDS=(mqtt passwd -H ""); COMP_CWORD=3; _mqtt; r hash
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	// pub's -c is --disable-clean-session, a switch: after it come flags, never files.
	if strings.Contains(string(out), "pub-c:") && strings.Contains(strings.SplitAfter(string(out), "pub-c:")[1], "mqtt.conf") {
		t.Errorf("bash completion: pub -c offered files:\n%s", out)
	}
	for _, want := range []string{"flags:--qos", "qos:0 1 2", "will-qos:0 1 2", "versions:31 311 5 mqttv31 mqttv311 mqttv5",
		"mqttv:mqttv31 mqttv311 mqttv5", "cmds:serve", "shells:bash fish zsh", "scenarios:conn pub pubsub retained sub",
		"serve-c:mqtt.conf", "pub-f:mqtt.conf", "cafile:certs mqtt.conf", "capath:certs", "hash:sha512 sha512-pbkdf2"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("bash completion: want %q in\n%s", want, out)
		}
	}
}

// zsh and fish are not in CI's install list: these run when they happen to be installed.

// The zsh function must parse and register itself with compinit; its _arguments specs must
// carry the value completions (checked on the text: driving zsh's completion needs a pty).
func TestZshCompletion(t *testing.T) {
	zsh := testutil.LookTool("zsh")
	if zsh == "" {
		t.Skip("zsh not installed")
	}
	var b bytes.Buffer
	if err := writeZsh(&b, commands()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "_mqtt")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	script := `fpath=(` + dir + ` $fpath); autoload -Uz compinit; compinit -u -d ` + filepath.Join(dir, "zcompdump") + `; print -r -- "mqtt:${_comps[mqtt]}"`
	out, err := exec.Command(zsh, "-f", "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mqtt:_mqtt") {
		t.Errorf("zsh compinit did not register _mqtt for mqtt: %v\n%s", err, out)
	}
	for _, want := range []string{":0|1|2:(0 1 2)'", "(5 311 31 mqttv5 mqttv311 mqttv31)'", "{-c,--config-file}'[read the configuration from FILE",
		"--cafile[trust the CA certificates in PEM FILE (enables TLS)]:FILE:_files'", ":DIR:_files -/'", "'1:command:(conn pub sub pubsub)'", "'1:bash|zsh|fish:(bash zsh fish)'"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("zsh completion lacks %q", want)
		}
	}
}

// fish completes for real: complete -C prints the candidates for a command line.
func TestFishCompletion(t *testing.T) {
	fish := testutil.LookTool("fish")
	if fish == "" {
		t.Skip("fish not installed")
	}
	var b bytes.Buffer
	if err := writeFish(&b, commands()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(t.TempDir(), "mqtt.fish")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mqtt.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ line, want string }{
		{"mqtt sub -q ", "0 1 2"},
		{"mqtt pub -V ", "31 311 5 mqttv31 mqttv311 mqttv5"},
		{"mqtt serve -c m", "mqtt.conf"},
		{"mqtt pub -f m", "mqtt.conf"},
		{"mqtt sub --cafile ", "certs/ mqtt.conf"},
		{"mqtt sub --capath ", "certs/"},
		{"mqtt bench ", "conn pub pubsub sub"},
		{"mqtt completion ", "bash fish zsh"},
		{"mqtt se", "serve"},
		{"mqtt pub --qo", "--qos"},
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source "+f+"; complete -C "+shQuote(tc.line))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
		}
		sort.Strings(got)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("fish: complete -C %q = %q, want %q", tc.line, strings.Join(got, " "), tc.want)
		}
	}
}

// mqtt.conf(5) documents every directive of internal/config's table.
func TestConfPageListsEveryDirective(t *testing.T) {
	page, err := confPage()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range config.Directives() {
		if !strings.Contains(string(page), `\fB`+roff(d.Name)+`\fR`) {
			t.Errorf("mqtt.conf.5 does not list %s", d.Name)
		}
	}
	for _, sec := range []string{".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH EXAMPLE", ".SH FILES", ".SH SEE ALSO"} {
		if !strings.Contains(string(page), sec) {
			t.Errorf("mqtt.conf.5 lacks %s", sec)
		}
	}
}

// The example in mqtt.conf(5) is a configuration the parser accepts without errors.
func TestConfPageExampleParses(t *testing.T) {
	dir := t.TempDir()
	example := strings.NewReplacer("/etc/mqtt/", dir+"/").Replace(confExample)
	for _, f := range []string{"passwd", "acl"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeSelfSigned(t, filepath.Join(dir, "certs/server.crt"), filepath.Join(dir, "certs/server.key"))
	path := filepath.Join(dir, "mqtt.conf")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := config.Load(path); err != nil {
		t.Errorf("the mqtt.conf.5 example does not load:\n%v", err)
	}
}

// writeSelfSigned writes a throwaway self-signed certificate and its key as PEM files.
func writeSelfSigned(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
