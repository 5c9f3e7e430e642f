package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter in bytes: both are UTF-8
// Encoded Strings with a two-byte length prefix [MQTT-4.7.3-3].
const MaxLen = 65535

// SharePrefix starts every shared-subscription filter [MQTT-4.8.2-1].
const SharePrefix = "$share/"

// Sentinel errors wrapped by every validation error, so that callers can
// choose a reason code with errors.Is: ErrInvalidName maps to 0x90 (Topic
// Name invalid), ErrInvalidFilter and ErrInvalidShare to 0x8F (Topic Filter
// invalid).
var (
	ErrInvalidName   = errors.New("invalid topic name")
	ErrInvalidFilter = errors.New("invalid topic filter")
	ErrInvalidShare  = errors.New("invalid shared subscription")
)

// Error describes why a topic name or filter was rejected.
type Error struct {
	Topic  string // the rejected input
	Reason string // what is wrong, in words
	Kind   error  // ErrInvalidName, ErrInvalidFilter or ErrInvalidShare
}

// Error returns e.g. `topic: "a/b#": '#' must be the last character and occupy a whole level`.
func (e *Error) Error() string {
	t := e.Topic
	if len(t) > 64 { // keep log lines readable for 64 KiB inputs
		return fmt.Sprintf("topic: %q… (%d bytes): %s", t[:64], len(t), e.Reason)
	}
	return fmt.Sprintf("topic: %q: %s", t, e.Reason)
}

// Unwrap returns the sentinel kind.
func (e *Error) Unwrap() error { return e.Kind }

func invalid(kind error, topic, reason string) error {
	return &Error{Topic: topic, Reason: reason, Kind: kind}
}

// checkString applies the rules common to names and filters.
func checkString(kind error, s string) error {
	switch {
	case len(s) == 0:
		return invalid(kind, s, "must be at least one character long") // [MQTT-4.7.3-1]
	case len(s) > MaxLen:
		return invalid(kind, s, fmt.Sprintf("longer than %d bytes", MaxLen)) // [MQTT-4.7.3-3]
	case strings.IndexByte(s, 0) >= 0:
		return invalid(kind, s, "must not contain the null character U+0000") // [MQTT-4.7.3-2]
	case !utf8.ValidString(s):
		// Also rejects surrogates U+D800..U+DFFF and overlong forms
		// [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]).
		return invalid(kind, s, "is not well-formed UTF-8")
	}
	return nil
}

// ValidateName reports whether name may be used as the topic of a PUBLISH:
// non-empty [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], well-formed
// UTF-8 without U+0000 [MQTT-4.7.3-2], and no wildcard characters
// [MQTT-4.7.1-1] (5.0: [MQTT-4.7.0-1]). Names starting with '$' are valid
// here; whether a client may publish to them is the broker's policy.
func ValidateName(name string) error {
	// Fast path, one pass: printable ASCII without wildcards or NUL is
	// valid (the broker checks every PUBLISH; this was 6% of its CPU in
	// fan-in QoS 0 as three scans). Anything else takes the full checks,
	// which also say what is wrong.
	if len(name) > 0 && len(name) <= MaxLen {
		i := 0
		for ; i < len(name); i++ {
			if c := name[i]; c >= 0x80 || c == 0 || c == '+' || c == '#' {
				break
			}
		}
		if i == len(name) {
			return nil
		}
	}
	if err := checkString(ErrInvalidName, name); err != nil {
		return err
	}
	if i := strings.IndexAny(name, "+#"); i >= 0 {
		return invalid(ErrInvalidName, name, fmt.Sprintf("wildcard %q is not allowed in a topic name", name[i]))
	}
	return nil
}

// ValidateFilter reports whether filter is a valid topic filter: the string
// rules of ValidateName, '#' only alone in the last level [MQTT-4.7.1-2]
// (5.0: [MQTT-4.7.1-1]) and '+' only alone in its level [MQTT-4.7.1-3]
// (5.0: [MQTT-4.7.1-2]). A "$share/..." filter is validated as a plain filter
// here; use ParseShared to apply the shared-subscription rules.
func ValidateFilter(filter string) error {
	if err := checkString(ErrInvalidFilter, filter); err != nil {
		return err
	}
	return checkWildcards(filter)
}

