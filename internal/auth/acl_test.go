package auth

import (
	"strings"
	"testing"

	"github.com/mqttkit/mqtt/mqtt/topic"
)

const testACL = `# anonymous clients
topic read public/#
topic deny public/secret

user alice
topic readwrite alice/#
topic read shared/+/status
topic write  cmd/alice
topic deny alice/private/#
topic	write sensors/room one/temp

user bob
topic readwrite #
topic deny $SYS/#

user carol

# patterns apply to everyone
pattern readwrite clients/%c/#
pattern write sensor/%u/data   # trailing comment
pattern read  users/%u/inbox/+
pattern deny  users/%u/inbox/blocked

user alice
topic read extra/alice
`

func mustACL(t *testing.T, text string) *ACL {
	t.Helper()
	a, err := ParseACL("acl", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestACLCheck(t *testing.T) {
	a := mustACL(t, testACL)
	tests := []struct {
		name             string
		user, cid, topic string
		access           Access
		want             bool
	}{
		{"anon read public", "", "c1", "public/news", AccessRead, true},
		{"anon write public denied", "", "c1", "public/news", AccessWrite, false},
		{"anon deny before grant", "", "c1", "public/secret", AccessRead, false},
		{"anon other topic", "", "c1", "alice/x", AccessRead, false},
		{"anon readwrite needs both", "", "c1", "public/news", AccessReadWrite, false},

		{"alice own tree write", "alice", "c2", "alice/a/b", AccessWrite, true},
		{"alice own tree read", "alice", "c2", "alice", AccessRead, true},
		{"alice readwrite", "alice", "c2", "alice/x", AccessReadWrite, true},
		{"alice deny subtree", "alice", "c2", "alice/private/diary", AccessRead, false},
		{"alice deny parent level too", "alice", "c2", "alice/private", AccessWrite, false},
		{"alice read-only rule", "alice", "c2", "shared/x/status", AccessRead, true},
		{"alice read-only rule no write", "alice", "c2", "shared/x/status", AccessWrite, false},
		{"alice + is one level", "alice", "c2", "shared/x/y/status", AccessRead, false},
		{"alice write-only", "alice", "c2", "cmd/alice", AccessWrite, true},
		{"alice write-only no read", "alice", "c2", "cmd/alice", AccessRead, false},
		{"alice topic with space, tab separator", "alice", "c2", "sensors/room one/temp", AccessWrite, true},
		{"alice second section adds", "alice", "c2", "extra/alice", AccessRead, true},
		{"alice not anon rules", "alice", "c2", "public/news", AccessRead, false},
		{"readwrite split across rules", "alice", "c2", "cmd/alice", AccessReadWrite, false},

		{"bob everything", "bob", "c3", "any/thing", AccessWrite, true},
		{"bob # does not match $SYS", "bob", "c3", "$SYS/broker/uptime", AccessRead, false},
		{"bob deny $SYS", "bob", "c3", "$SYS/x", AccessWrite, false},

		{"carol empty section: patterns only", "carol", "c4", "clients/c4/x", AccessWrite, true},
		{"carol nothing else", "carol", "c4", "alice/x", AccessRead, false},
		{"unknown user: patterns only", "dave", "c5", "clients/c5", AccessRead, true},
		{"unknown user other", "dave", "c5", "x", AccessRead, false},

		{"pattern %c", "", "cid1", "clients/cid1/x", AccessWrite, true},
		{"pattern %c other client", "", "cid1", "clients/cid2/x", AccessWrite, false},
		{"pattern %u", "dave", "c", "sensor/dave/data", AccessWrite, true},
		{"pattern %u other user", "dave", "c", "sensor/erin/data", AccessWrite, false},
		{"pattern %u write-only", "dave", "c", "sensor/dave/data", AccessRead, false},
		{"pattern %u never for anonymous", "", "c", "sensor//data", AccessWrite, false},
		{"pattern with +", "dave", "c", "users/dave/inbox/1", AccessRead, true},
		{"pattern deny", "dave", "c", "users/dave/inbox/blocked", AccessRead, false},
		{"pattern deny beats user grant", "bob", "c3", "users/bob/inbox/blocked", AccessRead, false},
		{"username with / cannot span levels", "a/b", "c", "sensor/a/b/data", AccessWrite, false},
		{"username with + denied", "+", "c", "sensor/+/data", AccessWrite, false},
		{"client id with # denied", "bob", "#", "any", AccessWrite, false},

		{"access none asks nothing", "bob", "c3", "any", AccessDeny, false},
		{"bad access bits", "bob", "c3", "any", Access(4), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Check(tt.user, tt.cid, tt.topic, tt.access); got != tt.want {
				t.Errorf("Check(%q, %q, %q, %v) = %v, want %v", tt.user, tt.cid, tt.topic, tt.access, got, tt.want)
			}
		})
	}
	if !a.CanRead("", "c", "public/x") || a.CanWrite("", "c", "public/x") {
		t.Error("CanRead/CanWrite disagree with Check")
	}
	var none *ACL
	if !none.Check("x", "y", "z", AccessWrite) || !none.CanSubscribe("x", "y", "#") {
		t.Error("nil ACL must allow everything")
	}
	if mustACL(t, "").CanRead("x", "y", "z") {
		t.Error("an empty ACL file must deny everything, as Mosquitto")
	}
}

func TestACLCanSubscribe(t *testing.T) {
	a := mustACL(t, testACL)
	tests := []struct {
		name              string
		user, cid, filter string
		want              bool
	}{
		{"anon exact", "", "c", "public/news", true},
		{"anon covered #", "", "c", "public/#", true},
		{"anon covered +", "", "c", "public/+", true},
		{"anon partly denied still allowed (filtered on delivery)", "", "c", "public/+", true},
		{"anon fully denied", "", "c", "public/secret", false},
		{"anon wider than grant", "", "c", "#", false},
		{"anon + at top wider than grant", "", "c", "+/news", false},

		{"alice own #", "alice", "c", "alice/#", true},
		{"alice own parent", "alice", "c", "alice", true},
		{"alice denied subtree", "alice", "c", "alice/private/#", false},
		{"alice denied subtree via +", "alice", "c", "alice/private/+", false},
		{"alice read +", "alice", "c", "shared/+/status", true},
		{"alice read literal under +", "alice", "c", "shared/k/status", true},
		{"alice # wider than +", "alice", "c", "shared/#", false},
		{"alice +/+ wider", "alice", "c", "shared/+/+", false},
		{"alice write-only is not readable", "alice", "c", "cmd/alice", false},
		{"bob #", "bob", "c", "#", true},
		{"bob $SYS not covered by #", "bob", "c", "$SYS/#", false},
		{"bob $SYS denied", "bob", "c", "$SYS/broker/uptime", false},
		{"shared subscription uses inner filter", "bob", "c", "$share/g/x/#", true},
		{"bad shared subscription", "bob", "c", "$share//x", false},
		{"invalid filter", "bob", "c", "a/#/b", false},

		{"pattern %c subtree", "", "cid1", "clients/cid1/#", true},
		{"pattern %c other", "", "cid1", "clients/cid2/#", false},
		{"pattern %c + is not covered by a literal", "", "cid1", "clients/+/x", false},
		{"pattern %u read with +", "dave", "c", "users/dave/inbox/+", true},
		{"pattern %u denied exact", "dave", "c", "users/dave/inbox/blocked", false},
		{"pattern %u # wider", "dave", "c", "users/dave/inbox/#", false},
		{"pattern write-only", "dave", "c", "sensor/dave/data", false},
		{"dangerous client id", "bob", "a+", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.CanSubscribe(tt.user, tt.cid, tt.filter); got != tt.want {
				t.Errorf("CanSubscribe(%q, %q, %q) = %v, want %v", tt.user, tt.cid, tt.filter, got, tt.want)
			}
		})
	}
}

