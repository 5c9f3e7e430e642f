package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// The records. Each starts with its encoding's version byte, so a later
// mqtt can read what this one wrote (and this one refuses what it cannot
// read instead of guessing). Integers are unsigned varints, strings and
// byte slices a varint length and the bytes, times Unix nanoseconds as a
// varint (0: zero time).
//
//	message   v=1, flags (qos:2, retain, expiry, props, nil payload), topic, from,
//	          [expiry], payload, [props]
//	props     flags (payload format, message expiry, correlation data), [format],
//	          [expiry], content type, response topic, [correlation], n user × (k, v)
//	delivery  v=1, flags (qos:2, retain, dup, released, message), packet id,
//	          n sub ids, group, filter, [message]          key: seq, 8 bytes big-endian
//	session   v=1, protocol version, flags (username, will), username, expiry,
//	          disconnected at, n subs × (filter, options), [will, will delay, will at]
const recordV1 = 1

// errShort is what a record that ends too early decodes to.
var errShort = errors.New("record ends too early")

type enc []byte

func (e enc) uvarint(v uint64) enc { return binary.AppendUvarint(e, v) }
func (e enc) str(s string) enc     { return append(binary.AppendUvarint(e, uint64(len(s))), s...) }
func (e enc) bytes(b []byte) enc   { return append(binary.AppendUvarint(e, uint64(len(b))), b...) }
func (e enc) time(t time.Time) enc {
	if t.IsZero() {
		return e.uvarint(0)
	}
	return e.uvarint(uint64(t.UnixNano()))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string   { return string(d.raw()) }
func (d *dec) bytes() []byte { return append([]byte{}, d.raw()...) } // a copy: bbolt's memory is not ours

func (d *dec) time() time.Time {
	v := d.uvarint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v))
}

