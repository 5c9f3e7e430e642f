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

// PasswdUsage is the usage text of `mqtt passwd` / mosquitto_passwd.
const PasswdUsage = `Usage: passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D] FILE USER
       passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c] -b FILE USER PASSWORD
       passwd [-H ...] [-I iterations] -U FILE
 -b : batch mode: the password is given on the command line.
 -c : create a new password file, overwriting an existing one.
 -D : delete USER instead of adding or updating it.
 -H : hash algorithm: sha512-pbkdf2 (default, recommended) or sha512 (Mosquitto 1.6 and earlier).
 -I : PBKDF2 iterations (default 101).
 -U : hash the plain-text passwords of a user:password file in place; entries
      that are already hashed are left alone.
Without -b the password is asked for twice on the terminal, or read from
standard input (one line, optionally a second identical line) when it is not
a terminal. New files are created with mode 0600.
`

// PasswdOptions are the parsed flags of `mqtt passwd`.
type PasswdOptions struct {
	Create, Batch, Delete, Upgrade bool
	Hash                           string // "" means sha512-pbkdf2
	Iterations                     int
	IterationsSet                  bool     // -I was given (so 0 is an error, not "default")
	Args                           []string // FILE [USER [PASSWORD]]
}

// RunPasswd parses mosquitto_passwd-style arguments (without the program
// name) and runs the command. It returns the exit status: 0, or 1 after
// printing an error to stderr.
func RunPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, err := ParsePasswdArgs(args)
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, PasswdUsage)
			return 0
		}
		fmt.Fprintf(stderr, "Error: %v\n\n%s", err, PasswdUsage)
		return 1
	}
	return Passwd(opts, stdin, stdout, stderr)
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

// Passwd runs `mqtt passwd` with parsed options. Messages follow
// mosquitto_passwd's ("Error: ...", "Warning: ..."); every failure exits 1.
func Passwd(o PasswdOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	warn := func(format string, args ...any) { fmt.Fprintf(stderr, "Warning: "+format+"\n", args...) }
	err := runPasswd(o, stdin, stderr, warn)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errQuiet):
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %v\n\n%s", err, PasswdUsage)
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
			return fmt.Errorf("Unknown hash type '%s' (expected sha512-pbkdf2 or sha512).", o.Hash)
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
		if o.Upgrade && len(o.Args) == 0 {
			return errors.New("-U argument given but password file missing.")
		}
		return usagef("expected %d arguments, got %d.", want, len(o.Args))
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
		return nil, fmt.Errorf("Unable to open password file %s: %s.", file, describe(err))
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
		return fmt.Errorf("Unable to open file %s for writing: directory %s: %s.", file, dir, describe(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("Unable to open file %s for writing: %s is not a directory.", file, dir)
	}
	return nil
}

func writePasswd(pw *PasswordFile, file string) error {
	if err := pw.WriteFile(file); err != nil {
		return fmt.Errorf("Unable to write password file %s: %s.", file, describe(err))
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
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// readPassword asks twice on a terminal (no echo); otherwise it reads one
// line from stdin, and a second one that must match if present.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(prompt, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading password: %v", err)
		}
		fmt.Fprint(prompt, "Reenter password: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading password: %v", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("Passwords do not match.")
		}
		return string(p1), nil
	}
	if stdin == nil {
		return "", errors.New("no password given: use -b or type it on a terminal.")
	}
	r := bufio.NewReader(stdin)
	p1, err1 := readLine(r)
	if err1 != nil {
		return "", errors.New("no password on standard input (expected one line, or two identical lines).")
	}
	p2, err2 := readLine(r)
	if err2 == nil && p1 != p2 {
		return "", errors.New("Passwords do not match.")
	}
	return p1, nil
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
