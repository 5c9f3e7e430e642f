package cli

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Exit codes shared by the subcommands. Mosquitto's tools exit 1 on every usage error, so we do too.
const (
	exitOK    = 0
	exitError = 1
)

// codeError is an error carrying the process exit code. It implements urfave's ExitCoder, so a
// command's Action can return one and Main turns it into the exit status. An empty message
// means the command has already told the user what went wrong.
type codeError struct {
	code int
	msg  string
	hint bool // append "Run 'PROG --help' for usage."
}

func (e *codeError) Error() string { return e.msg }
func (e *codeError) ExitCode() int { return e.code }

// exitf returns an error that makes the process exit with code after printing the message.
func exitf(code int, format string, args ...any) error {
	return &codeError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageErrorf reports a bad command line: exit code 1, the message, and a hint to --help.
func usageErrorf(format string, args ...any) error {
	return &codeError{code: exitError, msg: fmt.Sprintf(format, args...), hint: true}
}

// notImplemented is what the placeholder subcommands do until their package lands: print
// "NAME: not implemented yet" on stderr and exit 1.
func notImplemented(c *ucli.Context, name string) error {
	fmt.Fprintf(c.App.ErrWriter, "%s: not implemented yet\n", name)
	return exitf(exitError, "")
}

var (
	reUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reNeedsArg  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	reBadValue  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -+([^:]*): (.*)$`)
)

// flagDisplay spells a flag the way a user types it: -x for one letter, --name otherwise.
func flagDisplay(name string) string {
	if len([]rune(name)) == 1 {
		return "-" + name
	}
	return "--" + name
}

// usageError rewrites the standard flag package's parse errors into one line naming the flag.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return usageErrorf("unknown option %s", flagDisplay(m[1]))
	}
	if m := reNeedsArg.FindStringSubmatch(msg); m != nil {
		return usageErrorf("option %s needs a value", flagDisplay(m[1]))
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		why := m[3]
		switch {
		case strings.Contains(why, "invalid syntax"):
			why = "not a number"
		case strings.Contains(why, "out of range"):
			why = "number out of range"
		case why == "parse error":
			why = "expected a number"
		}
		return usageErrorf("invalid value %q for option %s: %s", m[1], flagDisplay(m[2]), why)
	}
	return usageErrorf("%s", msg)
}

// exitCodeOf maps an error returned by the app to a process exit code.
func exitCodeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ec ucli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitError
}
