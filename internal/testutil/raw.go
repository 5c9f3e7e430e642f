package testutil

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Raw is a hand-driven MQTT client over a real socket, for tests that need exact packets
// (malformed ones included) rather than a client library's behaviour. Every call fails the
// test on a transport error; reads wait at most 5 s unless a duration is given.
type Raw struct {
	T       testing.TB
	NC      net.Conn
	BR      *bufio.Reader
	Version byte // packet.V31, V311 or V5: how packets are encoded and decoded
}

// DialRaw connects to addr (TCP); the connection is closed when the test ends.
func DialRaw(t testing.TB, addr string, version byte) *Raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return NewRaw(t, nc, version)
}

// NewRaw wraps an established connection (TLS, unix, a pipe).
func NewRaw(t testing.TB, nc net.Conn, version byte) *Raw {
	return &Raw{T: t, NC: nc, BR: bufio.NewReader(nc), Version: version}
}

// ConnectRaw dials and connects with client id (clean start, keep alive 30), failing the
// test unless CONNACK is Success.
func ConnectRaw(t testing.TB, addr string, version byte, id string) *Raw {
	t.Helper()
	r := DialRaw(t, addr, version)
	ack := r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return r
}

// Send encodes p and writes it.
func (r *Raw) Send(p packet.Packet) {
	r.T.Helper()
	buf, err := packet.Append(nil, p, r.Version)
	if err != nil {
		r.T.Fatalf("encode %T: %v", p, err)
	}
	r.WriteBytes(buf)
}

// WriteBytes writes b as it is.
func (r *Raw) WriteBytes(b []byte) {
	r.T.Helper()
	r.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.NC.Write(b); err != nil {
		r.T.Fatalf("write: %v", err)
	}
}

// Recv reads the next packet within 5 s.
func (r *Raw) Recv() packet.Packet {
	r.T.Helper()
	p, err := r.RecvErr(5 * time.Second)
	if err != nil {
		r.T.Fatalf("read: %v", err)
	}
	return p
}

// RecvErr reads the next packet within d.
func (r *Raw) RecvErr(d time.Duration) (packet.Packet, error) {
	r.NC.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(r.BR, r.Version, 0)
}

// ExpectClosed waits up to d for the server to close the connection and returns the packets
// received before.
func (r *Raw) ExpectClosed(d time.Duration) []packet.Packet {
	r.T.Helper()
	var got []packet.Packet
	deadline := time.Now().Add(d)
	for {
		p, err := r.RecvErr(time.Until(deadline))
		if err == nil {
			got = append(got, p)
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
			return got
		}
		r.T.Fatalf("connection not closed: %v (got %d packets)", err, len(got))
	}
}

// ExpectNothing fails the test if a packet arrives within d.
func (r *Raw) ExpectNothing(d time.Duration) {
	r.T.Helper()
	if p, err := r.RecvErr(d); err == nil {
		r.T.Fatalf("unexpected packet %T %+v", p, p)
	}
}

// Connect sends c (protocol name and version filled in from r.Version when unset) and
// returns the CONNACK.
func (r *Raw) Connect(c *packet.Connect) *packet.Connack {
	r.T.Helper()
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = r.Version
	}
	if c.ProtocolName == "" {
		c.ProtocolName = "MQTT"
		if c.ProtocolVersion == packet.V31 {
			c.ProtocolName = "MQIsdp"
		}
	}
	r.Send(c)
	ack, ok := r.Recv().(*packet.Connack)
	if !ok {
		r.T.Fatal("expected CONNACK")
	}
	return ack
}

// Subscribe sends SUBSCRIBE and returns its SUBACK, which must be the next packet.
func (r *Raw) Subscribe(id uint16, props packet.Properties, subs ...packet.Subscription) *packet.Suback {
	r.T.Helper()
	r.Send(&packet.Subscribe{PacketID: id, Properties: props, Subscriptions: subs})
	p := r.Recv()
	sa, ok := p.(*packet.Suback)
	if !ok {
		r.T.Fatalf("expected SUBACK, got %T", p)
	}
	if sa.PacketID != id {
		r.T.Fatalf("SUBACK id %d, want %d", sa.PacketID, id)
	}
	return sa
}

// RecvPublish reads packets until a PUBLISH arrives.
func (r *Raw) RecvPublish() *packet.Publish {
	r.T.Helper()
	for {
		if pub, ok := r.Recv().(*packet.Publish); ok {
			return pub
		}
	}
}
