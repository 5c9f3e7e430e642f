package cli

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A minimal JSON tree that parses and prints the way cJSON (which
// mosquitto_sub uses for %j, %J and --pretty) does, so output matches byte
// for byte: keys keep their order and duplicates, numbers go through a
// double and print as %d, %1.15g or %1.17g, strings escape only '"', '\\'
// and control characters.

type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonFalse
	jsonTrue
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

type jsonValue struct {
	kind  jsonKind
	num   float64
	str   string
	keys  []string // object member names, parallel to items
	items []*jsonValue
}

func jsonStr(s string) *jsonValue  { return &jsonValue{kind: jsonString, str: s} }
func jsonNum(f float64) *jsonValue { return &jsonValue{kind: jsonNumber, num: f} }
func (v *jsonValue) add(k string, c *jsonValue) {
	v.keys = append(v.keys, k)
	v.items = append(v.items, c)
}

// print writes v as cJSON_PrintUnformatted (pretty false) or cJSON_Print.
func (v *jsonValue) print(b *strings.Builder, pretty bool, depth int) {
	switch v.kind {
	case jsonNull:
		b.WriteString("null")
	case jsonFalse:
		b.WriteString("false")
	case jsonTrue:
		b.WriteString("true")
	case jsonNumber:
		b.WriteString(cJSONNumber(v.num))
	case jsonString:
		cJSONString(b, v.str)
	case jsonArray:
		b.WriteByte('[')
		for i, it := range v.items {
			it.print(b, pretty, depth+1)
			if i < len(v.items)-1 {
				b.WriteByte(',')
				if pretty {
					b.WriteByte(' ')
				}
			}
		}
		b.WriteByte(']')
	case jsonObject:
		depth++
		b.WriteByte('{')
		if pretty {
			b.WriteByte('\n')
		}
		for i, it := range v.items {
			if pretty {
				b.WriteString(strings.Repeat("\t", depth))
			}
			cJSONString(b, v.keys[i])
			b.WriteByte(':')
			if pretty {
				b.WriteByte('\t')
			}
			it.print(b, pretty, depth)
			if i < len(v.items)-1 {
				b.WriteByte(',')
			}
			if pretty {
				b.WriteByte('\n')
			}
		}
		if pretty {
			b.WriteString(strings.Repeat("\t", depth-1))
		}
		b.WriteByte('}')
	}
}

// cJSONNumber formats a number as cJSON's print_number: %1.15g, or %1.17g
// when that does not read back as (nearly, within DBL_EPSILON) the same
// double. -0 stays "-0".
func cJSONNumber(d float64) string {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return "null"
	}
	s := strconv.FormatFloat(d, 'g', 15, 64)
	back, err := strconv.ParseFloat(s, 64)
	if (err != nil && !isRangeErr(err)) || math.Abs(back-d) > math.Max(math.Abs(back), math.Abs(d))*0x1p-52 {
		s = strconv.FormatFloat(d, 'g', 17, 64)
	}
	return s
}

// cJSONString writes s quoted as cJSON's print_string_ptr does.
func cJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 32:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// parseJSON parses a whole payload as cJSON_ParseWithOpts with
// require_null_terminated does; a NUL byte ends the C string early and so
// makes the payload invalid.
func parseJSON(data []byte) (*jsonValue, bool) {
	for _, c := range data {
		if c == 0 {
			return nil, false
		}
	}
	p := &jsonParser{s: data}
	if len(p.s) >= 3 && p.s[0] == 0xEF && p.s[1] == 0xBB && p.s[2] == 0xBF {
		p.i = 3
	}
	p.ws()
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.ws()
	return v, p.i == len(p.s)
}

type jsonParser struct {
	s []byte
	i int
}

const jsonNestingLimit = 1000 // CJSON_NESTING_LIMIT

func (p *jsonParser) ws() {
	for p.i < len(p.s) && p.s[p.i] <= 32 {
		p.i++
	}
}

func (p *jsonParser) lit(word string) bool {
	if len(p.s)-p.i >= len(word) && string(p.s[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *jsonParser) value(depth int) (*jsonValue, bool) {
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case p.lit("null"):
		return &jsonValue{kind: jsonNull}, true
	case p.lit("false"):
		return &jsonValue{kind: jsonFalse}, true
	case p.lit("true"):
		return &jsonValue{kind: jsonTrue}, true
	case c == '"':
		s, ok := p.string()
		return jsonStr(s), ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '[':
		if depth >= jsonNestingLimit {
			return nil, false
		}
		return p.array(depth + 1)
	case c == '{':
		if depth >= jsonNestingLimit {
			return nil, false
		}
		return p.object(depth + 1)
	}
	return nil, false
}

// number takes the run of number characters and, like strtod, the longest
// prefix of it that is a number.
func (p *jsonParser) number() (*jsonValue, bool) {
	end := p.i
	for end < len(p.s) && strings.IndexByte("0123456789+-eE.", p.s[end]) >= 0 {
		end++
	}
	for e := end; e > p.i; e-- {
		f, err := strconv.ParseFloat(string(p.s[p.i:e]), 64)
		if err == nil || isRangeErr(err) {
			p.i = e
			return jsonNum(f), true
		}
	}
	return nil, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (p *jsonParser) string() (string, bool) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), true
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", false
			}
			p.i++
			switch e := p.s[p.i]; e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'u':
				r, ok := p.unicodeEscape()
				if !ok {
					return "", false
				}
				b.WriteRune(r)
				continue
			default:
				return "", false
			}
			p.i++
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", false
}

// unicodeEscape decodes \uXXXX (p.i at 'u'), joining surrogate pairs.
func (p *jsonParser) unicodeEscape() (rune, bool) {
	hex4 := func(at int) (rune, bool) {
		if at+4 > len(p.s) {
			return 0, false
		}
		n, err := strconv.ParseUint(string(p.s[at:at+4]), 16, 16)
		return rune(n), err == nil
	}
	r, ok := hex4(p.i + 1)
	if !ok {
		return 0, false
	}
	p.i += 5
	if r >= 0xDC00 && r <= 0xDFFF {
		return 0, false
	}
	if r >= 0xD800 && r <= 0xDBFF {
		if p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
			return 0, false
		}
		lo, ok := hex4(p.i + 2)
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, false
		}
		p.i += 6
		r = 0x10000 + ((r & 0x3FF) << 10) | (lo & 0x3FF)
	}
	if r == 0 {
		return utf8.RuneError, true
	}
	return r, true
}

func (p *jsonParser) array(depth int) (*jsonValue, bool) {
	p.i++
	v := &jsonValue{kind: jsonArray}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return v, true
	}
	for {
		p.ws()
		it, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		v.items = append(v.items, it)
		p.ws()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, true
		default:
			return nil, false
		}
	}
}

func (p *jsonParser) object(depth int) (*jsonValue, bool) {
	p.i++
	v := &jsonValue{kind: jsonObject}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return v, true
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.ws()
		it, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		v.add(k, it)
		p.ws()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, true
		default:
			return nil, false
		}
	}
}