func (d *dec) uint32() uint32 {
	v := d.uvarint()
	if v > 0xFFFFFFFF {
		d.fail(errors.New("value out of range"))
	}
	return uint32(v)
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// version reads a record's version byte.
func (d *dec) version(what string) {
	if v := d.byte(); d.err == nil && v != recordV1 {
		d.fail(fmt.Errorf("%s record version %d (this mqtt reads %d)", what, v, recordV1))
	}
}

// end reports the decoding error, or bytes left over.
func (d *dec) end() error {
	if d.err == nil && len(d.b) > 0 {
		return fmt.Errorf("%d unexpected bytes at the end of the record", len(d.b))
	}
	return d.err
}

const (
	mRetain = 1 << 2
	mExpiry = 1 << 3
	mProps  = 1 << 4
	mNil    = 1 << 5 // Payload is nil (restored as such)
)

func appendMessage(e enc, m *broker.Message) enc {
	flags := m.QoS & 3
	if m.Retain {
		flags |= mRetain
	}
	if !m.Expiry.IsZero() {
		flags |= mExpiry
	}
	if m.Props != nil {
		flags |= mProps
	}
	if m.Payload == nil {
		flags |= mNil
	}
	e = append(e, recordV1, flags)
	e = e.str(m.Topic).str(m.From)
	if !m.Expiry.IsZero() {
		e = e.time(m.Expiry)
	}
	e = e.bytes(m.Payload)
	if m.Props != nil {
		e = appendProps(e, m.Props)
	}
	return e
}

func (d *dec) message() *broker.Message {
	d.version("message")
	flags := d.byte()
	m := &broker.Message{QoS: flags & 3, Retain: flags&mRetain != 0}
	if m.QoS > 2 {
		d.fail(fmt.Errorf("QoS %d", m.QoS))
	}
	m.Topic = d.str()
	m.From = d.str()
	if flags&mExpiry != 0 {
		m.Expiry = d.time()
	}
	m.Payload = d.bytes()
	if flags&mNil != 0 {
		m.Payload = nil
	}
	if flags&mProps != 0 {
		m.Props = d.props()
	}
	return m
}

const (
	pFormat = 1 << iota
	pExpiry
	pCorrelation
)

// appendProps keeps what a Message's Props may hold: the properties a
// server forwards, and a will's Message Expiry Interval.
func appendProps(e enc, p *packet.Properties) enc {
	var flags byte
	if p.HasPayloadFormat {
		flags |= pFormat
	}
	if p.HasMessageExpiry {
		flags |= pExpiry
	}
	if p.CorrelationData != nil {
		flags |= pCorrelation
	}
	e = append(e, flags)
	if p.HasPayloadFormat {
		e = append(e, p.PayloadFormat)
	}
	if p.HasMessageExpiry {
		e = e.uvarint(uint64(p.MessageExpiry))
	}
	e = e.str(p.ContentType).str(p.ResponseTopic)
	if p.CorrelationData != nil {
		e = e.bytes(p.CorrelationData)
	}
	e = e.uvarint(uint64(len(p.User)))
	for _, u := range p.User {
		e = e.str(u.Key).str(u.Value)
	}
	return e
}

func (d *dec) props() *packet.Properties {
	p := &packet.Properties{}
	flags := d.byte()
	if flags&pFormat != 0 {
		p.PayloadFormat, p.HasPayloadFormat = d.byte(), true
	}
	if flags&pExpiry != 0 {
		p.MessageExpiry, p.HasMessageExpiry = d.uint32(), true
	}
	p.ContentType = d.str()
	p.ResponseTopic = d.str()
	if flags&pCorrelation != 0 {
		p.CorrelationData = d.bytes()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each takes two bytes at least
		d.fail(errShort)
		return p
	}
	for range n {
		p.User = append(p.User, packet.UserProperty{Key: d.str(), Value: d.str()})
	}
	return p
}

const (
	dRetain = 1 << 2
	dDup    = 1 << 3
	dRel    = 1 << 4
	dMsg    = 1 << 5
)

func appendDelivery(e enc, ds *broker.DeliveryState) enc {
	flags := ds.QoS & 3
	if ds.Retain {
		flags |= dRetain
	}
	if ds.Dup {
		flags |= dDup
	}
	if ds.Released {
		flags |= dRel
	}
	if ds.Message != nil {
		flags |= dMsg
	}
	e = append(e, recordV1, flags)
	e = e.uvarint(uint64(ds.PacketID)).uvarint(uint64(len(ds.SubIDs)))
	for _, id := range ds.SubIDs {
		e = e.uvarint(uint64(id))
	}
	e = e.str(ds.Group).str(ds.Filter)
	if ds.Message != nil {
		e = appendMessage(e, ds.Message)
	}
	return e
}

func (d *dec) delivery(seq uint64) *broker.DeliveryState {
	d.version("delivery")
	flags := d.byte()
	ds := &broker.DeliveryState{Seq: seq, QoS: flags & 3, Retain: flags&dRetain != 0, Dup: flags&dDup != 0, Released: flags&dRel != 0}
	if ds.QoS > 2 {
		d.fail(fmt.Errorf("QoS %d", ds.QoS))
	}
	id := d.uvarint()
	if id > 0xFFFF {
		d.fail(fmt.Errorf("packet id %d", id))
	}
	ds.PacketID = uint16(id)
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return ds
	}
	for range n {
		ds.SubIDs = append(ds.SubIDs, d.uint32())
	}
	ds.Group = d.str()
	ds.Filter = d.str()
	if flags&dMsg != 0 {
		ds.Message = d.message()
	}
	return ds
}

const (
	sUsername = 1 << iota
	sWill
)

func appendSession(e enc, st *broker.SessionState) enc {
	var flags byte
	if st.HasUsername {
		flags |= sUsername
	}
	if st.Will != nil {
		flags |= sWill
	}
	e = append(e, recordV1, st.ProtocolVersion, flags)
	e = e.str(st.Username).uvarint(uint64(st.Expiry)).time(st.DisconnectedAt)
	e = e.uvarint(uint64(len(st.Subscriptions)))
	for _, s := range st.Subscriptions {
		o := s.Options
		f := o.QoS & 3
		if o.NoLocal {
			f |= 1 << 2
		}
		if o.RetainAsPublished {
			f |= 1 << 3
		}
		f |= (o.RetainHandling & 3) << 4
		e = append(e.str(s.Filter), f)
		e = e.uvarint(uint64(o.Identifier))
	}
	if st.Will != nil {
		e = appendMessage(e, st.Will)
		e = e.uvarint(uint64(st.WillDelay)).time(st.WillAt)
	}
	return e
}

