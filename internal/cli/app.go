// Package cli wires the mqtt multi-call binary: the urfave/cli application, one file per
// subcommand (serve.go, pub.go, sub.go, passwd.go, sngateway.go, bench.go), the one set of
// connection flags shared by the clients (connflags.go), version and shell completion, and the
// generator of completion scripts and man pages (gen.go, man.go) from the same definitions.
//
// Invoked through a link named mosquitto, mosquitto_pub, mosquitto_sub or mosquitto_passwd the
// binary acts as that tool: its flags at the top level and the link name in help and errors.
//
// Adding or changing a subcommand touches only its file; run `make gen` afterwards so the
// checked-in completions and man pages follow.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mqttkit/mqtt/internal/auth"
	ucli "github.com/urfave/cli/v2"
)

func init() {
	// Mosquitto's tools use -h for the host, so help is --help only and -h stays free for
	// connection flags. urfave/cli/v2 reads its help flag from this package variable; it is set
	// once here, before any app exists, and never changed afterwards.
	ucli.HelpFlag = &ucli.BoolFlag{Name: "help", Usage: "show help"}
}

// Main runs the program for argv and returns the process exit code. It never panics on bad
// input: errors become one line on stderr and a non-zero code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

// commands returns fresh definitions of every subcommand, in the order help lists them.
// Each call builds new values, so apps built from them can run concurrently in tests.
func commands() []*ucli.Command {
	return []*ucli.Command{
		serveCommand(),
		pubCommand(),
		subCommand(),
		passwdCommand(),
		snGatewayCommand(),
		benchCommand(),
		versionCommand(),
		completionCommand(),
	}
}

// toolFor maps the name the binary was invoked as to the subcommand it then acts as.
func toolFor(prog string) string {
	switch prog {
	case "mosquitto":
		return "serve"
	case "mosquitto_pub":
		return "pub"
	case "mosquitto_sub":
		return "sub"
	case "mosquitto_passwd":
		return "passwd"
	}
	return ""
}

// programName is argv[0] without directory and, on Windows, without ".exe".
func programName(argv0 string) string {
	p := filepath.Base(argv0)
	if ext := filepath.Ext(p); strings.EqualFold(ext, ".exe") {
		p = strings.TrimSuffix(p, ext)
	}
	if p == "." || p == string(filepath.Separator) || p == "" {
		return "mqtt"
	}
	return p
}

const appDescription = `mqtt is an MQTT 3.1, 3.1.1 and 5.0 broker, command-line clients, a password-file tool, ` +
	`an MQTT-SN gateway and a load generator in one binary. Invoked through a link named mosquitto, ` +
	`mosquitto_pub, mosquitto_sub or mosquitto_passwd it acts as that Mosquitto tool.`

// NewApp builds the mqtt application with its subcommands. Output goes to stdout and stderr.
// Every call returns an independent app; nothing is shared between them.
func NewApp(stdout, stderr io.Writer) *ucli.App {
	app := &ucli.App{
		Name:                      "mqtt",
		HelpName:                  "mqtt",
		Usage:                     "MQTT broker, clients and tools in one binary",
		Description:               appDescription,
		Commands:                  commands(),
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true, // urfave's --version/-v clashes with -v of serve and sub; see `mqtt version`
		DisableSliceFlagSeparator: true, // -t 'a,b' is one topic, not two
		ExitErrHandler:            func(*ucli.Context, error) {},
		OnUsageError:              onUsageError,
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q", c.Args().First())
			}
			return ucli.ShowAppHelp(c)
		},
	}
	for _, c := range app.Commands {
		prepareCommand(c)
	}
	return app
}

// prepareCommand applies what every subcommand shares, so their files need not repeat it.
func prepareCommand(c *ucli.Command) { prepare(c, true) }

func prepare(c *ucli.Command, top bool) {
	if c.OnUsageError == nil {
		c.OnUsageError = onUsageError
	}
	c.HideHelpCommand = true
	if len(c.Subcommands) == 0 && c.ArgsUsage == "" {
		mosquittoStyle := top && (c.Name == "pub" || c.Name == "sub")
		c.Before = refuseArguments(mosquittoStyle, c.Before)
	}
	for _, s := range c.Subcommands {
		prepare(s, false)
	}
}

