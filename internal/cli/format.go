package cli

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/client"
)

// This file prints received messages exactly as mosquitto_sub 2.0 does:
// plain, -v, -N, and -F with its % codes (flags '-' and '0', a field width
// and a precision), @ strftime codes, \ escapes, and %j/%J JSON as
// mosquitto's cJSON build prints it (key order, escaping, number format,
// --pretty layout).
//
// One difference is unavoidable: mosquitto prints v5 properties in the
// order they arrived on the wire; packets are decoded into a struct here,
// so %j lists them in the order our own codec (and so `mqtt pub` through
// Mosquitto) sends them: subscription-identifier, payload-format-indicator,
// content-type, response-topic, correlation-data, topic-alias,
// user-properties, message-expiry-interval.

// messageFormat is sub's output configuration.
type messageFormat struct {
	format  string // -F
	custom  bool   // -F was given (-F "" prints an empty line per message, as mosquitto_sub)
	verbose bool   // -v
	eol     bool   // false with -N
	pretty  bool   // --pretty
}

// print writes one message to w (not flushed). Problems with a message,
// such as %J on a payload that is not JSON, go to errw.
func (f *messageFormat) print(w *bufio.Writer, errw io.Writer, m *client.Message, now time.Time) {
	switch {
	case f.custom || f.format != "":
		f.formatted(w, errw, m, now)
	case f.verbose:
		if len(m.Payload) > 0 {
			w.WriteString(m.Topic)
			w.WriteByte(' ')
			w.Write(m.Payload)
			if f.eol {
				w.WriteByte('\n')
			}
		} else if f.eol {
			w.WriteString(m.Topic)
			w.WriteString(" (null)\n")
		}
	default:
		if len(m.Payload) > 0 {
			w.Write(m.Payload)
			if f.eol {
				w.WriteByte('\n')
			}
		}
	}
}

// formatted interprets -F the way mosquitto_sub's parser does, including
// its handling of a format that ends in the middle of a code.
func (f *messageFormat) formatted(w *bufio.Writer, errw io.Writer, m *client.Message, now time.Time) {
	s := f.format
	n := len(s)
	for i := 0; i < n; i++ {
		switch s[i] {
		case '%':
			if i >= n-1 {
				continue
			}
			align, pad, width, prec := byte(0), byte(' '), 0, -1
			i++
			if s[i] == '-' {
				align = '-'
				if i < n-1 {
					i++
				}
			}
			if s[i] == '0' {
				pad = '0'
				if i < n-1 {
					i++
				}
			}
			for i < n-1 && s[i] >= '0' && s[i] <= '9' {
				width = width*10 + int(s[i]-'0')
				i++
			}
			if s[i] == '.' && i < n-1 {
				i++
				prec = 0
				for i < n-1 && s[i] >= '0' && s[i] <= '9' {
					prec = prec*10 + int(s[i]-'0')
					i++
				}
			}
			f.percent(w, errw, m, now, s[i], align, pad, width, prec)
		case '@':
			if i >= n-1 {
				continue
			}
			i++
			switch s[i] {
			case '@':
				w.WriteByte('@')
			case 'N':
				fmt.Fprintf(w, "%09d", now.Nanosecond())
			default:
				w.WriteString(strftime(s[i], now))
			}
		case '\\':
			if i >= n-1 {
				continue
			}
			i++
			switch s[i] {
			case '\\':
				w.WriteByte('\\')
			case '0':
				w.WriteByte(0)
			case 'a':
				w.WriteByte('\a')
			case 'e':
				w.WriteByte(0x1b)
			case 'n':
				w.WriteByte('\n')
			case 'r':
				w.WriteByte('\r')
			case 't':
				w.WriteByte('\t')
			case 'v':
				w.WriteByte('\v')
			}
		default:
			w.WriteByte(s[i])
		}
	}
	if f.eol {
		w.WriteByte('\n')
	}
}

