package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PasswordFile is a parsed password file. It keeps every line of the file
// (comments, blank lines, entries it cannot use) so that editing it and
// writing it back never loses anything.
//
// Verify may be called from many goroutines at once; Set, Delete and
// HashPlain must not run concurrently with anything else. The broker only
// reads: it swaps whole files through a [Store].
//
// A nil *PasswordFile verifies no one.
type PasswordFile struct {
	name  string
	lines []pwLine
	index map[string]int // user -> position in lines
	dummy passwordHash   // what an unknown user is checked against
}

type pwLine struct {
	text   string        // the line as written, without the line ending
	user   string        // "" for comments and blank lines
	hash   *passwordHash // nil when the entry cannot be used (plain text, unknown hash)
	plain  bool          // entry holds a plain-text password (in secret)
	secret string
	lineno int
}

// NewPasswordFile returns an empty file; name is used in messages.
func NewPasswordFile(name string) *PasswordFile {
	p := &PasswordFile{name: name, index: map[string]int{}}
	p.setDummy()
	return p
}

// LoadPasswordFile reads and parses the file at path. See ParsePasswordFile.
func LoadPasswordFile(path string) (*PasswordFile, []*LineError, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ParsePasswordFile(path, data)
}

// ParsePasswordFile parses the contents of a password file; name is used in
// messages as FILE in FILE:LINE.
//
// A malformed line is an error: an entry without ':', an empty user name, a
// `$6$`/`$7$` hash that does not decode, a user listed twice. Entries the
// broker cannot use but that are well formed — a plain-text password, or a
// hash type other than $6$/$7$ — are returned as warnings and not used for
// Verify, as Mosquitto's broker does ("removing entry").
func ParsePasswordFile(name string, data []byte) (*PasswordFile, []*LineError, error) {
	p := &PasswordFile{name: name, index: map[string]int{}}
	var warnings []*LineError
	for i, raw := range splitLines(data) {
		lineno := i + 1
		l := pwLine{text: raw, lineno: lineno}
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || trimmed[0] == '#' {
			p.lines = append(p.lines, l)
			continue
		}
		user, value, ok := strings.Cut(raw, ":")
		switch {
		case !ok:
			return nil, warnings, lineErrorf(name, lineno, "expected USER:$7$ITERATIONS$SALT$HASH or USER:$6$SALT$HASH, found no ':'")
		case user == "":
			return nil, warnings, lineErrorf(name, lineno, "empty user name before ':'")
		}
		if first, dup := p.index[user]; dup {
			return nil, warnings, lineErrorf(name, lineno, "user %q is listed twice (first at line %d)", user, p.lines[first].lineno)
		}
		l.user = user
		h, err := parseHash(strings.TrimSpace(value))
		switch {
		case err == nil:
			l.hash = &h
		case errors.Is(err, errNotOurHash):
			if id, isHash := hashPrefix(value); isHash {
				warnings = append(warnings, lineErrorf(name, lineno, "unsupported hash type $%s$ for user %q (expected $7$ or $6$), entry ignored", id, user))
			} else {
				l.plain, l.secret = true, value
				warnings = append(warnings, lineErrorf(name, lineno, "plain-text password for user %q, entry ignored (hash the file with `mqtt passwd -U`)", user))
			}
		default:
			return nil, warnings, lineErrorf(name, lineno, "user %q: %v", user, err)
		}
		p.index[user] = len(p.lines)
		p.lines = append(p.lines, l)
	}
	p.setDummy()
	return p, warnings, nil
}

// LoadBrokerPasswordFile reads and parses the file at path as the broker reads it. See
// ParseBrokerPasswordFile; the error is only for a file that cannot be read.
func LoadBrokerPasswordFile(path string) (*PasswordFile, []*LineError, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	p, warnings := ParseBrokerPasswordFile(path, data)
	return p, warnings, nil
}