// TestACLNoLeakThroughWildcards: whatever filter a client subscribes with,
// the names it may receive (checked with CanRead on delivery) are exactly
// those the rules allow. Every allowed subscription's allowed deliveries
// must be readable, and a denied name must never be readable.
func TestACLNoLeakThroughWildcards(t *testing.T) {
	a := mustACL(t, testACL)
	names := []string{
		"public/news", "public/secret", "alice/x", "alice/private/diary", "shared/k/status",
		"$SYS/broker/uptime", "users/dave/inbox/blocked", "users/dave/inbox/1", "clients/c/x",
	}
	filters := []string{"#", "+/#", "public/#", "public/+", "alice/#", "users/dave/inbox/+", "$SYS/#", "+/+/+/+"}
	denied := map[[2]string]bool{
		{"", "public/secret"}:                true,
		{"alice", "alice/private/diary"}:     true,
		{"bob", "$SYS/broker/uptime"}:        true,
		{"dave", "users/dave/inbox/blocked"}: true,
		{"bob", "users/bob/inbox/blocked"}:   true,
	}
	for _, user := range []string{"", "alice", "bob", "dave"} {
		for _, f := range filters {
			for _, n := range names {
				if !topic.Match(f, n) {
					continue
				}
				if denied[[2]string{user, n}] && a.CanRead(user, "c", n) {
					t.Errorf("user %q subscribed to %q would receive denied %q", user, f, n)
				}
				if a.CanSubscribe(user, "c", f) && !a.CanRead(user, "c", n) && !denied[[2]string{user, n}] {
					// Allowed filter, undenied name: a covering read rule must grant it.
					t.Errorf("user %q allowed %q but cannot read %q which it covers", user, f, n)
				}
			}
		}
	}
}

