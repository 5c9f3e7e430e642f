package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		spec string
		name string
		want string // "" means valid, else a substring of the error
	}{
		{"[MQTT-4.7.3-1]", "", "at least one character"},
		{"[MQTT-4.7.3-1]", "a", ""},
		{"§4.7.1.1 topic level separator", "/", ""},
		{"§4.7.1.1", "//", ""},
		{"§4.7.1.1", "sport/tennis/player1", ""},
		{"§4.7.1.1 leading and trailing '/' are distinct levels", "/finance/", ""},
		{"§4.7.3 spaces are allowed", "a b/ c", ""},
		{"§4.7.2 $-names are valid names", "$SYS/broker/uptime", ""},
		{"[MQTT-4.7.1-1] no '+' in names", "sport/+", "wildcard '+'"},
		{"[MQTT-4.7.1-1] no '#' in names", "sport/#", "wildcard '#'"},
		{"[MQTT-4.7.1-1] no '+' even inside a level", "a+b", "wildcard"},
		{"[MQTT-4.7.1-1]", "#", "wildcard"},
		{"[MQTT-4.7.3-2] null", "a\x00b", "null character"},
		{"[MQTT-1.5.3-1] ill-formed UTF-8", "a\xffb", "UTF-8"},
		{"[MQTT-1.5.3-1] surrogate U+D800", "a\xed\xa0\x80", "UTF-8"},
		{"[MQTT-1.5.3-1] overlong '/'", "a\xc0\xafb", "UTF-8"},
		{"[MQTT-1.5.3-3] BOM is kept, valid", "\xef\xbb\xbfa", ""},
		{"§4.7.3 non-ASCII", "température/北京", ""},
		{"[MQTT-4.7.3-3] 65535 bytes", strings.Repeat("a", 65535), ""},
		{"[MQTT-4.7.3-3] 65536 bytes", strings.Repeat("a", 65536), "longer than 65535"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		checkErr(t, tt.spec, tt.name, err, tt.want, ErrInvalidName)
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		spec   string
		filter string
		want   string
	}{
		{"[MQTT-4.7.3-1]", "", "at least one character"},
		{"[MQTT-4.7.1-2] '#' alone", "#", ""},
		{"[MQTT-4.7.1-2]", "sport/tennis/#", ""},
		{"[MQTT-4.7.1-2] not last", "sport/tennis/#/ranking", "'#' must be the last"},
		{"[MQTT-4.7.1-2] not a whole level", "sport/tennis#", "'#' must be the last"},
		{"[MQTT-4.7.1-2]", "a/b#", "'#' must be the last character and occupy a whole level"},
		{"[MQTT-4.7.1-2]", "#/", "'#' must be the last"},
		{"[MQTT-4.7.1-2]", "##", "'#' must be the last"},
		{"[MQTT-4.7.1-2]", "/#", ""},
		{"[MQTT-4.7.1-3] '+' alone", "+", ""},
		{"[MQTT-4.7.1-3]", "+/tennis/#", ""},
		{"[MQTT-4.7.1-3]", "sport/+/player1", ""},
		{"[MQTT-4.7.1-3]", "/+", ""},
		{"[MQTT-4.7.1-3]", "+/+", ""},
		{"[MQTT-4.7.1-3]", "+/", ""},
		{"[MQTT-4.7.1-3] not a whole level", "sport+", "'+' must occupy a whole level"},
		{"[MQTT-4.7.1-3]", "+sport", "'+' must occupy a whole level"},
		{"[MQTT-4.7.1-3]", "a/++/b", "'+' must occupy a whole level"},
		{"[MQTT-4.7.1-3]", "+#", "must"},
		{"§4.7.1", "+/#", ""},
		{"§4.7.2 $SYS filter", "$SYS/#", ""},
		{"§4.7.2", "$SYS/monitor/+", ""},
		{"§4.7.1.1", "/", ""},
		{"[MQTT-4.7.3-2]", "a/\x00", "null character"},
		{"[MQTT-1.5.3-1]", "a/\xc3", "UTF-8"},
		{"[MQTT-4.7.3-3]", strings.Repeat("a/", 32767) + "#", ""},
		{"[MQTT-4.7.3-3]", strings.Repeat("+/", 32768), "longer than 65535"},
		{"§4.8 a shared filter is a valid plain filter", "$share/g/a/#", ""},
	}
	for _, tt := range tests {
		err := ValidateFilter(tt.filter)
		checkErr(t, tt.spec, tt.filter, err, tt.want, ErrInvalidFilter)
	}
}

