package packet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

var versionNames = map[byte]string{V31: "3.1", V311: "3.1.1", V5: "5.0"}

func (v vector) label() string { return versionNames[v.version] + "/" + v.name }

// decodeBytes runs the whole read path on a complete packet: ParseHeader,
// then Decode of the body; and cross-checks ReadPacket.
func decodeBytes(t *testing.T, version byte, raw []byte) (Packet, error) {
	t.Helper()
	first, rem, n, err := ParseHeader(raw)
	var p Packet
	if err == nil {
		if n+rem != len(raw) {
			t.Fatalf("header says %d+%d bytes, have %d", n, rem, len(raw))
		}
		p, err = Decode(version, first, raw[n:])
	}
	p2, err2 := ReadPacket(bytes.NewReader(raw), version, 0)
	if (err == nil) != (err2 == nil) || ReasonOf(err) != ReasonOf(err2) {
		t.Fatalf("Decode err %v, ReadPacket err %v", err, err2)
	}
	if err == nil && !equalPackets(p, p2) {
		t.Fatalf("Decode and ReadPacket disagree:\n%#v\n%#v", p, p2)
	}
	return p, err
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range append(append([]vector{}, vectors...), decodeOnly...) {
		t.Run(v.label(), func(t *testing.T) {
			got, err := decodeBytes(t, v.version, v.bytes)
			if err != nil {
				t.Fatalf("%s: decode % X: %v", v.spec, v.bytes, err)
			}
			if !equalPackets(got, v.packet) {
				t.Fatalf("%s: decode % X\n got %#v\nwant %#v", v.spec, v.bytes, got, v.packet)
			}
		})
	}
}

