package packet

import (
	"bytes"
	"errors"
	"testing"
)

// TestLenientReasonCodes: a reason code the specification does not list for a packet fails
// Decode (the broker's reader) as malformed, and is returned as sent by DecodeLenient (the
// client's), so a client can report "Packet too large" where Mosquitto answers an oversized
// PUBLISH with PUBACK 0x95.
func TestLenientReasonCodes(t *testing.T) {
	tests := []struct {
		name    string
		version byte
		raw     []byte
		want    ReasonCode
		code    func(Packet) ReasonCode
	}{
		{"PUBACK 0x95", V5, pkt(0x40, u16(1), b(0x95)), 0x95, func(p Packet) ReasonCode { return p.(*Puback).ReasonCode }},
		{"PUBACK 0x95 with properties", V5, pkt(0x40, u16(1), b(0x95), props(b(0x1F), str("too big"))), 0x95, func(p Packet) ReasonCode { return p.(*Puback).ReasonCode }},
		{"PUBREC 0x95", V5, pkt(0x50, u16(7), b(0x95)), 0x95, func(p Packet) ReasonCode { return p.(*Pubrec).ReasonCode }},
		{"PUBREL 0x87", V5, pkt(0x62, u16(7), b(0x87)), 0x87, func(p Packet) ReasonCode { return p.(*Pubrel).ReasonCode }},
		{"PUBCOMP 0x80", V5, pkt(0x70, u16(7), b(0x80)), 0x80, func(p Packet) ReasonCode { return p.(*Pubcomp).ReasonCode }},
		{"SUBACK 3.1.1 0x87", V311, pkt(0x90, u16(1), b(0x87)), 0x87, func(p Packet) ReasonCode { return p.(*Suback).ReasonCodes[0] }},
		{"SUBACK 5 0x95", V5, pkt(0x90, u16(1), props(), b(0x95)), 0x95, func(p Packet) ReasonCode { return p.(*Suback).ReasonCodes[0] }},
		{"UNSUBACK 0x95", V5, pkt(0xB0, u16(1), props(), b(0x95)), 0x95, func(p Packet) ReasonCode { return p.(*Unsuback).ReasonCodes[0] }},
		{"CONNACK 0x8E", V5, pkt(0x20, b(0, 0x8E), props()), 0x8E, func(p Packet) ReasonCode { return p.(*Connack).ReasonCode }},
		{"DISCONNECT 0x84", V5, pkt(0xE0, b(0x84)), 0x84, func(p Packet) ReasonCode { return p.(*Disconnect).ReasonCode }},
		{"AUTH 0x87", V5, pkt(0xF0, b(0x87), props()), 0x87, func(p Packet) ReasonCode { return p.(*Auth).ReasonCode }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.version, tt.raw[0], tt.raw[2:]); !errors.Is(err, MalformedPacket) {
				t.Errorf("Decode: err %v, want a malformed packet", err)
			}
			p, err := DecodeLenient(tt.version, tt.raw[0], tt.raw[2:])
			if err != nil {
				t.Fatalf("DecodeLenient: %v", err)
			}
			want := tt.want
			if got := tt.code(p); got != want {
				t.Errorf("reason code 0x%02X, want 0x%02X", byte(got), byte(want))
			}
			rp, err := ReadPacketLenient(bytes.NewReader(tt.raw), tt.version, 0)
			if err != nil || tt.code(rp) != want {
				t.Errorf("ReadPacketLenient: %v, %v", rp, err)
			}
			if _, err := ReadPacket(bytes.NewReader(tt.raw), tt.version, 0); !errors.Is(err, MalformedPacket) {
				t.Errorf("ReadPacket: err %v, want a malformed packet", err)
			}
		})
	}
}

// TestLenientStillStrict: leniency is about reason codes only; everything else a server
// could get wrong is still an error.
func TestLenientStillStrict(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version byte
		raw     []byte
	}{
		{"PUBACK packet id 0", V5, pkt(0x40, u16(0), b(0x95))},
		{"PUBACK trailing bytes", V311, pkt(0x40, u16(1), b(0))},
		{"PUBREL bad flags", V5, pkt(0x60, u16(1))},
		{"SUBACK no codes", V311, pkt(0x90, u16(1))},
		{"CONNACK 3.1.1 return code 6", V311, pkt(0x20, b(0, 6))},
		{"DISCONNECT 3.1.1 with a body", V311, pkt(0xE0, b(0x84))},
	} {
		if _, err := DecodeLenient(tt.version, tt.raw[0], tt.raw[2:]); err == nil {
			t.Errorf("%s: decoded without error", tt.name)
		}
	}
}