// refuseArguments makes a command that takes no arguments refuse a word that is not an
// option, before then: the flag parser stops at the first such word, so every option after
// it would be silently ignored ("mqtt serve stray -p 1884" would start a broker on 1883).
func refuseArguments(mosquittoStyle bool, then ucli.BeforeFunc) ucli.BeforeFunc {
	return func(c *ucli.Context) error {
		if c.Args().Present() {
			word := c.Args().First()
			if mosquittoStyle {
				// mosquitto_pub and mosquitto_sub take every word as an option.
				return mosqUsage(c, "Error: Unknown option '%s'.", word)
			}
			if c.Command.Name == "serve" || c.App.Name == "mosquitto" {
				return serveUsageErrorf("unexpected argument %q: %s takes no arguments, and no option after it was read", word, c.Command.HelpName) // exit 3, as mosquitto
			}
			return usageErrorf("unexpected argument %q: %s takes no arguments, and no option after it was read", word, c.Command.HelpName)
		}
		if then != nil {
			return then(c)
		}
		return nil
	}
}

// wantsHelp reports whether args, as prepareArgs left them, ask for --help: the flag parser
// reads them up to "--" or the first word that is not an option, and skips option values
// (-m --help publishes "--help").
func wantsHelp(flags []ucli.Flag, args []string) bool {
	takesValue, named := map[string]bool{}, map[string]bool{}
	for _, f := range flags {
		tv, ok := f.(ucli.DocGenerationFlag)
		for _, n := range f.Names() {
			named[n] = true
			takesValue[n] = ok && tv.TakesValue()
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		// -h is help where it is not an option (mosquitto -h, mosquitto_passwd -h): the flag
		// package then shows the usage, as for --help.
		if name == "help" || (name == "h" && !named["h"]) {
			return true
		}
		if takesValue[name] && !hasValue {
			i++
		}
	}
	return false
}

// toolHelpExit is the exit status of --help for the Mosquitto tools: theirs print the usage
// and exit 1 (the broker 3), and as them, so do we. mqtt's own subcommands exit 0.
var toolHelpExit = map[string]int{"mosquitto_pub": 1, "mosquitto_sub": 1, "mosquitto_passwd": 1, "mosquitto": 3}

// toolApp builds an app that is the single subcommand cmd under the name prog, as Mosquitto's
// tools are: `mosquitto_sub --help` shows sub's options, not a list of subcommands.
func toolApp(prog string, cmd *ucli.Command, stdout, stderr io.Writer) *ucli.App {
	prepareCommand(cmd)
	tmpl := strings.NewReplacer("GLOBAL OPTIONS", "OPTIONS", "[global options]", "[options]").
		Replace(ucli.AppHelpTemplate)
	if cmd.Name == "passwd" {
		tmpl = auth.PasswdUsage(prog) // mosquitto_passwd's own words
	}
	return &ucli.App{
		Name:                      prog,
		HelpName:                  prog,
		Usage:                     cmd.Usage,
		UsageText:                 cmd.UsageText,
		ArgsUsage:                 cmd.ArgsUsage,
		Description:               cmd.Description,
		Flags:                     cmd.Flags,
		Commands:                  cmd.Subcommands,
		Before:                    cmd.Before,
		After:                     cmd.After,
		Action:                    cmd.Action,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*ucli.Context, error) {},
		OnUsageError:              cmd.OnUsageError, // prepareCommand set it; serve's exits 3, as mosquitto
		CustomAppHelpTemplate:     tmpl,
	}
}

// onUsageError turns a flag-parsing error into a one-line usage error. `-h` on a command that
// has no -h flag (the standard flag package's built-in help) shows help instead.
func onUsageError(c *ucli.Context, err error, isSubcommand bool) error {
	if errors.Is(err, flag.ErrHelp) {
		if isSubcommand {
			if lin := c.Lineage(); len(lin) > 1 {
				return ucli.ShowCommandHelp(lin[1], c.Command.Name)
			}
		}
		return ucli.ShowAppHelp(c)
	}
	if c.App.Name == "mosquitto_pub" || c.App.Name == "mosquitto_sub" {
		if m := reUndefined.FindStringSubmatch(err.Error()); m != nil {
			// Mosquitto's words, with the option as it was typed (-Z, --bogus=1).
			given := "-" + m[1]
			args, _ := c.App.Metadata[argsKey].([]string)
			for _, a := range args {
				if a == "--" {
					break
				}
				if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == m[1] {
					given = a
					break
				}
			}
			return mosqUsage(c, "Error: Unknown option '%s'.", given)
		}
	}
	return usageError(err)
}

