package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mqttkit/mqtt/internal/testutil"
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
	// Load the script and complete "mqtt pub --q" and "mqtt sub -q " in a real bash.
	script := b.String() + `
COMP_WORDS=(mqtt pub --qo); COMP_CWORD=2; _mqtt; echo "flags:${COMPREPLY[*]}"
COMP_WORDS=(mqtt sub -q ""); COMP_CWORD=3; _mqtt; echo "qos:${COMPREPLY[*]}"
COMP_WORDS=(mqtt pub -V ""); COMP_CWORD=3; _mqtt; echo "versions:${COMPREPLY[*]}"
COMP_WORDS=(mqtt se); COMP_CWORD=1; _mqtt; echo "cmds:${COMPREPLY[*]}"
COMP_WORDS=(mqtt completion ""); COMP_CWORD=2; _mqtt; echo "shells:${COMPREPLY[*]}"
`
	out, err := exec.Command(bash, "--norc", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	for _, want := range []string{"flags:--qos", "qos:0 1 2", "versions:5 311 31", "cmds:serve", "shells:bash zsh fish"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("bash completion: want %q in\n%s", want, out)
		}
	}
}

// zsh and fish are not in CI's install list; check their syntax when they happen to be here.
func TestZshFishSyntax(t *testing.T) {
	for _, sh := range []struct {
		name string
		gen  func(*bytes.Buffer) error
	}{
		{"zsh", func(b *bytes.Buffer) error { return writeZsh(b, commands()) }},
		{"fish", func(b *bytes.Buffer) error { return writeFish(b, commands()) }},
	} {
		path := testutil.LookTool(sh.name)
		if path == "" {
			t.Logf("%s not installed; syntax not checked", sh.name)
			continue
		}
		var b bytes.Buffer
		if err := sh.gen(&b); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "completion")
		if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh.name, err, out)
		}
	}
}
