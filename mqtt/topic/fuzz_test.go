package topic

import (
	"strings"
	"testing"
)

// FuzzValidateFilter checks that validation never panics and agrees with
// itself: a valid name is a valid filter that matches only itself among
// wildcard-free filters, and a valid shared filter has a valid inner filter.
func FuzzValidateFilter(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ferr := ValidateFilter(s)
		nerr := ValidateName(s)
		if nerr == nil {
			if ferr != nil {
				t.Fatalf("%q is a valid name but not a valid filter: %v", s, ferr)
			}
			if !Match(s, s) { // [MQTT-4.7.3-4] exact bytes match
				t.Fatalf("valid name %q does not match itself", s)
			}
		}
		if ferr == nil && !strings.ContainsAny(s, "+#") && nerr != nil {
			t.Fatalf("wildcard-free filter %q is not a valid name: %v", s, nerr)
		}
		group, inner, ok, err := ParseShared(s)
		switch {
		case !ok && (err != nil || inner != s):
			t.Fatalf("ParseShared(%q) not shared but returned %q, %v", s, inner, err)
		case ok && err == nil:
			if group == "" || strings.ContainsAny(group, "/+#") { // [MQTT-4.8.2-2]
				t.Fatalf("ParseShared(%q): bad group %q", s, group)
			}
			if verr := ValidateFilter(inner); verr != nil { // [MQTT-4.8.2-2]
				t.Fatalf("ParseShared(%q): invalid inner %q: %v", s, inner, verr)
			}
			if SharePrefix+group+"/"+inner != s {
				t.Fatalf("ParseShared(%q) = %q, %q does not reassemble", s, group, inner)
			}
		}
	})
}

// FuzzMatch checks SubscriptionIndex against the reference Match for one
// filter, and the '$' rule [MQTT-4.7.2-1].
func FuzzMatch(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter, tt.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		want := Match(filter, name) // must not panic on any input
		if ValidateFilter(filter) != nil || ValidateName(name) != nil {
			return
		}
		if want && name[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
			t.Fatalf("Match(%q, %q) = true, violates [MQTT-4.7.2-1]", filter, name)
		}
		x := NewIndex[int]()
		x.Subscribe(Subscription[int]{Subscriber: 1, Filter: filter})
		x.Subscribe(Subscription[int]{Subscriber: 2, Filter: name}) // exact
		got := x.MatchAppend(nil, name)
		n1 := 0
		for _, s := range got {
			if s.Subscriber == 1 {
				n1++
			}
		}
		if want && n1 != 1 || !want && n1 != 0 || len(got) != n1+1 {
			t.Fatalf("index matched %v for filter %q name %q, reference says %v", got, filter, name, want)
		}
		if !x.Unsubscribe(1, filter, "") || !x.Unsubscribe(2, name, "") || !x.root.empty() {
			t.Fatalf("unsubscribe did not empty the trie")
		}
	})
}