// findCommand returns the command called name (or with that alias), or nil.
func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// run is Main with its output streams as parameters, for tests.
func run(argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		argv = []string{"mqtt"}
	}
	prog := programName(argv[0])
	helpPath := prog // what the user should run with --help after an error

	var app *ucli.App
	args := append([]string(nil), argv...)
	args[0] = prog
	var cmdArgs []string // the subcommand's arguments, as prepareArgs left them
	if tool := toolFor(prog); tool != "" {
		cmd := findCommand(commands(), tool)
		app = toolApp(prog, cmd, stdout, stderr)
		cmdArgs = prepareArgs(cmd, args[1:])
		args = append(args[:1], cmdArgs...)
	} else {
		app = NewApp(stdout, stderr)
		// The first word that is not an option names the subcommand (the root has only --help).
		for i := 1; i < len(args); i++ {
			if strings.HasPrefix(args[i], "-") {
				continue
			}
			if cmd := findCommand(app.Commands, args[i]); cmd != nil {
				helpPath = prog + " " + cmd.Name
				cmdArgs = prepareArgs(cmd, args[i+1:])
				args = append(args[:i+1], cmdArgs...)
			}
			break
		}
	}

	app.Metadata = map[string]any{argsKey: cmdArgs}
	err := app.Run(args)
	if err == nil {
		if code, ok := toolHelpExit[prog]; ok && wantsHelp(app.Flags, args[1:]) {
			return code
		}
		return exitOK
	}
	reportError(stderr, helpPath, err)
	return exitCodeOf(err)
}

// argsKey is where run keeps the subcommand's arguments in the app's Metadata (see timesGiven).
const argsKey = "cli.args"

// timesGiven counts how many times the options named (canonical names) were given to the
// running subcommand: the flag package keeps only the last value of a repeated option.
// Without the arguments (a command run by a test's own app) it counts the options set.
func timesGiven(c *ucli.Context, names ...string) int {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	args, ok := c.App.Metadata[argsKey].([]string)
	if !ok {
		n := 0
		for _, name := range names {
			if c.IsSet(name) {
				n++
			}
		}
		return n
	}
	takesValue := map[string]bool{}
	for _, f := range c.Command.Flags {
		if tv, ok := f.(ucli.DocGenerationFlag); ok && tv.TakesValue() {
			takesValue[f.Names()[0]] = true
		}
	}
	if len(c.Command.Flags) == 0 { // a tool app: the flags are the app's
		for _, f := range c.App.Flags {
			if tv, ok := f.(ucli.DocGenerationFlag); ok && tv.TakesValue() {
				takesValue[f.Names()[0]] = true
			}
		}
	}
	n := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "--") {
			continue // prepareArgs spelt every known option --NAME
		}
		name, _, hasValue := strings.Cut(a[2:], "=")
		if want[name] {
			n++
		}
		if takesValue[name] && !hasValue {
			i++
		}
	}
	return n
}

// reportError prints err as "PROG: error: message", plus a --help hint for usage errors.
func reportError(w io.Writer, helpPath string, err error) {
	p := newPainter(w)
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.msg == "" {
			return
		}
		fmt.Fprintf(w, "%s: %s %s\n", helpPath, p.errorPrefix(), ce.msg)
		if ce.hint {
			fmt.Fprintln(w, p.hint(fmt.Sprintf("Run '%s --help' for usage.", helpPath)))
		}
		return
	}
	var ec ucli.ExitCoder
	if errors.As(err, &ec) && err.Error() == "" {
		return
	}
	fmt.Fprintf(w, "%s: %s %s\n", helpPath, p.errorPrefix(), err)
}