func TestVectorsEncode(t *testing.T) {
	for _, v := range append(append([]vector{}, vectors...), encodeOnly...) {
		t.Run(v.label(), func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := Append(prefix, v.packet, v.version)
			if err != nil {
				t.Fatalf("%s: Append: %v", v.spec, err)
			}
			if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], v.bytes) {
				t.Fatalf("%s: Append\n got % X\nwant % X", v.spec, got[len(prefix):], v.bytes)
			}
			if n := Size(v.packet, v.version); n != len(v.bytes) {
				t.Fatalf("Size = %d, want %d", n, len(v.bytes))
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, v := range invalid {
		t.Run(versionNames[v.version]+"/"+v.name, func(t *testing.T) {
			p, err := decodeBytes(t, v.version, v.bytes)
			if err == nil {
				t.Fatalf("%s: decoded % X to %#v, want %v", v.spec, v.bytes, p, v.code)
			}
			if got := ReasonOf(err); got != v.code {
				t.Fatalf("%s: % X: got %v (%v), want %v", v.spec, v.bytes, got, err, v.code)
			}
			if !errors.Is(err, v.code) {
				t.Fatalf("errors.Is(%v, %v) = false", err, v.code)
			}
			if !strings.HasPrefix(err.Error(), "packet: ") {
				t.Fatalf("message %q does not start with the package name", err)
			}
		})
	}
}

// Every property identifier appears in at least one valid vector.
func TestVectorsCoverEveryProperty(t *testing.T) {
	seen := map[byte]bool{}
	for _, v := range vectors {
		if v.version != V5 {
			continue
		}
		for _, p := range propertiesOf(v.packet) {
			buf := p.appendProps(nil, 1<<20) // any non-zero length writes every set property
			r := reader{b: buf}
			if _, err := r.varint("len"); err != nil {
				t.Fatal(err)
			}
			for r.left() > 0 {
				id, _ := r.u8("id")
				seen[id] = true
				skipProperty(t, &r, id)
			}
		}
	}
	for id := 0; id < 64; id++ {
		if propNames[id] != "" && !seen[byte(id)] {
			t.Errorf("no vector carries property 0x%02X %s", id, propNames[id])
		}
	}
}

func propertiesOf(p Packet) []*Properties {
	switch p := p.(type) {
	case *Connect:
		return []*Properties{&p.Properties, &p.WillProperties}
	case *Connack:
		return []*Properties{&p.Properties}
	case *Publish:
		return []*Properties{&p.Properties}
	case *Puback:
		return []*Properties{&p.Properties}
	case *Pubrec:
		return []*Properties{&p.Properties}
	case *Pubrel:
		return []*Properties{&p.Properties}
	case *Pubcomp:
		return []*Properties{&p.Properties}
	case *Subscribe:
		return []*Properties{&p.Properties}
	case *Suback:
		return []*Properties{&p.Properties}
	case *Unsubscribe:
		return []*Properties{&p.Properties}
	case *Unsuback:
		return []*Properties{&p.Properties}
	case *Disconnect:
		return []*Properties{&p.Properties}
	case *Auth:
		return []*Properties{&p.Properties}
	}
	return nil
}

func skipProperty(t *testing.T, r *reader, id byte) {
	t.Helper()
	var err error
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS, PropRetainAvailable,
		PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		_, err = r.u8("")
	case PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropTopicAlias:
		_, err = r.u16("")
	case PropMessageExpiry, PropSessionExpiry, PropWillDelay, PropMaximumPacketSize:
		_, err = r.u32("")
	case PropSubscriptionIdentifier:
		_, err = r.varint("")
	case PropUserProperty:
		if _, err = r.binary(""); err == nil {
			_, err = r.binary("")
		}
	default:
		_, err = r.binary("")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// invalidEncode lists packets Append must refuse rather than write garbage.
var invalidEncode = []struct {
	name    string
	version byte
	packet  Packet
	code    ReasonCode
}{
	{"publish QoS 1 packet id 0", V311, &Publish{QoS: 1, Topic: "t"}, ProtocolError},
	{"publish QoS 3", V5, &Publish{QoS: 3, Topic: "t", PacketID: 1}, MalformedPacket},
	{"publish DUP at QoS 0", V311, &Publish{Dup: true, Topic: "t"}, MalformedPacket},
	{"publish topic over 65535 bytes", V311, &Publish{Topic: strings.Repeat("a", 65536)}, MalformedPacket},
	{"publish topic invalid UTF-8", V311, &Publish{Topic: "\xff"}, MalformedPacket},
	{"publish topic with U+0000", V5, &Publish{Topic: "a\x00"}, MalformedPacket},
	{"publish session expiry property", V5, &Publish{Topic: "t", Properties: Properties{HasSessionExpiry: true}}, MalformedPacket},
	{"publish topic alias 0", V5, &Publish{Topic: "t", Properties: Properties{HasTopicAlias: true}}, TopicAliasInvalid},
	{"publish subscription id 0", V5, &Publish{Topic: "t", Properties: Properties{SubscriptionIDs: []uint32{0}}}, ProtocolError},
	{"publish subscription id too big", V5, &Publish{Topic: "t", Properties: Properties{SubscriptionIDs: []uint32{1 << 28}}}, ProtocolError},
	{"publish user property invalid UTF-8", V5, &Publish{Topic: "t", Properties: Properties{User: []UserProperty{{"\xc3", "v"}}}}, MalformedPacket},
	{"publish correlation data too long", V5, &Publish{Topic: "t", Properties: Properties{CorrelationData: make([]byte, 65536)}}, MalformedPacket},
	{"puback topic alias", V5, &Puback{PacketID: 1, Properties: Properties{HasTopicAlias: true, TopicAlias: 1}}, MalformedPacket},
	{"puback packet id 0", V5, &Puback{}, ProtocolError},
	{"pubrel reason not for PUBREL", V5, &Pubrel{PacketID: 1, ReasonCode: NotAuthorized}, ProtocolError},
	{"subscribe no filters", V5, &Subscribe{PacketID: 1}, ProtocolError},
	{"subscribe QoS 3", V311, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 3}}}, MalformedPacket},
	{"subscribe retain handling 3", V5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, ProtocolError},
	{"subscribe two subscription ids", V5, &Subscribe{PacketID: 1, Properties: Properties{SubscriptionIDs: []uint32{1, 2}}, Subscriptions: []Subscription{{Filter: "a"}}}, ProtocolError},
	{"suback 3.x code 0x10", V311, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0x10}}, ProtocolError},
	{"suback no codes", V5, &Suback{PacketID: 1}, ProtocolError},
	{"unsubscribe no filters", V311, &Unsubscribe{PacketID: 1}, ProtocolError},
	{"unsuback v5 no codes", V5, &Unsuback{PacketID: 1}, ProtocolError},
	{"connect password without user name", V311, &Connect{ClientID: "c", Password: []byte("p")}, MalformedPacket},
	{"connect level 6", V5, &Connect{ProtocolVersion: 6}, UnsupportedProtocolVersion},
	{"connect will QoS without will", V311, &Connect{WillQoS: 1}, MalformedPacket},
	{"connect will QoS 3", V311, &Connect{WillFlag: true, WillQoS: 3}, MalformedPacket},
	{"connect will delay in connect properties", V5, &Connect{Properties: Properties{HasWillDelay: true}}, MalformedPacket},
	{"connect session expiry in will properties", V5, &Connect{WillFlag: true, WillTopic: "w", WillProperties: Properties{HasSessionExpiry: true}}, MalformedPacket},
	{"connect receive maximum 0", V5, &Connect{Properties: Properties{HasReceiveMaximum: true}}, ProtocolError},
	{"connect auth data without method", V5, &Connect{Properties: Properties{AuthData: []byte{}}}, ProtocolError},
	{"connack session present with refusal", V311, &Connack{SessionPresent: true, ReasonCode: NotAuthorized}, ProtocolError},
	{"connack v5 reason 0x10", V5, &Connack{ReasonCode: NoMatchingSubscribers}, ProtocolError},
	{"connack maximum QoS 2", V5, &Connack{Properties: Properties{HasMaximumQoS: true, MaximumQoS: 2}}, ProtocolError},
	{"connack maximum packet size 0", V5, &Connack{Properties: Properties{HasMaximumPacketSize: true}}, ProtocolError},
	{"disconnect reason 0x01", V5, &Disconnect{ReasonCode: 0x01}, ProtocolError},
	{"auth in 3.1.1", V311, &Auth{}, ProtocolError},
	{"auth reason 0x80", V5, &Auth{ReasonCode: 0x80}, ProtocolError},
	{"nil packet", V5, nil, MalformedPacket},
	{"typed nil publish", V5, (*Publish)(nil), MalformedPacket},
	{"publish over 268435455 bytes", V311, &Publish{Topic: "t", Payload: make([]byte, MaxRemainingLength)}, PacketTooLarge},
}

