package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// PasswdUsage is mosquitto_passwd 2.0's usage text, naming the tool as invoked (prog:
// "mosquitto_passwd" or "mqtt passwd"). It leaves out -I, as Mosquitto's does though it takes
// it; mqtt-passwd(1) lists it.
func PasswdUsage(prog string) string {
	more := "See https://mosquitto.org/ for more information."
	if prog != "mosquitto_passwd" {
		more = "See mqtt-passwd(1) for more information."
	}
	return prog + ` is a tool for managing password files for mosquitto.

Usage: ` + prog + ` [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       ` + prog + ` [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       ` + prog + ` -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512.
 -U : update a plain text password file to use hashed passwords.

` + more + `

`
}

// PasswdOptions are the parsed flags of `mqtt passwd`.
type PasswdOptions struct {
	Create, Batch, Delete, Upgrade bool
	Hash                           string // "" means sha512-pbkdf2
	Iterations                     int
	IterationsSet                  bool     // -I was given (so 0 is an error, not "default")
	Args                           []string // FILE [USER [PASSWORD]]
}

// RunPasswd parses mosquitto_passwd-style arguments (without the program
// name) and runs the command as mosquitto_passwd. It returns the exit
// status: 0, 1 after printing an error to stderr (or the usage to stdout),
// or 2 when the two passwords typed differ.
func RunPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, err := ParsePasswdArgs(args)
	if err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintf(stderr, "Error: %v\n", err)
		}
		fmt.Fprint(stdout, PasswdUsage("mosquitto_passwd"))
		return 1
	}
	return Passwd(opts, "mosquitto_passwd", stdin, stdout, stderr)
}

var errHelp = errors.New("help requested")

// ParsePasswdArgs parses flags as mosquitto_passwd does: flags first, then
// FILE, USER and PASSWORD. "--" ends the flags.
func ParsePasswdArgs(args []string) (PasswdOptions, error) {
	var o PasswdOptions
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		switch a {
		case "-b":
			o.Batch = true
		case "-c":
			o.Create = true
		case "-D":
			o.Delete = true
		case "-U":
			o.Upgrade = true
		case "-h", "--help":
			return o, errHelp
		case "-H", "-I":
			if i+1 >= len(args) {
				return o, fmt.Errorf("%s needs a value", a)
			}
			i++
			if a == "-H" {
				o.Hash = args[i]
				break
			}
			n, err := strconv.Atoi(args[i])
			if err != nil {
				return o, fmt.Errorf("-I %q: the number of iterations must be a whole number", args[i])
			}
			o.Iterations, o.IterationsSet = n, true
		default:
			return o, fmt.Errorf("unknown option %q", a)
		}
	}
	o.Args = args[i:]
	return o, nil
}

// Passwd runs `mqtt passwd` with parsed options; prog names the tool in the
// usage text. Messages and exit codes follow mosquitto_passwd 2.0's: "Error:
// ..." on stderr and 1, the usage on stdout and 1 for a wrong number of
// arguments, 2 when the two passwords typed differ.
func Passwd(o PasswdOptions, prog string, stdin io.Reader, stdout, stderr io.Writer) int {
	warn := func(format string, args ...any) { fmt.Fprintf(stderr, "Warning: "+format+"\n", args...) }
	err := runPasswd(o, stdin, stdout, warn)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errQuiet):
	case errors.Is(err, errMismatch):
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	case errors.As(err, &ue) && ue.msg == "":
		fmt.Fprint(stdout, PasswdUsage(prog))
	default:
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	return 1
}

// usageError is a command-line mistake: the usage text follows the message.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// errQuiet ends the command with status 1 after a warning already printed
// (-D of an unknown user, as mosquitto_passwd).
var errQuiet = errors.New("already reported")

// errMismatch: the password typed the second time differs (exit status 2).
var errMismatch = errors.New("Passwords do not match.")

