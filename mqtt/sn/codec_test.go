package sn

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeVectors(t *testing.T) {
	for _, tab := range [][]vector{vectors, decodeOnly} {
		for _, v := range tab {
			got, err := Decode(v.bytes)
			if err != nil {
				t.Errorf("[MQTT-SN %s] %s: Decode(% X): %v", v.spec, v.name, v.bytes, err)
				continue
			}
			if !reflect.DeepEqual(got, v.msg) {
				t.Errorf("[MQTT-SN %s] %s: Decode(% X)\n got %#v\nwant %#v", v.spec, v.name, v.bytes, got, v.msg)
			}
		}
	}
}

func TestAppendVectors(t *testing.T) {
	for _, v := range vectors {
		prefix := []byte("prefix")
		got, err := Append(append([]byte(nil), prefix...), v.msg)
		if err != nil {
			t.Errorf("[MQTT-SN %s] %s: Append: %v", v.spec, v.name, err)
			continue
		}
		if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], v.bytes) {
			t.Errorf("[MQTT-SN %s] %s: Append\n got % X\nwant % X", v.spec, v.name, got[len(prefix):], v.bytes)
		}
		if n := Size(v.msg); n != len(v.bytes) {
			t.Errorf("[MQTT-SN %s] %s: Size %d, encoded %d", v.spec, v.name, n, len(v.bytes))
		}
	}
}

// TestRoundTrip: every valid and decode-only vector survives Decode → Append → Decode.
func TestRoundTrip(t *testing.T) {
	for _, tab := range [][]vector{vectors, decodeOnly} {
		for _, v := range tab {
			roundTrip(t, v.bytes)
		}
	}
}

func roundTrip(t *testing.T, b []byte) {
	t.Helper()
	msg, err := Decode(b)
	if err != nil {
		return
	}
	enc, err := Append(nil, msg)
	if err != nil {
		t.Fatalf("decoded % X to %#v, which does not encode: %v", b, msg, err)
	}
	if n := Size(msg); n != len(enc) {
		t.Fatalf("Size %d != encoded %d for %#v", n, len(enc), msg)
	}
	again, err := Decode(enc)
	if err != nil {
		t.Fatalf("re-encoded % X does not decode: %v", enc, err)
	}
	if !reflect.DeepEqual(normalize(msg), normalize(again)) {
		t.Fatalf("round trip changed the message:\n%#v\n%#v", msg, again)
	}
}

// normalize makes empty and nil byte slices equal for comparison.
func normalize(m Message) Message {
	switch m := m.(type) {
	case *Publish:
		c := *m
		if len(c.Data) == 0 {
			c.Data = nil
		}
		return &c
	case *WillMsg:
		c := *m
		if len(c.Msg) == 0 {
			c.Msg = nil
		}
		return &c
	case *WillMsgUpd:
		c := *m
		if len(c.Msg) == 0 {
			c.Msg = nil
		}
		return &c
	case *GWInfo:
		c := *m
		if len(c.GwAdd) == 0 {
			c.GwAdd = nil
		}
		return &c
	case *Encapsulated:
		c := *m
		if len(c.WirelessNodeID) == 0 {
			c.WirelessNodeID = nil
		}
		c.Msg = normalize(c.Msg)
		return &c
	}
	return m
}

func TestDecodeInvalid(t *testing.T) {
	for _, v := range invalid {
		msg, err := Decode(v.bytes)
		if err == nil {
			t.Errorf("[MQTT-SN %s] %s: Decode(% X) = %#v, want %v", v.spec, v.name, v.bytes, msg, v.kind)
			continue
		}
		if msg != nil {
			t.Errorf("%s: message and error both returned", v.name)
		}
		if !errors.Is(err, v.kind) {
			t.Errorf("[MQTT-SN %s] %s: Decode(% X): %v, want kind %v", v.spec, v.name, v.bytes, err, v.kind)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %T is not *Error", v.name, err)
		}
	}
}

func TestAppendRefuses(t *testing.T) {
	for _, v := range unencodable {
		dst := []byte{1, 2}
		got, err := Append(dst, v.msg)
		if !errors.Is(err, v.kind) {
			t.Errorf("%s: Append error %v, want %v", v.name, err, v.kind)
		}
		if !bytes.Equal(got, []byte{1, 2}) {
			t.Errorf("%s: dst changed to % X", v.name, got)
		}
		if Size(v.msg) != -1 {
			t.Errorf("%s: Size %d, want -1", v.name, Size(v.msg))
		}
	}
}

func TestNames(t *testing.T) {
	if PUBLISH.String() != "PUBLISH" || MsgType(0x03).String() != "RESERVED(0x03)" {
		t.Error(PUBLISH.String(), MsgType(0x03).String())
	}
	if RejectedInvalidTopicID.String() != "rejected: invalid topic ID" || ReturnCode(9).String() != "reserved return code 0x09" {
		t.Error(RejectedInvalidTopicID.String())
	}
	if id, ok := ShortTopicID("ab"); !ok || id != 0x6162 || ShortTopicName(id) != "ab" {
		t.Error("short topic", id, ok)
	}
	if _, ok := ShortTopicID("abc"); ok {
		t.Error("3-byte short topic accepted")
	}
	var e error = RejectedCongestion
	var rc ReturnCode
	if !errors.As(e, &rc) || rc != RejectedCongestion {
		t.Error("ReturnCode as error")
	}
}

func TestAppendNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 512)
	p := &Publish{QoS: 1, TopicID: 1, MsgID: 2, Data: make([]byte, 64)}
	if n := testing.AllocsPerRun(100, func() { buf, _ = Append(buf[:0], p) }); n != 0 {
		t.Errorf("Append allocates %.0f times", n)
	}
	enc, _ := Append(nil, p)
	if n := testing.AllocsPerRun(100, func() { _, _ = Decode(enc) }); n > 1 {
		t.Errorf("Decode of a PUBLISH allocates %.0f times, want 1", n)
	}
}