func (f *messageFormat) percent(w *bufio.Writer, errw io.Writer, m *client.Message, now time.Time, code, align, pad byte, width, prec int) {
	p := &m.Properties
	switch code {
	case '%':
		w.WriteByte('%')
	case 'A':
		if p.HasTopicAlias {
			printInt(w, int64(p.TopicAlias), align, pad, width)
		} else {
			printBlank(w, pad, width)
		}
	case 'C':
		if p.ContentType != "" {
			printStr(w, p.ContentType, align, width, prec)
		} else {
			printBlank(w, ' ', width)
		}
	case 'D':
		w.Write(p.CorrelationData)
	case 'E':
		if p.HasMessageExpiry {
			printInt(w, int64(int32(p.MessageExpiry)), align, pad, width)
		} else {
			printBlank(w, pad, width)
		}
	case 'F':
		if p.HasPayloadFormat {
			printInt(w, int64(p.PayloadFormat), align, pad, width)
		} else {
			printBlank(w, pad, width)
		}
	case 'I':
		printStr(w, strftimeString("%Y-%m-%dT%H:%M:%S%z", now), align, width, prec)
	case 'j', 'J':
		var b strings.Builder
		if !jsonMessage(&b, m, now, code == 'j', f.pretty) {
			fmt.Fprintf(errw, "Error: Message payload is not valid JSON on topic %s.\n", m.Topic)
			return
		}
		w.WriteString(b.String())
	case 'l':
		printInt(w, int64(len(m.Payload)), align, pad, width)
	case 'm':
		printInt(w, int64(m.PacketID), align, pad, width)
	case 'P':
		for i, u := range p.User {
			if i > 0 {
				w.WriteByte(' ')
			}
			w.WriteString(u.Key)
			w.WriteByte(':')
			w.WriteString(u.Value)
		}
	case 'p':
		writePayload(w, m.Payload, 0, align, pad, width)
	case 'q':
		w.WriteByte('0' + m.QoS)
	case 'R':
		if p.ResponseTopic != "" {
			printStr(w, p.ResponseTopic, align, width, prec)
		}
	case 'r':
		if m.Retain {
			w.WriteByte('1')
		} else {
			w.WriteByte('0')
		}
	case 'S':
		if len(p.SubscriptionIDs) > 0 {
			printInt(w, int64(int32(p.SubscriptionIDs[0])), align, pad, width)
		} else {
			printBlank(w, pad, width)
		}
	case 't':
		printStr(w, m.Topic, align, width, prec)
	case 'U':
		fmt.Fprintf(w, "%d.%09d", now.Unix(), now.Nanosecond())
	case 'x':
		writePayload(w, m.Payload, 1, align, pad, width)
	case 'X':
		writePayload(w, m.Payload, 2, align, pad, width)
	}
}

func printBlank(w *bufio.Writer, pad byte, width int) {
	for range width {
		w.WriteByte(pad)
	}
}

// printInt is printf's %d, %-Nd, %0Nd or %Nd.
func printInt(w *bufio.Writer, v int64, align, pad byte, width int) {
	s := strconv.FormatInt(v, 10)
	switch {
	case width == 0 || len(s) >= width:
		w.WriteString(s)
	case align == '-':
		w.WriteString(s)
		w.WriteString(strings.Repeat(" ", width-len(s)))
	case pad == '0':
		if v < 0 {
			w.WriteByte('-')
			s = s[1:]
			w.WriteString(strings.Repeat("0", width-len(s)-1))
		} else {
			w.WriteString(strings.Repeat("0", width-len(s)))
		}
		w.WriteString(s)
	default:
		w.WriteString(strings.Repeat(" ", width-len(s)))
		w.WriteString(s)
	}
}

// printStr is printf's %s with optional '-', width and precision (bytes).
func printStr(w *bufio.Writer, s string, align byte, width, prec int) {
	if prec >= 0 && len(s) > prec {
		s = s[:prec]
	}
	padn := width - len(s)
	if padn > 0 && align != '-' {
		w.WriteString(strings.Repeat(" ", padn))
	}
	w.WriteString(s)
	if padn > 0 && align == '-' {
		w.WriteString(strings.Repeat(" ", padn))
	}
}

