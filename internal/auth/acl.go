package auth

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Access is what a client wants to do with a topic: read (receive messages,
// subscribe) or write (publish).
type Access uint8

const (
	// AccessDeny is the access of a `deny` rule: none.
	AccessDeny Access = 0
	// AccessRead allows receiving messages published to the topic.
	AccessRead Access = 1
	// AccessWrite allows publishing to the topic.
	AccessWrite Access = 2
	// AccessReadWrite is both; it is the default when a rule names no access.
	AccessReadWrite = AccessRead | AccessWrite
)

func (a Access) String() string {
	switch a {
	case AccessDeny:
		return "deny"
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// ACL is a parsed ACL file. It is immutable and safe for concurrent use.
// A nil *ACL allows everything (no acl_file configured).
//
// Who a rule applies to, as Mosquitto:
//   - `topic` rules before the first `user` line apply to anonymous clients
//     (username ""), `topic` rules after `user NAME` to that user (several
//     sections for one name add up);
//   - `pattern` rules apply to every client, wherever they appear, with %u
//     replaced by the username and %c by the client id. A pattern using %u
//     never applies to anonymous clients.
//
// How a request is decided: if any applicable deny rule matches, access is
// denied; otherwise it is allowed if an applicable rule matches and grants
// the access asked for; otherwise denied. Mosquitto checks the user's own
// rules (denials first) before the patterns (denials first), so there a
// user grant wins over a pattern denial; here every denial is checked before
// every grant, which is stricter and what "deny is checked before grants"
// leads users to expect.
//
// %u and %c must each be a whole topic level, and they are matched level by
// level: a username containing '/' can never match (Mosquitto pastes the
// text in, so "a/b" would span two levels). As in Mosquitto, when the file
// has pattern rules a client whose username or client id contains '+' or
// '#' is denied everything, so it cannot turn a pattern into a wildcard.
type ACL struct {
	anonymous   *ruleSet
	users       map[string]*ruleSet
	patterns    *ruleSet
	hasPatterns bool
}

type ruleSet struct {
	deny  []rule
	grant []rule
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus
	levelHash
	levelUser   // %u
	levelClient // %c
)

type level struct {
	kind levelKind
	text string
}

type rule struct {
	filter string  // as written
	access Access  // AccessDeny for deny rules
	levels []level // set for pattern rules, which need substitution
	line   int
}

// LoadACL reads and parses the ACL file at path.
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseACL(path, data)
}

var inlineComment = regexp.MustCompile(`\s+#.*$`)

// ParseACL parses an ACL file; name is FILE in FILE:LINE errors.
//
// Lines (leading and trailing blanks are ignored):
//
//	# comment
//	topic [read|write|readwrite|deny] FILTER
//	user NAME
//	pattern [read|write|readwrite|deny] FILTER
//
// FILTER is a topic filter and defaults to readwrite access; a filter with
// spaces needs the access type, as in Mosquitto. After the filter, a '#'
// that follows white space starts a comment: it cannot be part of a valid
// filter there, so this is unambiguous (Mosquitto has no trailing comments
// and rejects such lines). `user NAME` takes the rest of the line as NAME.
func ParseACL(name string, data []byte) (*ACL, error) {
	a := &ACL{anonymous: &ruleSet{}, users: map[string]*ruleSet{}, patterns: &ruleSet{}}
	current := a.anonymous
	for i, raw := range splitLines(data) {
		lineno := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		if k, r, ok := strings.Cut(line, "\t"); ok && len(k) < len(keyword) {
			keyword, rest = k, r
		}
		rest = strings.TrimSpace(rest)
		switch keyword {
		case "user":
			if rest == "" {
				return nil, lineErrorf(name, lineno, "missing username: expected `user NAME`")
			}
			set := a.users[rest]
			if set == nil {
				set = &ruleSet{}
				a.users[rest] = set
			}
			current = set
		case "topic", "pattern":
			if rest == "" {
				return nil, lineErrorf(name, lineno, "missing topic: expected `%s [read|write|readwrite|deny] TOPIC`", keyword)
			}
			access, filter := AccessReadWrite, rest
			first, after, hasBlank := cutBlank(rest)
			acc, known := parseAccess(first)
			if known && hasBlank {
				access, filter = acc, after
			}
			filter = inlineComment.ReplaceAllString(filter, "")
			if !(known && hasBlank) && strings.ContainsAny(filter, " \t") {
				return nil, lineErrorf(name, lineno, "invalid access type %q: expected read, write, readwrite or deny before the topic", first)
			}
			if err := topic.ValidateFilter(filter); err != nil {
				return nil, lineErrorf(name, lineno, "invalid topic filter %q: %v", filter, err)
			}
			r := rule{filter: filter, access: access, line: lineno}
			set := current
			if keyword == "pattern" {
				levels, err := parsePattern(filter)
				if err != nil {
					return nil, lineErrorf(name, lineno, "%v", err)
				}
				r.levels = levels
				set = a.patterns
				a.hasPatterns = true
			}
			if access == AccessDeny {
				set.deny = append(set.deny, r)
			} else {
				set.grant = append(set.grant, r)
			}
		default:
			return nil, lineErrorf(name, lineno, "unknown directive %q: expected topic, user or pattern", keyword)
		}
	}
	return a, nil
}

// cutBlank splits s at its first run of blanks.
func cutBlank(s string) (first, rest string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimSpace(s[i:]), true
}

func parseAccess(s string) (Access, bool) {
	switch s {
	case "read":
		return AccessRead, true
	case "write":
		return AccessWrite, true
	case "readwrite":
		return AccessReadWrite, true
	case "deny":
		return AccessDeny, true
	}
	return 0, false
}

func parsePattern(filter string) ([]level, error) {
	parts := strings.Split(filter, "/")
	levels := make([]level, len(parts))
	for i, p := range parts {
		switch p {
		case "+":
			levels[i] = level{kind: levelPlus}
		case "#":
			levels[i] = level{kind: levelHash}
		case "%u":
			levels[i] = level{kind: levelUser}
		case "%c":
			levels[i] = level{kind: levelClient}
		default:
			if strings.Contains(p, "%u") || strings.Contains(p, "%c") {
				return nil, fmt.Errorf("in pattern %q, %%u and %%c must each be a whole topic level (like a/%%u/b), found %q", filter, p)
			}
			levels[i] = level{kind: levelLiteral, text: p}
		}
	}
	return levels, nil
}

// client is who is asking.
type client struct {
	username string
	clientID string
}

// sets returns the rule sets that apply to c, and false when c must be
// denied outright.
func (a *ACL) sets(c client) (own *ruleSet, ok bool) {
	if a.hasPatterns && (strings.ContainsAny(c.username, "+#") || strings.ContainsAny(c.clientID, "+#")) {
		return nil, false
	}
	if c.username == "" {
		return a.anonymous, true
	}
	return a.users[c.username], true // may be nil: patterns only
}

// Check reports whether the client may use topic name (not a filter) with
// the given access: AccessWrite for a PUBLISH it sends, AccessRead for a
// message it would receive. AccessReadWrite asks for both. An empty username
// means an anonymous client.
func (a *ACL) Check(username, clientID, name string, access Access) bool {
	if a == nil {
		return true
	}
	if access == AccessDeny || access&^AccessReadWrite != 0 {
		return false
	}
	c := client{username, clientID}
	own, ok := a.sets(c)
	if !ok {
		return false
	}
	if own != nil {
		for _, r := range own.deny {
			if topic.Match(r.filter, name) {
				return false
			}
		}
	}
	for _, r := range a.patterns.deny {
		if r.matchName(c, name) {
			return false
		}
	}
	// Each access bit must be granted by some rule.
	need := access
	if own != nil {
		for _, r := range own.grant {
			if r.access&need != 0 && topic.Match(r.filter, name) {
				need &^= r.access
				if need == 0 {
					return true
				}
			}
		}
	}
	for _, r := range a.patterns.grant {
		if r.access&need != 0 && r.matchName(c, name) {
			need &^= r.access
			if need == 0 {
				return true
			}
		}
	}
	return false
}

// CanRead reports whether the client may receive a message published to
// topic name. The broker calls it for every message it would deliver, so a
// wildcard subscription never leaks a denied topic.
func (a *ACL) CanRead(username, clientID, name string) bool {
	return a.Check(username, clientID, name, AccessRead)
}

// CanWrite reports whether the client may publish to topic name.
func (a *ACL) CanWrite(username, clientID, name string) bool {
	return a.Check(username, clientID, name, AccessWrite)
}

// CanSubscribe reports whether the client may subscribe to filter. A shared
// subscription ($share/GROUP/FILTER) is checked by its inner FILTER.
//
// Mosquitto 2.0's ACL file does not check subscriptions at all (its
// security_default.c returns success for MOSQ_ACL_SUBSCRIBE with "FIXME -
// implement ACL subscription strings"): every SUBSCRIBE is granted and
// messages are filtered on delivery. We decide the subscription itself, so
// clients learn of a denial from the SUBACK reason code:
//
//   - it is refused if a deny rule covers the filter, that is if every topic
//     the filter can match is denied;
//   - otherwise it is allowed if one read (or readwrite) rule covers it, where
//     a rule covers a filter when every name the filter matches also matches
//     the rule ("sensors/#" covers "sensors/+/temp"; "sensors/+/temp" does
//     not cover "sensors/#");
//   - otherwise refused.
//
// A deny rule that covers only part of an allowed filter does not refuse the
// subscription; CanRead filters those messages on delivery.
func (a *ACL) CanSubscribe(username, clientID, filter string) bool {
	if a == nil {
		return true
	}
	if _, inner, shared, err := topic.ParseShared(filter); shared {
		if err != nil {
			return false
		}
		filter = inner
	}
	if topic.ValidateFilter(filter) != nil {
		return false
	}
	c := client{username, clientID}
	own, ok := a.sets(c)
	if !ok {
		return false
	}
	if own != nil {
		for _, r := range own.deny {
			if r.covers(c, filter) {
				return false
			}
		}
	}
	for _, r := range a.patterns.deny {
		if r.covers(c, filter) {
			return false
		}
	}
	if own != nil {
		for _, r := range own.grant {
			if r.access&AccessRead != 0 && r.covers(c, filter) {
				return true
			}
		}
	}
	for _, r := range a.patterns.grant {
		if r.access&AccessRead != 0 && r.covers(c, filter) {
			return true
		}
	}
	return false
}

// ruleLevels returns the rule's levels, splitting plain topic rules on
// demand (only CanSubscribe needs them).
func (r *rule) ruleLevels() []level {
	if r.levels != nil {
		return r.levels
	}
	parts := strings.Split(r.filter, "/")
	levels := make([]level, len(parts))
	for i, p := range parts {
		switch p {
		case "+":
			levels[i] = level{kind: levelPlus}
		case "#":
			levels[i] = level{kind: levelHash}
		default:
			levels[i] = level{kind: levelLiteral, text: p}
		}
	}
	return levels
}

// value returns the literal a level stands for for client c.
func (l level) value(c client) string {
	switch l.kind {
	case levelUser:
		return c.username
	case levelClient:
		return c.clientID
	}
	return l.text
}

// matchName matches a pattern rule against a topic name, substituting %u
// and %c level by level. It follows topic.Match otherwise (which plain
// topic rules use directly): a leading wildcard does not match a '$' name,
// and "a/#" matches "a".
func (r *rule) matchName(c client, name string) bool {
	levels := r.levels
	if name == "" || len(levels) == 0 {
		return false
	}
	if name[0] == '$' && (levels[0].kind == levelPlus || levels[0].kind == levelHash) {
		return false
	}
	for _, l := range levels {
		if l.kind == levelUser && c.username == "" {
			return false
		}
	}
	done := false
	for _, l := range levels {
		if l.kind == levelHash {
			return true
		}
		if done {
			return false
		}
		var seg string
		var more bool
		seg, name, more = strings.Cut(name, "/")
		done = !more
		if l.kind != levelPlus && seg != l.value(c) {
			return false
		}
	}
	return done
}

// covers reports whether every topic name that filter matches also matches
// the rule, treating the filter's wildcards as "any level(s)".
func (r *rule) covers(c client, filter string) bool {
	levels := r.ruleLevels()
	if filter == "" || len(levels) == 0 {
		return false
	}
	for _, l := range levels {
		if l.kind == levelUser && c.username == "" {
			return false
		}
	}
	first := levels[0].kind
	// A filter starting with '$' matches only '$' names, which a rule
	// starting with a wildcard does not match [MQTT-4.7.2-1].
	if filter[0] == '$' && (first == levelPlus || first == levelHash) {
		return false
	}
	done := false
	for _, l := range levels {
		if l.kind == levelHash {
			return true
		}
		if done {
			return false
		}
		var seg string
		var more bool
		seg, filter, more = strings.Cut(filter, "/")
		done = !more
		switch {
		case seg == "#":
			return false // the filter reaches deeper than the rule
		case l.kind == levelPlus:
			// covers any single level, literal or '+'
		case seg == "+" || seg != l.value(c):
			return false
		}
	}
	return done
}