// maxPasswordField is the longest user name or hash Mosquitto's broker reads (65535 bytes).
const maxPasswordField = 65535

// ParseBrokerPasswordFile parses a password file as Mosquitto 2.0.11's broker does (checked by
// running it): no line stops the broker. Lines starting with '#' are comments; a line is
// USER:HASH, both trimmed of white space, anything after a second ':' ignored; a line without
// ':', without a user name or without a hash is skipped, and so is an entry whose hash is not a
// valid $7$ or $6$ hash ("removing entry"). A user listed twice gets the last usable entry.
// The warnings are the lines skipped, each naming FILE:LINE (Mosquitto names no line, and
// skips a line without ':' silently). ParsePasswordFile, for mqtt passwd, is stricter.
func ParseBrokerPasswordFile(name string, data []byte) (*PasswordFile, []*LineError) {
	return parseBroker(name, data)
}

func parseBroker(name string, data []byte) (*PasswordFile, []*LineError) {
	p := &PasswordFile{name: name, index: map[string]int{}}
	var warnings []*LineError
	warn := func(lineno int, format string, args ...any) {
		warnings = append(warnings, lineErrorf(name, lineno, format, args...))
	}
	for i, raw := range splitLines(data) {
		lineno := i + 1
		l := pwLine{text: raw, lineno: lineno}
		p.lines = append(p.lines, l)
		if strings.HasPrefix(raw, "#") || strings.TrimSpace(raw) == "" {
			continue
		}
		if !strings.Contains(raw, ":") {
			warn(lineno, "no ':' (expected USER:HASH), line ignored")
			continue
		}
		// Mosquitto splits with strtok(":"): empty fields do not count.
		var fields []string
		for _, f := range strings.Split(raw, ":") {
			if f != "" {
				fields = append(fields, f)
			}
		}
		user := ""
		if len(fields) > 0 {
			user = strings.TrimSpace(fields[0])
		}
		switch {
		case user == "":
			warn(lineno, "empty user name, line ignored")
			continue
		case len(user) > maxPasswordField:
			warn(lineno, "user name longer than %d bytes, line ignored", maxPasswordField)
			continue
		case len(fields) < 2 || strings.TrimSpace(fields[1]) == "":
			warn(lineno, "user %q has no password hash, line ignored", user)
			continue
		}
		value := strings.TrimSpace(fields[1])
		if len(value) > maxPasswordField {
			warn(lineno, "the hash of user %q is longer than %d bytes, line ignored", user, maxPasswordField)
			continue
		}
		h, err := parseHash(value)
		switch {
		case errors.Is(err, errNotOurHash):
			if id, isHash := hashPrefix(value); isHash {
				warn(lineno, "unsupported hash type $%s$ for user %q (expected $7$ or $6$), entry removed", id, user)
			} else {
				warn(lineno, "plain-text password for user %q, entry removed (hash the file with `mqtt passwd -U`)", user)
			}
			continue
		case err != nil:
			warn(lineno, "user %q: %v, entry removed", user, err)
			continue
		}
		if first, dup := p.index[user]; dup {
			warn(lineno, "user %q is listed again (first at line %d); the last usable entry is used", user, p.lines[first].lineno)
		}
		last := len(p.lines) - 1
		p.lines[last].user, p.lines[last].hash = user, &h
		p.index[user] = last
	}
	p.setDummy()
	return p, warnings
}

// splitLines splits data into lines without their "\n" or "\r\n" endings.
// A final line without a newline counts; an empty file has no lines.
func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// setDummy picks the parameters an unknown user is checked against: the
// most common ones in the file, so a failed login for a missing user costs
// about what it costs for most real users, and user existence does not show
// in response times.
func (p *PasswordFile) setDummy() {
	type params struct {
		kind byte
		iter int
	}
	count := map[params]int{}
	best, bestN := params{'7', DefaultIterations}, 0
	for _, l := range p.lines {
		if l.hash == nil {
			continue
		}
		k := params{l.hash.kind, l.hash.iterations}
		count[k]++
		if count[k] > bestN {
			best, bestN = k, count[k]
		}
	}
	p.dummy = passwordHash{kind: best.kind, iterations: best.iter, salt: make([]byte, saltLen), sum: make([]byte, keyLen)}
}