// writePayload reproduces mosquitto_sub's write_payload, quirks included:
// a width truncates the payload, for hex the byte count is then halved, and
// with '-' and no width the payload is followed by as many spaces as it
// has bytes (printf("%*s") with a negative width).
func writePayload(w *bufio.Writer, payload []byte, hex int, align, pad byte, width int) {
	n := len(payload)
	var padlen int
	if width > 0 {
		if n > width {
			n = width
		}
		if hex > 0 {
			n /= 2
			padlen = width - n*2
		} else {
			padlen = width - n
		}
	} else {
		padlen = width - n
	}
	if align != '-' {
		for range padlen {
			w.WriteByte(pad)
		}
	}
	const lower, upper = "0123456789abcdef", "0123456789ABCDEF"
	switch hex {
	case 0:
		w.Write(payload[:n])
	default:
		digits := lower
		if hex == 2 {
			digits = upper
		}
		for _, b := range payload[:n] {
			w.WriteByte(digits[b>>4])
			w.WriteByte(digits[b&15])
		}
	}
	if align == '-' {
		if padlen < 0 {
			padlen = -padlen
		}
		w.WriteString(strings.Repeat(" ", padlen))
	}
}

// jsonMessage builds the %j (escaped) or %J (raw JSON payload) object. It
// returns false when %J's payload is not valid JSON.
func jsonMessage(b *strings.Builder, m *client.Message, now time.Time, escaped, pretty bool) bool {
	root := &jsonValue{kind: jsonObject}
	tst := strftimeString("%Y-%m-%dT%H:%M:%S", now) + fmt.Sprintf(".%06dZ", now.Nanosecond()/1000) + strftimeString("%z", now)
	root.add("tst", jsonStr(tst))
	root.add("topic", jsonStr(m.Topic))
	root.add("qos", jsonNum(float64(m.QoS)))
	root.add("retain", jsonNum(float64(b2i(m.Retain))))
	root.add("payloadlen", jsonNum(float64(len(m.Payload))))
	if m.QoS > 0 {
		root.add("mid", jsonNum(float64(m.PacketID)))
	}
	if props := jsonProperties(m); props != nil {
		root.add("properties", props)
	}
	if escaped {
		if len(m.Payload) == 0 {
			root.add("payload", &jsonValue{kind: jsonNull})
		} else {
			root.add("payload", jsonStr(cString(m.Payload)))
		}
	} else {
		if len(m.Payload) == 0 {
			root.add("payload", &jsonValue{kind: jsonNull})
		} else {
			v, ok := parseJSON(m.Payload)
			if !ok {
				return false
			}
			root.add("payload", v)
		}
	}
	root.print(b, pretty, 0)
	return true
}

// jsonProperties lists a v5 message's properties as mosquitto_sub does,
// or returns nil when it has none.
func jsonProperties(m *client.Message) *jsonValue {
	p := &m.Properties
	o := &jsonValue{kind: jsonObject}
	for _, id := range p.SubscriptionIDs {
		o.add("subscription-identifier", jsonNum(float64(id)))
	}
	if p.HasPayloadFormat {
		o.add("payload-format-indicator", jsonNum(float64(p.PayloadFormat)))
	}
	if p.ContentType != "" {
		o.add("content-type", jsonStr(p.ContentType))
	}
	if p.ResponseTopic != "" {
		o.add("response-topic", jsonStr(p.ResponseTopic))
	}
	if p.CorrelationData != nil {
		o.add("correlation-data", jsonStr(cString(p.CorrelationData)))
	}
	if p.HasTopicAlias {
		// mosquitto reads the alias with the wrong identifier and so
		// always prints 0.
		o.add("topic-alias", jsonNum(0))
	}
	if len(p.User) > 0 {
		u := &jsonValue{kind: jsonObject}
		for _, kv := range p.User {
			u.add(kv.Key, jsonStr(kv.Value))
		}
		o.add("user-properties", u)
	}
	if p.HasMessageExpiry {
		o.add("message-expiry-interval", jsonNum(float64(p.MessageExpiry)))
	}
	if len(o.keys) == 0 {
		return nil
	}
	return o
}

// cString is what C code sees of a byte string: everything before the
// first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// strftimeString expands a strftime format (C locale).
func strftimeString(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			i++
			b.WriteString(strftime(format[i], t))
			continue
		}
		b.WriteByte(format[i])
	}
	return b.String()
}