func runPasswd(o PasswdOptions, stdin io.Reader, prompt io.Writer, warn func(string, ...any)) error {
	switch {
	case o.Create && o.Delete:
		return errors.New("-c and -D cannot be used together.")
	case o.Batch && o.Delete:
		return errors.New("-b and -D cannot be used together.")
	case o.Upgrade && (o.Create || o.Batch || o.Delete):
		return errors.New("-U cannot be used with -c, -b or -D.")
	}
	hashType := HashTypePBKDF2
	if o.Hash != "" {
		t, err := ParseHashType(o.Hash)
		if err != nil {
			return fmt.Errorf("Unknown hash type '%s'", o.Hash)
		}
		hashType = t
	}
	if o.IterationsSet && o.Iterations <= 0 {
		return errors.New("Number of iterations must be > 0.")
	}
	if o.Iterations > MaxIterations {
		return fmt.Errorf("Number of iterations must be at most %d.", MaxIterations)
	}
	hash := func(pw string) (string, error) { return Hash(hashType, pw, o.Iterations) }

	want := 2
	switch {
	case o.Upgrade:
		want = 1
	case o.Batch:
		want = 3
	}
	if len(o.Args) != want {
		switch {
		case o.Upgrade:
			return errors.New("-U argument given but password file missing.")
		case o.Create && o.Batch:
			return errors.New("-c argument given but password file, username, or password missing.")
		case o.Create:
			return errors.New("-c argument given but password file or username missing.")
		case o.Delete:
			return errors.New("-D argument given but password file or username missing.")
		}
		return usageError{} // the usage says what is expected
	}
	file := o.Args[0]
	if file == "" {
		return errors.New("the password file name must not be empty.")
	}

	if o.Upgrade {
		pw, err := loadForEdit(file, nil)
		if err != nil {
			return err
		}
		if _, err := pw.HashPlain(hash); err != nil {
			return err
		}
		return writePasswd(pw, file)
	}

	user := o.Args[1]
	if err := ValidateUsername(user); err != nil {
		return fmt.Errorf("%s%s.", strings.ToUpper(err.Error()[:1]), err.Error()[1:])
	}

	var pw *PasswordFile
	if o.Create {
		if err := checkDir(file); err != nil {
			return err
		}
		pw = NewPasswordFile(file)
	} else {
		var err error
		if pw, err = loadForEdit(file, warn); err != nil {
			return err
		}
	}

	if o.Delete {
		if !pw.Delete(user) {
			warn("User %s not found in password file.", user)
			return errQuiet
		}
		return writePasswd(pw, file)
	}

	var password string
	if o.Batch {
		password = o.Args[2]
	} else {
		var err error
		if password, err = readPassword(stdin, prompt); err != nil {
			return err
		}
	}
	enc, err := hash(password)
	if err != nil {
		return err
	}
	if err := pw.Set(user, enc); err != nil {
		return err
	}
	return writePasswd(pw, file)
}

func loadForEdit(file string, warn func(string, ...any)) (*PasswordFile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("Unable to open password file %s. %s.", file, describe(err))
	}
	pw, warnings, err := ParsePasswordFile(file, data)
	if err != nil {
		return nil, err
	}
	if warn != nil {
		for _, w := range warnings {
			warn("%v", w)
		}
	}
	return pw, nil
}

func checkDir(file string) error {
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("Unable to open file %s for writing. %s.", file, describe(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("Unable to open file %s for writing. Not a directory.", file)
	}
	return nil
}

func writePasswd(pw *PasswordFile, file string) error {
	if err := pw.WriteFile(file); err != nil {
		return fmt.Errorf("Unable to write password file %s. %s.", file, describe(err))
	}
	return nil
}

// describe returns the cause of a file error without repeating the path.
func describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	// strerror(3)'s words, as mosquitto_passwd prints them.
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	}
	msg := err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg
}

// readPassword asks for the password twice, as mosquitto_passwd does:
// "Password: " and "Reenter password: " on stdout (whether or not stdin is a
// terminal; on one, what is typed is not shown), each answer one line. An
// empty answer, or none, is "Empty password."; two different ones are
// errMismatch.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	var read func() (string, bool)
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read = func() (string, bool) {
			p, err := term.ReadPassword(int(f.Fd()))
			return string(p), err == nil && len(p) > 0
		}
	} else {
		var r *bufio.Reader
		if stdin != nil {
			r = bufio.NewReader(stdin)
		}
		read = func() (string, bool) {
			if r == nil {
				return "", false
			}
			p, err := readLine(r)
			return p, err == nil && p != ""
		}
	}
	var pw [2]string
	for i, ask := range []string{"Password: ", "Reenter password: "} {
		fmt.Fprint(prompt, ask)
		p, ok := read()
		if !ok {
			return "", errors.New("Empty password.")
		}
		fmt.Fprintln(prompt)
		pw[i] = p
	}
	if pw[0] != pw[1] {
		return "", errMismatch
	}
	return pw[0], nil
}

// readLine returns the next line without "\n" or "\r\n". A final line
// without a newline counts; io.EOF means there was nothing left.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", io.EOF
		}
		return "", err
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