// Verify reports whether password is correct for user. The comparison is in
// constant time, and an unknown user costs as much as a typical known one.
func (p *PasswordFile) Verify(user, password string) bool {
	if p == nil {
		return false
	}
	h := &p.dummy
	known := false
	if i, ok := p.index[user]; ok && p.lines[i].hash != nil {
		h, known = p.lines[i].hash, true
	}
	ok := h.verify(password)
	return ok && known
}

// Users returns the users that have an entry, in file order, including
// entries Verify ignores (plain text, unknown hash types).
func (p *PasswordFile) Users() []string {
	if p == nil {
		return nil
	}
	var users []string
	for _, l := range p.lines {
		if l.user != "" {
			users = append(users, l.user)
		}
	}
	return users
}

// Has reports whether user has an entry.
func (p *PasswordFile) Has(user string) bool {
	if p == nil {
		return false
	}
	_, ok := p.index[user]
	return ok
}

// ValidateUsername checks a user name for a password file entry.
func ValidateUsername(user string) error {
	switch {
	case user == "":
		return errors.New("username must not be empty")
	case strings.ContainsRune(user, ':'):
		return errors.New("username must not contain the ':' character")
	case strings.ContainsAny(user, "\r\n\x00"):
		return errors.New("username must not contain line breaks or NUL")
	}
	return nil
}

// Set adds user with an encoded hash (from HashPBKDF2 or HashSHA512), or
// replaces the user's entry where it stands.
func (p *PasswordFile) Set(user, encoded string) error {
	if err := ValidateUsername(user); err != nil {
		return err
	}
	h, err := parseHash(encoded)
	if err != nil {
		return fmt.Errorf("invalid hash for user %q: %w", user, err)
	}
	l := pwLine{text: user + ":" + encoded, user: user, hash: &h}
	if i, ok := p.index[user]; ok {
		l.lineno = p.lines[i].lineno
		p.lines[i] = l
	} else {
		p.index[user] = len(p.lines)
		p.lines = append(p.lines, l)
	}
	p.setDummy()
	return nil
}

// Delete removes user's entry and reports whether there was one.
func (p *PasswordFile) Delete(user string) bool {
	i, ok := p.index[user]
	if !ok {
		return false
	}
	p.lines = append(p.lines[:i], p.lines[i+1:]...)
	delete(p.index, user)
	for u, j := range p.index {
		if j > i {
			p.index[u] = j - 1
		}
	}
	p.setDummy()
	return true
}

// HashPlain replaces every plain-text entry with a hash made by hash, and
// returns how many it replaced. Entries that are already hashed (and entries
// with hash types we do not know) are left alone.
func (p *PasswordFile) HashPlain(hash func(password string) (string, error)) (int, error) {
	n := 0
	for i, l := range p.lines {
		if !l.plain {
			continue
		}
		enc, err := hash(l.secret)
		if err != nil {
			return n, fmt.Errorf("hashing password of user %q: %w", l.user, err)
		}
		h, err := parseHash(enc)
		if err != nil {
			return n, err
		}
		p.lines[i] = pwLine{text: l.user + ":" + enc, user: l.user, hash: &h, lineno: l.lineno}
		n++
	}
	p.setDummy()
	return n, nil
}

// Bytes returns the file's contents: every line, in order, each ending in '\n'.
func (p *PasswordFile) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range p.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteFile writes the file to path atomically. An existing file keeps its
// mode (and owner, where permitted); a new file gets mode 0600.
func (p *PasswordFile) WriteFile(path string) error {
	return WriteFileAtomic(path, p.Bytes(), 0o600)
}