var (
	cDays   = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	cMonths = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// strftime expands one conversion %c of glibc's strftime in the C locale.
func strftime(c byte, t time.Time) string {
	pad2 := func(n int) string { return fmt.Sprintf("%02d", n) }
	switch c {
	case 'a':
		return cDays[t.Weekday()][:3]
	case 'A':
		return cDays[t.Weekday()]
	case 'b', 'h':
		return cMonths[t.Month()-1][:3]
	case 'B':
		return cMonths[t.Month()-1]
	case 'c':
		return strftimeString("%a %b %e %H:%M:%S %Y", t)
	case 'C':
		return pad2(t.Year() / 100)
	case 'd':
		return pad2(t.Day())
	case 'D':
		return strftimeString("%m/%d/%y", t)
	case 'e':
		return fmt.Sprintf("%2d", t.Day())
	case 'F':
		return strftimeString("%Y-%m-%d", t)
	case 'G':
		y, _ := t.ISOWeek()
		return strconv.Itoa(y)
	case 'g':
		y, _ := t.ISOWeek()
		return pad2(y % 100)
	case 'H':
		return pad2(t.Hour())
	case 'I':
		return pad2((t.Hour()+11)%12 + 1)
	case 'j':
		return fmt.Sprintf("%03d", t.YearDay())
	case 'k':
		return fmt.Sprintf("%2d", t.Hour())
	case 'l':
		return fmt.Sprintf("%2d", (t.Hour()+11)%12+1)
	case 'm':
		return pad2(int(t.Month()))
	case 'M':
		return pad2(t.Minute())
	case 'n':
		return "\n"
	case 'p':
		if t.Hour() < 12 {
			return "AM"
		}
		return "PM"
	case 'P':
		if t.Hour() < 12 {
			return "am"
		}
		return "pm"
	case 'r':
		return strftimeString("%I:%M:%S %p", t)
	case 'R':
		return strftimeString("%H:%M", t)
	case 's':
		return strconv.FormatInt(t.Unix(), 10)
	case 'S':
		return pad2(t.Second())
	case 't':
		return "\t"
	case 'T':
		return strftimeString("%H:%M:%S", t)
	case 'u':
		return strconv.Itoa((int(t.Weekday())+6)%7 + 1)
	case 'U':
		return pad2((t.YearDay() + 6 - int(t.Weekday())) / 7)
	case 'V':
		_, w := t.ISOWeek()
		return pad2(w)
	case 'w':
		return strconv.Itoa(int(t.Weekday()))
	case 'W':
		return pad2((t.YearDay() + 6 - (int(t.Weekday())+6)%7) / 7)
	case 'x':
		return strftimeString("%m/%d/%y", t)
	case 'X':
		return strftimeString("%H:%M:%S", t)
	case 'y':
		return pad2(t.Year() % 100)
	case 'Y':
		return strconv.Itoa(t.Year())
	case 'z':
		_, off := t.Zone()
		sign := '+'
		if off < 0 {
			sign, off = '-', -off
		}
		return fmt.Sprintf("%c%02d%02d", sign, off/3600, off/60%60)
	case 'Z':
		name, _ := t.Zone()
		return name
	case '%':
		return "%"
	case '+':
		return strftimeString("%a %b %e %H:%M:%S %Z %Y", t)
	}
	return "%" + string(c)
}

// checkFormat validates -F up front as mosquitto_sub does, with its messages.
func checkFormat(s string) error {
	n := len(s)
	incomplete := fmt.Errorf("Error: Incomplete format specifier.")
	for i := 0; i < n; i++ {
		switch s[i] {
		case '%':
			if i == n-1 {
				return incomplete
			}
			if s[i+1] == '0' || s[i+1] == '-' {
				i++
				if i == n-1 {
					return incomplete
				}
			}
			for s[i+1] >= '0' && s[i+1] <= '9' {
				i++
				if i == n-1 {
					return incomplete
				}
			}
			if s[i+1] == '.' {
				i++
				if i == n-1 {
					return incomplete
				}
				for s[i+1] >= '0' && s[i+1] <= '9' {
					i++
					if i == n-1 {
						return incomplete
					}
				}
			}
			if !strings.ContainsRune("%ACDEFIlmPpqRSrtjJUxX", rune(s[i+1])) {
				return fmt.Errorf("Error: Invalid format specifier '%c'.", s[i+1])
			}
			i++
		case '@':
			if i == n-1 {
				return incomplete
			}
			i++
		case '\\':
			if i == n-1 {
				return fmt.Errorf("Error: Incomplete escape specifier.")
			}
			if !strings.ContainsRune(`\0aenrtv`, rune(s[i+1])) {
				return fmt.Errorf("Error: Invalid escape specifier '%c'.", s[i+1])
			}
			i++
		}
	}
	return nil
}