func (d *dec) session(clientID string) *broker.SessionState {
	d.version("session")
	st := &broker.SessionState{ClientID: clientID}
	st.ProtocolVersion = d.byte()
	flags := d.byte()
	st.Username, st.HasUsername = d.str(), flags&sUsername != 0
	st.Expiry = d.uint32()
	st.DisconnectedAt = d.time()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return st
	}
	for range n {
		s := broker.SubscriptionState{Filter: d.str()}
		f := d.byte()
		s.Options = topic.Options{QoS: f & 3, NoLocal: f&(1<<2) != 0, RetainAsPublished: f&(1<<3) != 0, RetainHandling: f >> 4 & 3}
		s.Options.Identifier = d.uint32()
		st.Subscriptions = append(st.Subscriptions, s)
	}
	if flags&sWill != 0 {
		st.Will = d.message()
		st.WillDelay = d.uint32()
		st.WillAt = d.time()
	}
	return st
}

// Journal records (journal.go) hold a group commit's ops: per op its kind
// byte, then
//
//	OpSetRetained     message
//	OpClearRetained   topic
//	OpPutSession      client id, session
//	OpDeleteSession   client id
//	OpPutDelivery     client id, seq, delivery
//	OpDeleteDelivery  client id, seq
//	OpPutInbound, OpDeleteInbound   client id, packet id
//
// (OpBegin/OpEnd are not written: a record is whole or absent.)
func appendOps(e enc, ops []broker.Op, skip map[*broker.Op]struct{}) enc {
	for i := range ops {
		op := &ops[i]
		if _, ok := skip[op]; ok {
			continue
		}
		switch op.Kind {
		case broker.OpSetRetained:
			e = appendMessage(append(e, byte(op.Kind)), op.Message)
		case broker.OpClearRetained:
			e = append(e, byte(op.Kind)).str(op.Topic)
		case broker.OpPutSession:
			e = appendSession(append(e, byte(op.Kind)).str(op.Session.ClientID), op.Session)
		case broker.OpDeleteSession:
			e = append(e, byte(op.Kind)).str(op.ClientID)
		case broker.OpPutDelivery:
			e = appendDelivery(append(e, byte(op.Kind)).str(op.ClientID).uvarint(op.Delivery.Seq), op.Delivery)
		case broker.OpDeleteDelivery:
			e = append(e, byte(op.Kind)).str(op.ClientID).uvarint(op.Seq)
		case broker.OpPutInbound, broker.OpDeleteInbound:
			e = append(e, byte(op.Kind)).str(op.ClientID).uvarint(uint64(op.PacketID))
		}
	}
	return e
}

// ops decodes a journal record's ops.
func (d *dec) ops() []broker.Op {
	var out []broker.Op
	for d.err == nil && len(d.b) > 0 {
		op := broker.Op{Kind: broker.OpKind(d.byte())}
		switch op.Kind {
		case broker.OpSetRetained:
			op.Message = d.message()
		case broker.OpClearRetained:
			op.Topic = d.str()
		case broker.OpPutSession:
			op.Session = d.session(d.str())
		case broker.OpDeleteSession:
			op.ClientID = d.str()
		case broker.OpPutDelivery:
			op.ClientID = d.str()
			op.Delivery = d.delivery(d.uvarint())
		case broker.OpDeleteDelivery:
			op.ClientID = d.str()
			op.Seq = d.uvarint()
		case broker.OpPutInbound, broker.OpDeleteInbound:
			op.ClientID = d.str()
			id := d.uvarint()
			if id > 0xFFFF {
				d.fail(fmt.Errorf("packet id %d", id))
			}
			op.PacketID = uint16(id)
		default:
			d.fail(fmt.Errorf("unknown operation %d", op.Kind))
		}
		out = append(out, op)
	}
	return out
}