func checkWildcards(filter string) error {
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if (i > 0 && filter[i-1] != '/') || i != len(filter)-1 {
				return invalid(ErrInvalidFilter, filter, "'#' must be the last character and occupy a whole level")
			}
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return invalid(ErrInvalidFilter, filter, "'+' must occupy a whole level")
			}
		}
	}
	return nil
}

// ParseShared splits a shared-subscription filter "$share/{group}/{inner}".
// For a filter that does not start with "$share/" it returns ok == false,
// inner == filter and a nil error (the caller validates it as a plain
// filter). For a shared filter the group must be non-empty [MQTT-4.8.2-1],
// must not contain '/', '+' or '#' and must be followed by '/' and a valid
// topic filter [MQTT-4.8.2-2]; otherwise err wraps ErrInvalidShare.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	if !strings.HasPrefix(filter, SharePrefix) {
		return "", filter, false, nil
	}
	if err := checkString(ErrInvalidShare, filter); err != nil {
		return "", "", true, err
	}
	rest := filter[len(SharePrefix):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return "", "", true, invalid(ErrInvalidShare, filter, "a shared subscription must have the form $share/{ShareName}/{filter}")
	}
	group, inner = rest[:slash], rest[slash+1:]
	switch {
	case group == "":
		return "", "", true, invalid(ErrInvalidShare, filter, "the ShareName must be at least one character long")
	case strings.ContainsAny(group, "+#"):
		return "", "", true, invalid(ErrInvalidShare, filter, "the ShareName must not contain '+' or '#'")
	case inner == "":
		return "", "", true, invalid(ErrInvalidShare, filter, "the ShareName must be followed by '/' and a topic filter")
	}
	if err := checkWildcards(inner); err != nil {
		e := err.(*Error)
		return "", "", true, invalid(ErrInvalidShare, filter, "in the shared topic filter: "+e.Reason)
	}
	return group, inner, true, nil
}

// Match reports whether the topic name matches the topic filter. It is the
// simple reference matcher (clients use it to route incoming messages to
// handlers; tests use it to check SubscriptionIndex). Both arguments are
// assumed valid; pass the inner filter of a shared subscription.
//
// A filter whose first level is a wildcard does not match a name starting
// with '$' [MQTT-4.7.2-1], and "sport/#" matches "sport" because '#' also
// matches the parent level [MQTT-4.7.1-2]. Matching compares bytes, without
// any normalization [MQTT-4.7.3-4].
func Match(filter, name string) bool {
	if name == "" || filter == "" { // [MQTT-4.7.3-1]
		return false
	}
	if name[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := cut(filter)
		if f == "#" && !fmore {
			return true
		}
		n, nrest, nmore := cut(name)
		if f != "+" && f != n {
			return false
		}
		switch {
		case !fmore && !nmore:
			return true
		case !nmore:
			// Name exhausted: only a trailing "/#" can still match.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, name = frest, nrest
	}
}

// cut splits off the first level of s; more reports whether a '/' followed.
func cut(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// MaxLevels is how many levels a topic name or filter may have here, as
// in Mosquitto: the protocol sets no limit, but every level of a filter
// is a node of the subscription index, and a name of thousands of levels
// is an attack, not a topic. Brokers refuse deeper ones (PUBLISH: Topic
// Name invalid; SUBSCRIBE: Topic Filter invalid).
const MaxLevels = 200

// TooDeep reports whether a topic name or filter has more than
// MaxLevels levels. It stops counting at the limit.
func TooDeep(s string) bool {
	// More than MaxLevels levels take at least MaxLevels separators: a
	// shorter name (nearly every one) is not counted at all.
	return len(s) >= MaxLevels && strings.Count(s, "/") >= MaxLevels
}