// TestPatternMatcherAgreesWithTopicMatch: for patterns without %u/%c the
// private level matcher must behave exactly like topic.Match.
func TestPatternMatcherAgreesWithTopicMatch(t *testing.T) {
	filters := []string{"#", "+", "a", "a/#", "a/+", "+/b", "a/+/c", "+/+", "$SYS/#", "/+", "+/", "a//b", "/#"}
	names := []string{"a", "a/b", "a/b/c", "b", "/a", "a/", "$SYS", "$SYS/x", "a//b", "/", "x/b"}
	for _, f := range filters {
		levels, err := parsePattern(f)
		if err != nil {
			t.Fatal(err)
		}
		r := rule{filter: f, levels: levels}
		plain := rule{filter: f}
		for _, n := range names {
			want := topic.Match(f, n)
			if got := r.matchName(client{"u", "c"}, n); got != want {
				t.Errorf("matchName(%q, %q) = %v, topic.Match says %v", f, n, got, want)
			}
			// A rule covers a name (a filter without wildcards) iff it matches it.
			if got := plain.covers(client{"u", "c"}, n); got != want {
				t.Errorf("covers(%q, %q) = %v, topic.Match says %v", f, n, got, want)
			}
		}
	}
}

func TestParseACLErrors(t *testing.T) {
	tests := []struct {
		name, text, err string
	}{
		{"unknown directive", "# c\nallow read a\n", "acl:2: unknown directive \"allow\": expected topic, user or pattern"},
		{"bad access", "topic reed a/b\n", "acl:1: invalid access type \"reed\""},
		{"missing topic", "\n\ntopic\n", "acl:3: missing topic"},
		{"missing pattern topic", "pattern   \n", "acl:1: missing topic"},
		{"missing username", "user\n", "acl:1: missing username"},
		{"bad filter #", "topic read a/#/b\n", "acl:1: invalid topic filter \"a/#/b\""},
		{"bad filter +", "topic read a+/b\n", "acl:1: invalid topic filter"},
		{"%u inside a level", "pattern read a/x%u/b\n", "acl:1: in pattern \"a/x%u/b\", %u and %c must each be a whole topic level"},
		{"space in topic needs access type", "topic room one/temp\n", "acl:1: invalid access type \"room\""},
		{"%c inside a level", "\npattern read %c-data\n", "acl:2: in pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseACL("acl", []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.err)
			}
		})
	}
	// Accepted oddities.
	for _, ok := range []string{
		"topic a/b\n",              // default readwrite
		"  topic read a  \n",       // surrounding blanks
		"topic read a # comment\n", // trailing comment
		"topic read #\n",           // '#' as the filter is not a comment
		"topic a/x%u\n",            // %u is literal in topic lines
		"user name with spaces\ntopic x\n",
		"topic read a\r\nuser u\r\n",
	} {
		if _, err := ParseACL("acl", []byte(ok)); err != nil {
			t.Errorf("ParseACL(%q): %v", ok, err)
		}
	}
	a := mustACL(t, "user name with spaces\ntopic read #\ntopic deny a # no\n")
	if !a.CanRead("name with spaces", "c", "x") || a.CanRead("name with spaces", "c", "a") {
		t.Error("user names with spaces or trailing comments misparsed")
	}
}
