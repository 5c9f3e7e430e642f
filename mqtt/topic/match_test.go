package topic

import "testing"

// matchCases are the examples of MQTT 3.1.1 §4.7 and MQTT 5.0 §4.7 plus the
// '$' rules. They drive both the reference Match and SubscriptionIndex.
var matchCases = []struct {
	spec   string
	filter string
	name   string
	want   bool
}{
	// §4.7.1.2 multi-level wildcard.
	{"§4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player1", true},
	{"§4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"§4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"§4.7.1.2", "sport/tennis/player1/#", "sport/tennis/player2", false},
	{"§4.7.1.2", "sport/tennis/player1/#", "sport/tennis", false},
	{"[MQTT-4.7.1-2] '#' matches the parent level", "sport/#", "sport", true},
	{"[MQTT-4.7.1-2]", "sport/#", "sport/", true},
	{"[MQTT-4.7.1-2]", "sport/#", "sports", false},
	{"[MQTT-4.7.1-2]", "#", "sport/tennis/player1", true},
	{"[MQTT-4.7.1-2]", "#", "/", true},
	{"[MQTT-4.7.1-2]", "/#", "/", true},
	{"[MQTT-4.7.1-2]", "/#", "a", false},
	{"[MQTT-4.7.1-2]", "a/b/#", "a", false},
	// §4.7.1.3 single-level wildcard.
	{"§4.7.1.3", "sport/tennis/+", "sport/tennis/player1", true},
	{"§4.7.1.3", "sport/tennis/+", "sport/tennis/player2", true},
	{"§4.7.1.3", "sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"§4.7.1.3", "sport/+", "sport", false},
	{"§4.7.1.3", "sport/+", "sport/", true},
	{"§4.7.1.3", "+", "finance", true},
	{"§4.7.1.3", "+/+", "/finance", true},
	{"§4.7.1.3", "/+", "/finance", true},
	{"§4.7.1.3", "+", "/finance", false},
	{"§4.7.1.3", "+/tennis/#", "sport/tennis/player1", true},
	{"§4.7.1.3", "+/tennis/#", "sport/tennis", true},
	{"§4.7.1.3", "+/tennis/#", "sport/golf", false},
	{"§4.7.1.3", "sport/+/player1", "sport/tennis/player1", true},
	{"§4.7.1.3", "sport/+/player1", "sport//player1", true},
	{"§4.7.1.3", "+/#", "a", true},
	{"§4.7.1.3", "+/+", "a", false},
	{"§4.7.1.3", "+", "", false},
	// §4.7.1.1 levels, case and exact matching [MQTT-4.7.3-4].
	{"§4.7.1.1", "sport/tennis", "sport/tennis", true},
	{"§4.7.1.1 leading '/' is a distinct level", "/finance", "finance", false},
	{"§4.7.1.1 trailing '/' is a distinct level", "finance/", "finance", false},
	{"§4.7.3 case sensitive", "ACCOUNTS", "Accounts", false},
	{"[MQTT-4.7.3-4] no normalization", "caf\u00e9", "cafe\u0301", false},
	{"§4.7.1.1", "a//b", "a//b", true},
	{"§4.7.1.1", "a//b", "a/b", false},
	// §4.7.2 topics beginning with '$' [MQTT-4.7.2-1].
	{"[MQTT-4.7.2-1]", "#", "$SYS/broker/clients", false},
	{"[MQTT-4.7.2-1]", "+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"[MQTT-4.7.2-1]", "+", "$SYS", false},
	{"[MQTT-4.7.2-1]", "+/#", "$SYS/a", false},
	{"§4.7.2", "$SYS/#", "$SYS/monitor/Clients", true},
	{"§4.7.2", "$SYS/#", "$SYS", true},
	{"§4.7.2", "$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"§4.7.2 only the first level counts", "a/+", "a/$b", true},
	{"§4.7.2", "a/#", "a/$b/c", true},
	{"§4.7.2", "$", "$", true},
	{"§4.7.2 '$' not first", "+", "a$", true},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchCases {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("%s Match(%q, %q) = %v, want %v", tt.spec, tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestIndexMatchCases(t *testing.T) {
	x := NewIndex[int]()
	for i, tt := range matchCases {
		x.Subscribe(Subscription[int]{Subscriber: i, Filter: tt.filter})
	}
	var dst []Subscription[int]
	for i, tt := range matchCases {
		if tt.name == "" {
			continue // not a valid name
		}
		dst = x.MatchAppend(dst[:0], tt.name)
		got := false
		for _, s := range dst {
			if s.Subscriber == i {
				got = true
			}
		}
		if got != tt.want {
			t.Errorf("%s index: filter %q on name %q matched = %v, want %v", tt.spec, tt.filter, tt.name, got, tt.want)
		}
	}
}