func TestInvalidEncode(t *testing.T) {
	for _, c := range invalidEncode {
		t.Run(versionNames[c.version]+"/"+c.name, func(t *testing.T) {
			dst := []byte{1, 2, 3}
			got, err := Append(dst, c.packet, c.version)
			if err == nil {
				t.Fatalf("Append succeeded: % X", got)
			}
			if ReasonOf(err) != c.code {
				t.Fatalf("got %v (%v), want %v", ReasonOf(err), err, c.code)
			}
			if !bytes.Equal(got, dst) {
				t.Fatalf("dst changed on error: % X", got)
			}
			if Size(c.packet, c.version) != 0 {
				t.Fatalf("Size of an invalid packet is not 0")
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		in        []byte
		first     byte
		remaining int
		n         int
		err       error
	}{
		{nil, 0, 0, 0, ErrIncomplete},
		{b(0x30), 0, 0, 0, ErrIncomplete},
		{b(0x30, 0x80), 0, 0, 0, ErrIncomplete},
		{b(0x30, 0x80, 0x80, 0x80), 0, 0, 0, ErrIncomplete},
		{b(0x30, 0x00), 0x30, 0, 2, nil},
		{b(0x30, 0x7F, 9), 0x30, 127, 2, nil},
		{b(0x30, 0x80, 0x01), 0x30, 128, 3, nil},
		{b(0x30, 0xFF, 0x7F), 0x30, 16383, 3, nil},
		{b(0x30, 0x80, 0x80, 0x01), 0x30, 16384, 4, nil},
		{b(0x30, 0xFF, 0xFF, 0x7F), 0x30, 2097151, 4, nil},
		{b(0x30, 0x80, 0x80, 0x80, 0x01), 0x30, 2097152, 5, nil},
		{b(0x30, 0xFF, 0xFF, 0xFF, 0x7F), 0x30, 268435455, 5, nil},
		{b(0x30, 0xFF, 0xFF, 0xFF, 0xFF), 0, 0, 0, MalformedPacket},
		{b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), 0, 0, 0, MalformedPacket},
		{b(0x00, 0x00), 0, 0, 0, MalformedPacket},
	}
	for _, c := range cases {
		first, rem, n, err := ParseHeader(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParseHeader(% X) err = %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || first != c.first || rem != c.remaining || n != c.n {
			t.Errorf("ParseHeader(% X) = %x %d %d %v, want %x %d %d", c.in, first, rem, n, err, c.first, c.remaining, c.n)
		}
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455} {
		enc := AppendVarint(nil, v)
		if !bytes.Equal(enc, vbi(v)) || len(enc) != VarintSize(v) {
			t.Errorf("AppendVarint(%d) = % X, want % X", v, enc, vbi(v))
		}
		got, n := parseVarint(enc)
		if got != v || n != len(enc) {
			t.Errorf("parseVarint(% X) = %d, %d", enc, got, n)
		}
	}
}

// countingReader fails the test if more than limit bytes are read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadPacketTooLarge(t *testing.T) {
	// A 256 MB length field must be refused after the header, before any
	// allocation or read of the body.
	hdr := b(0x30, 0xFF, 0xFF, 0xFF, 0x7F)
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(hdr), strings.NewReader("never read"))}
	_, err := ReadPacket(cr, V5, 1024)
	if ReasonOf(err) != PacketTooLarge {
		t.Fatalf("err = %v, want Packet too large", err)
	}
	if cr.n != len(hdr) {
		t.Fatalf("read %d bytes, want only the %d-byte header", cr.n, len(hdr))
	}
	// MemStats are process-wide (other goroutines of the test binary
	// allocate too), so average over many refusals: a body-sized
	// allocation would be 256 MB each.
	const runs = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		ReadPacket(bytes.NewReader(hdr), V5, 1024)
	}
	runtime.ReadMemStats(&after)
	if d := (after.TotalAlloc - before.TotalAlloc) / runs; d > 512 {
		t.Fatalf("refusing the packet allocated %d bytes per call", d)
	}
	// The limit counts the whole packet, header included.
	raw := pkt(0x30, str("t"), make([]byte, 10))
	if _, err := ReadPacket(bytes.NewReader(raw), V311, len(raw)); err != nil {
		t.Fatalf("packet of exactly maxSize: %v", err)
	}
	if _, err := ReadPacket(bytes.NewReader(raw), V311, len(raw)-1); ReasonOf(err) != PacketTooLarge {
		t.Fatalf("packet of maxSize+1: %v", err)
	}
}