func checkErr(t *testing.T, spec, in string, err error, want string, kind error) {
	t.Helper()
	short := in
	if len(short) > 40 {
		short = short[:40] + "…"
	}
	switch {
	case want == "" && err != nil:
		t.Errorf("%s %q: unexpected error %v", spec, short, err)
	case want != "" && err == nil:
		t.Errorf("%s %q: no error, want %q", spec, short, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s %q: error %q, want it to contain %q", spec, short, err, want)
	case want != "" && !errors.Is(err, kind):
		t.Errorf("%s %q: error %v is not %v", spec, short, err, kind)
	}
}

func TestErrorMessage(t *testing.T) {
	err := ValidateFilter("a/b#")
	const want = `topic: "a/b#": '#' must be the last character and occupy a whole level`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	long := strings.Repeat("x", 70000)
	if msg := ValidateName(long).Error(); len(msg) > 200 {
		t.Fatalf("message for a long topic is %d bytes, want it truncated", len(msg))
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		spec         string
		filter       string
		group, inner string
		ok           bool
		want         string
	}{
		{"not shared", "sport/#", "", "sport/#", false, ""},
		{"not shared: $share without '/'", "$share", "", "$share", false, ""},
		{"not shared: other $ prefix", "$shared/g/a", "", "$shared/g/a", false, ""},
		{"[MQTT-4.8.2-1]", "$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+", true, ""},
		{"[MQTT-4.8.2-1]", "$share/consumer2/sport/tennis/+", "consumer2", "sport/tennis/+", true, ""},
		{"[MQTT-4.8.2-1]", "$share/g/#", "g", "#", true, ""},
		{"[MQTT-4.8.2-1] inner filter may start with '/'", "$share/g//finance", "g", "/finance", true, ""},
		{"[MQTT-4.8.2-1] inner $SYS", "$share/g/$SYS/#", "g", "$SYS/#", true, ""},
		{"[MQTT-4.8.2-1] empty ShareName", "$share//a", "", "", true, "at least one character"},
		{"[MQTT-4.8.2-1] empty ShareName, nothing else", "$share/", "", "", true, "must have the form"},
		{"[MQTT-4.8.2-2] no '/' after ShareName", "$share/group", "", "", true, "must have the form"},
		{"[MQTT-4.8.2-2] no filter after '/'", "$share/group/", "", "", true, "followed by '/' and a topic filter"},
		{"[MQTT-4.8.2-2] '+' in ShareName", "$share/g+/a", "", "", true, "must not contain '+' or '#'"},
		{"[MQTT-4.8.2-2] '#' in ShareName", "$share/#/a", "", "", true, "must not contain '+' or '#'"},
		{"[MQTT-4.8.2-2] '+' as ShareName", "$share/+/a", "", "", true, "must not contain"},
		{"[MQTT-4.7.1-2] bad inner filter", "$share/g/a/#/b", "", "", true, "'#' must be the last"},
		{"[MQTT-4.7.1-3] bad inner filter", "$share/g/a+", "", "", true, "'+' must occupy"},
		{"[MQTT-4.7.3-2]", "$share/g/\x00", "", "", true, "null"},
		{"[MQTT-1.5.3-1]", "$share/\xff/a", "", "", true, "UTF-8"},
	}
	for _, tt := range tests {
		group, inner, ok, err := ParseShared(tt.filter)
		if group != tt.group || inner != tt.inner || ok != tt.ok {
			t.Errorf("%s ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tt.spec, tt.filter, group, inner, ok, tt.group, tt.inner, tt.ok)
		}
		checkErr(t, tt.spec, tt.filter, err, tt.want, ErrInvalidShare)
	}
}

func TestTooDeep(t *testing.T) {
	for _, tc := range []struct {
		levels int
		want   bool
	}{{1, false}, {2, false}, {MaxLevels, false}, {MaxLevels + 1, true}, {5000, true}} {
		s := strings.Repeat("a/", tc.levels-1) + "a"
		if got := TooDeep(s); got != tc.want {
			t.Errorf("%d levels: TooDeep = %v", tc.levels, got)
		}
	}
	if TooDeep(strings.Repeat("/", MaxLevels-1)) || !TooDeep(strings.Repeat("/", MaxLevels)) {
		t.Error("empty levels count as levels")
	}
}
