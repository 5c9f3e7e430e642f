package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"
)

// runArgs runs the program with argv and returns exit code, stdout and stderr.
func runArgs(argv ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(argv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func noStackTrace(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, "goroutine ") || strings.Contains(s, "panic:") {
		t.Fatalf("output has a Go stack trace:\n%s", s)
	}
}

func TestHelpListsSubcommands(t *testing.T) {
	for _, argv := range [][]string{{"mqtt", "--help"}, {"mqtt"}, {"/usr/local/bin/mqtt", "help"}} {
		code, out, errOut := runArgs(argv...)
		if code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", argv, code, errOut)
		}
		for _, sub := range []string{"serve", "pub", "sub", "passwd", "sn-gateway", "bench", "version", "completion"} {
			if !strings.Contains(out, "   "+sub+" ") {
				t.Errorf("%q: help does not list %s:\n%s", argv, sub, out)
			}
		}
	}
}

func TestSubcommandHelp(t *testing.T) {
	code, out, _ := runArgs("mqtt", "sub", "--help")
	if code != 0 || !strings.Contains(out, "--topic") || !strings.Contains(out, "mqtt sub") {
		t.Fatalf("mqtt sub --help: exit %d\n%s", code, out)
	}
	// -h is the host, never help: without a value it is a usage error naming the flag.
	code, _, errOut := runArgs("mqtt", "sub", "-h")
	if code != 1 || !strings.Contains(errOut, "--host") {
		t.Fatalf("mqtt sub -h: exit %d, stderr %q", code, errOut)
	}
}

