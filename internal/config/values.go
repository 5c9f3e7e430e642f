package config

import (
	"strconv"
	"strings"
	"time"
)

// splitTokens splits a directive's arguments on blanks. A token starting with '#' begins a
// trailing comment and ends the list (as in Mosquitto's strtok parsing).
func splitTokens(rest string) []string {
	var out []string
	for _, f := range strings.Fields(rest) {
		if strings.HasPrefix(f, "#") {
			break
		}
		out = append(out, f)
	}
	return out
}

// single returns the one token of a directive that takes one word.
func (p *parser) single(pos Pos, name, rest string) (string, bool) {
	toks := splitTokens(rest)
	switch len(toks) {
	case 0:
		p.errorf(pos, name, "%s: missing value", name)
		return "", false
	case 1:
		return toks[0], true
	default:
		p.errorf(pos, name, "%s: unexpected %q after the value %q", name, toks[1], toks[0])
		return "", false
	}
}

// str returns the rest of the line as one value (paths may contain blanks and '#').
func (p *parser) str(pos Pos, name, rest string) (string, bool) {
	v := strings.TrimSpace(rest)
	if v == "" {
		p.errorf(pos, name, "%s: missing value", name)
		return "", false
	}
	return v, true
}

func (p *parser) boolean(pos Pos, name, rest string) (bool, bool) {
	v, ok := p.single(pos, name, rest)
	if !ok {
		return false, false
	}
	switch v {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	p.errorf(pos, name, "%s: expected true or false, got %q", name, v)
	return false, false
}

// integer parses a whole number in [lo, hi].
func (p *parser) integer(pos Pos, name, rest string, lo, hi int) (int, bool) {
	v, ok := p.single(pos, name, rest)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.errorf(pos, name, "%s: expected an integer from %d to %d, got %q", name, lo, hi, v)
		return 0, false
	}
	return n, true
}

// size parses a byte count in [lo, hi]: digits with an optional binary suffix (k, M, G, with
// or without "B"/"iB"), e.g. 1048576 or 1M.
func (p *parser) size(pos Pos, name, rest string, lo, hi int64) (int, bool) {
	v, ok := p.single(pos, name, rest)
	if !ok {
		return 0, false
	}
	n, good := parseSize(v)
	if !good || n < lo || n > hi {
		p.errorf(pos, name, "%s: expected a size in bytes from %d to %d (e.g. 1048576 or 1M), got %q", name, lo, hi, v)
		return 0, false
	}
	return int(n), true
}

func parseSize(s string) (int64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	var mult int64
	switch strings.ToLower(s[i:]) {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, false
	}
	return n * mult, true
}

// expiration parses persistent_client_expiration: a positive number followed by h (hours),
// d (days), w (weeks), m (months of 30 days) or y (years of 365 days).
func parseExpiration(s string) (time.Duration, bool) {
	if len(s) < 2 {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	case 'm':
		unit = 30 * 24 * time.Hour
	case 'y':
		unit = 365 * 24 * time.Hour
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || n > 1000*365*24 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// oneOf checks a single-word value against a fixed set; the message lists the choices.
func (p *parser) oneOf(pos Pos, name, rest string, choices ...string) (string, bool) {
	v, ok := p.single(pos, name, rest)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if v == c {
			return v, true
		}
	}
	p.errorf(pos, name, "%s: expected %s, got %q", name, orList(choices), v)
	return "", false
}

func orList(choices []string) string {
	switch len(choices) {
	case 1:
		return choices[0]
	case 2:
		return choices[0] + " or " + choices[1]
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}