func TestReadPacketEOF(t *testing.T) {
	if _, err := ReadPacket(bytes.NewReader(nil), V5, 0); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	for _, raw := range [][]byte{b(0x30), b(0x30, 0x80), b(0x30, 5, 0, 1)} {
		if _, err := ReadPacket(bytes.NewReader(raw), V5, 0); err != io.ErrUnexpectedEOF {
			t.Fatalf("% X: %v, want io.ErrUnexpectedEOF", raw, err)
		}
	}
	// Several packets back to back.
	var stream []byte
	for _, v := range vectors {
		if v.version == V5 {
			stream = append(stream, v.bytes...)
		}
	}
	r := bytes.NewReader(stream)
	for _, v := range vectors {
		if v.version != V5 {
			continue
		}
		p, err := ReadPacket(r, V5, 0)
		if err != nil || !equalPackets(p, v.packet) {
			t.Fatalf("%s: %v %#v", v.name, err, p)
		}
	}
	if _, err := ReadPacket(r, V5, 0); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

func TestDecodePublishReuse(t *testing.T) {
	var p Publish
	for _, v := range vectors {
		if _, ok := v.packet.(*Publish); !ok {
			continue
		}
		first, _, n, _ := ParseHeader(v.bytes)
		if err := DecodePublish(&p, v.version, first, v.bytes[n:]); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if !equalPackets(&p, v.packet) {
			t.Fatalf("%s: %#v", v.name, p)
		}
	}
	if err := DecodePublish(&p, V5, 0x40, u16(1)); ReasonOf(err) != MalformedPacket {
		t.Fatalf("PUBACK through DecodePublish: %v", err)
	}
}

func TestPayloadAliasesBody(t *testing.T) {
	raw := pkt(0x30, str("t"), []byte("payload"))
	p, err := Decode(V311, raw[0], raw[2:])
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*Publish)
	raw[len(raw)-1] = 'X'
	if string(pub.Payload) != "payloaX" {
		t.Fatalf("payload %q does not alias the body", pub.Payload)
	}
	if cap(pub.Payload) != len(pub.Payload) {
		t.Fatalf("payload capacity %d reaches beyond the packet", cap(pub.Payload))
	}
}