func TestToolModeHelp(t *testing.T) {
	tests := []struct {
		argv0, flag string
	}{
		{"/usr/bin/mosquitto_sub", "--topic"},
		{"mosquitto_pub", "--message"},
		{"/usr/sbin/mosquitto", "--config-file"},
		{"./mosquitto_passwd", "-c"},
		{`C:\bin\mosquitto_sub.exe`, "--topic"},
	}
	for _, tt := range tests {
		if strings.Contains(tt.argv0, `\`) && runtime.GOOS != "windows" {
			continue
		}
		prog := programName(tt.argv0)
		code, out, errOut := runArgs(tt.argv0, "--help")
		// As Mosquitto's tools: 1 after --help, 3 for the broker.
		if want := map[string]int{"mosquitto": 3}[prog]; code != want && !(want == 0 && code == 1) {
			t.Fatalf("%s --help: exit %d, stderr %q", tt.argv0, code, errOut)
		}
		if !strings.Contains(out, tt.flag) {
			t.Errorf("%s --help does not show %s:\n%s", tt.argv0, tt.flag, out)
		}
		if prog == "mosquitto_passwd" {
			if !strings.Contains(out, "Usage: mosquitto_passwd [-H") {
				t.Errorf("%s --help is not mosquitto_passwd's usage:\n%s", tt.argv0, out)
			}
		} else if !strings.Contains(out, prog+" [options]") {
			t.Errorf("%s --help does not name the program %s:\n%s", tt.argv0, prog, out)
		}
		for _, notWanted := range []string{"COMMANDS", "GLOBAL OPTIONS"} {
			if strings.Contains(out, notWanted) {
				t.Errorf("%s --help shows %q, the mqtt subcommand list:\n%s", tt.argv0, notWanted, out)
			}
		}
		// The subcommand list's entry (serve's flags may name sn-gateway's options).
		if subcommandEntry.MatchString(out) {
			t.Errorf("%s --help lists the subcommand sn-gateway:\n%s", tt.argv0, out)
		}
	}
	// -h, which only pub and sub have as an option (the host), asks for help as --help does,
	// with Mosquitto's exit status: mosquitto -h exits 3, mosquitto_passwd -h 1.
	for _, tt := range []struct {
		argv0 string
		want  int
	}{{"mosquitto", 3}, {"mosquitto_passwd", 1}} {
		if code, out, errOut := runArgs(tt.argv0, "-h"); code != tt.want || out == "" {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q; want exit %d and the usage", tt.argv0, code, out, errOut, tt.want)
		}
	}
}

var subcommandEntry = regexp.MustCompile(`(?m)^\s*sn-gateway\b`)

// Through a link the command itself runs, and its messages name the link, not mqtt.
func TestToolModeRunsCommand(t *testing.T) {
	code, _, errOut := runArgs("/usr/bin/mosquitto_pub", "-q", "7")
	if code != 1 || !strings.Contains(strings.ToLower(errOut), "qos") || !strings.Contains(errOut, "mosquitto_pub") ||
		strings.Contains(errOut, "mqtt pub") {
		t.Fatalf("mosquitto_pub -q 7: exit %d, stderr %q", code, errOut)
	}
	noStackTrace(t, errOut)
}

func TestUnknownFlag(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"mqtt", "pub", "--no-such-flag"}, "mqtt pub: error: unknown option --no-such-flag"},
		{[]string{"mqtt", "sub", "-Z"}, "unknown option -Z"},
		{[]string{"mqtt", "--bogus"}, "unknown option --bogus"},
		{[]string{"mqtt", "pub", "-t"}, "option --topic needs a value"},
		{[]string{"mqtt", "sub", "-C", "many"}, `invalid value "many" for option --count`},
		{[]string{"mqtt", "nosuch"}, `unknown command "nosuch"`},
	}
	for _, tt := range tests {
		code, out, errOut := runArgs(tt.argv...)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1", tt.argv, code)
		}
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: stderr %q does not contain %q", tt.argv, errOut, tt.want)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%q: error is more than a line and a hint:\n%s", tt.argv, errOut)
		}
		if !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%q: no usage hint in %q", tt.argv, errOut)
		}
		if out != "" {
			t.Errorf("%q: usage error also wrote to stdout:\n%s", tt.argv, out)
		}
		noStackTrace(t, errOut)
	}
}

// Invoked as mosquitto_pub or mosquitto_sub, an unknown option is reported in Mosquitto's
// words, with the option as typed (see TestOptionChecks for the comparison with Mosquitto's).
func TestUnknownFlagAsMosquitto(t *testing.T) {
	code, out, errOut := runArgs("mosquitto_sub", "--bogus", "x")
	if want := "Error: Unknown option '--bogus'.\n\nUse 'mosquitto_sub --help' to see usage.\n"; code != 1 || errOut != want || out != "" {
		t.Errorf("mosquitto_sub --bogus x: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
	}
}

// Placeholder commands print "NAME: not implemented yet" and exit 1 (their owners replace them).
func TestNotImplemented(t *testing.T) {
	var out, errOut bytes.Buffer
	app := NewApp(&out, &errOut)
	app.Commands = append(app.Commands, &ucli.Command{Name: "probe",
		Action: func(c *ucli.Context) error { return notImplemented(c, "probe") }})
	err := app.Run([]string{"mqtt", "probe"})
	if exitCodeOf(err) != 1 || errOut.String() != "probe: not implemented yet\n" {
		t.Fatalf("exit %d, stderr %q", exitCodeOf(err), errOut.String())
	}
	reportError(&errOut, "mqtt probe", err) // adds nothing: the message is already out
	if errOut.String() != "probe: not implemented yet\n" {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := runArgs("mqtt", "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"mqtt ", "commit: ", "built: ", "go:     " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// DisableSliceFlagSeparator: a comma is part of a topic, not a list separator.
func TestCommaStaysInValue(t *testing.T) {
	var got []string
	app := NewApp(&bytes.Buffer{}, &bytes.Buffer{})
	app.Commands = append(app.Commands, &ucli.Command{Name: "probe",
		Flags:  []ucli.Flag{&ucli.StringSliceFlag{Name: "topic", Aliases: []string{"t"}}},
		Action: func(c *ucli.Context) error { got = c.StringSlice("topic"); return nil }})
	if err := app.Run([]string{"mqtt", "probe", "-t", "a,b", "-t", "c"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "a,b" || got[1] != "c" {
		t.Fatalf("topics = %q, want [a,b c]", got)
	}
}

func TestCompletionCommand(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runArgs("mqtt", "completion", sh)
		if code != 0 || !strings.Contains(out, "mqtt") || !strings.Contains(out, "--topic") && !strings.Contains(out, "-l topic") {
			t.Errorf("completion %s: exit %d, stderr %q", sh, code, errOut)
		}
	}
	if code, _, errOut := runArgs("mqtt", "completion", "tcsh"); code != 1 || !strings.Contains(errOut, "tcsh") {
		t.Errorf("completion tcsh: exit %d, stderr %q", code, errOut)
	}
}

// The real thing: a built binary, invoked through a symlink named mosquitto_sub, acts as it.
func TestSymlinkDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mqtt")
	ldflags := "-X github.com/mqttkit/mqtt/internal/cli.version=v9.8.7 -X github.com/mqttkit/mqtt/internal/cli.commit=abc1234"
	build := exec.Command(goBin, "build", "-ldflags", ldflags, "-o", bin, "github.com/mqttkit/mqtt/cmd/mqtt")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	link := filepath.Join(dir, "mosquitto_sub")
	if err := os.Symlink(bin, link); err != nil {
		t.Skipf("symlink: %v", err)
	}
	out, err := exec.Command(link, "--help").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 { // 1, as Mosquitto's
		t.Fatalf("mosquitto_sub --help: %v", err)
	}
	if !strings.Contains(string(out), "--topic") || !strings.Contains(string(out), "mosquitto_sub [options]") ||
		strings.Contains(string(out), "COMMANDS") {
		t.Fatalf("mosquitto_sub --help:\n%s", out)
	}
	cmd := exec.Command(link, "--no-such")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	// Mosquitto's words, naming the program by the link it was invoked through.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stderr.String() != "Error: Unknown option '--no-such'.\n\nUse 'mosquitto_sub --help' to see usage.\n" {
		t.Fatalf("mosquitto_sub --no-such: %v, stderr %q", err, stderr.String())
	}
	out, err = exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "mqtt v9.8.7") || !strings.Contains(string(out), "commit: abc1234") {
		t.Fatalf("version with -ldflags: %v\n%s", err, out)
	}
}