func TestReasonCodes(t *testing.T) {
	if MalformedPacket.Error() != "Malformed Packet" || MalformedPacket.String() != "Malformed Packet" {
		t.Fatalf("MalformedPacket = %q", MalformedPacket.Error())
	}
	if ReasonCode(0x03).String() != "reason code 0x03" {
		t.Fatalf("unknown code: %q", ReasonCode(0x03).String())
	}
	if ReasonOf(nil) != Success || ReasonOf(io.EOF) != UnspecifiedError || ReasonOf(QuotaExceeded) != QuotaExceeded {
		t.Fatal("ReasonOf basics")
	}
	wrapped := fmt.Errorf("conn 7: %w", errf(ProtocolError, PUBLISH, "x"))
	if ReasonOf(wrapped) != ProtocolError || !errors.Is(wrapped, ProtocolError) {
		t.Fatal("ReasonOf does not unwrap")
	}
	if ReasonOf(fmt.Errorf("x: %w", NotAuthorized)) != NotAuthorized {
		t.Fatal("ReasonOf does not unwrap a ReasonCode")
	}
	for i := 0; i < 256; i++ {
		rc := ReasonCode(i)
		want := ConnackReturnCode(rc)
		if want > 5 {
			t.Fatalf("ConnackReturnCode(%v) = %d", rc, want)
		}
		if i <= 5 && ConnackReturnCode(connackReasons[i]) != byte(i) {
			t.Fatalf("return code %d does not round-trip", i)
		}
	}
	err := errf(MalformedPacket, PUBLISH, "topic name is not valid UTF-8")
	if err.Error() != "packet: PUBLISH: topic name is not valid UTF-8" {
		t.Fatalf("message %q", err)
	}
}

func TestTypeString(t *testing.T) {
	if PUBLISH.String() != "PUBLISH" || AUTH.String() != "AUTH" || Type(16).String() != "TYPE(16)" {
		t.Fatal("Type.String")
	}
}

// AppendPublishHead followed by the payload is what Append writes, for
// every PUBLISH vector and for payloads whose length takes the remaining
// length to more bytes; an invalid PUBLISH fails as in Append.
func TestAppendPublishHead(t *testing.T) {
	check := func(name string, p *Publish, version byte) {
		t.Helper()
		want, err := Append(nil, p, version)
		if err != nil {
			t.Fatalf("%s: Append: %v", name, err)
		}
		head, err := AppendPublishHead([]byte("x"), p, version)
		if err != nil {
			t.Fatalf("%s: AppendPublishHead: %v", name, err)
		}
		if got := append(head[1:], p.Payload...); !bytes.Equal(got, want) {
			t.Fatalf("%s: head+payload\n%x, want\n%x", name, got, want)
		}
	}
	for _, v := range vectors {
		if p, ok := v.packet.(*Publish); ok {
			check(v.label(), p, v.version)
		}
	}
	for _, n := range []int{0, 100, 127, 16 << 10, 65536, 2 << 20} {
		p := &Publish{Topic: "a/b", QoS: 1, PacketID: 7, Payload: bytes.Repeat([]byte{0xA5}, n)}
		check(fmt.Sprintf("payload %d", n), p, V311)
		p.Properties.ContentType = "x"
		check(fmt.Sprintf("v5 payload %d", n), p, V5)
	}
	bad := &Publish{Topic: "t", QoS: 1} // packet id 0
	if out, err := AppendPublishHead([]byte("x"), bad, V311); err == nil || string(out) != "x" {
		t.Fatalf("invalid PUBLISH: %q, %v", out, err)
	}
}
