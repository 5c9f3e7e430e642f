package packet

func (p *Publish) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(PUBLISH)
	}
	if p.QoS > 2 {
		return pl, errf(MalformedPacket, PUBLISH, "QoS %d is not allowed [MQTT-3.3.1-4]", p.QoS)
	}
	if p.Dup && p.QoS == 0 {
		return pl, errf(MalformedPacket, PUBLISH, "DUP flag set with QoS 0 [MQTT-3.3.1-2]")
	}
	if err := checkString(PUBLISH, "topic name", p.Topic); err != nil {
		return pl, err
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		if p.PacketID == 0 {
			return pl, errf(ProtocolError, PUBLISH, "QoS %d with packet identifier 0 [MQTT-2.2.1-3]", p.QoS)
		}
		n += 2
	}
	if version == V5 {
		var err error
		if pl.props, err = p.Properties.size(PUBLISH, kPublish); err != nil {
			return pl, err
		}
		n += propsLen(pl.props)
	}
	pl.body = n
	return pl, nil
}

func (p *Publish) first(byte) byte {
	b := byte(PUBLISH)<<4 | p.QoS<<1
	if p.Dup {
		b |= 0x08
	}
	if p.Retain {
		b |= 0x01
	}
	return b
}

func (p *Publish) appendBody(dst []byte, version byte, pl plan) []byte {
	return append(p.appendHead(dst, version, pl), p.Payload...)
}

// appendHead is the body up to the payload: topic, packet id, properties.
func (p *Publish) appendHead(dst []byte, version byte, pl plan) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if version == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
	}
	return dst
}

// AppendPublishHead encodes p as Append does, without its payload: the
// fixed header (whose remaining length counts the payload), topic, packet
// id and properties. The payload's len(p.Payload) bytes must follow it on
// the wire; a server writing a large payload from where it already is (a
// vectored write) needs no copy of it in its output buffer. Errors are
// Append's.
func AppendPublishHead(dst []byte, p *Publish, version byte) ([]byte, error) {
	pl, err := p.plan(version)
	if err != nil {
		return dst, err
	}
	if pl.body > MaxRemainingLength {
		return dst, errf(PacketTooLarge, PUBLISH, "remaining length %d exceeds 268435455", pl.body)
	}
	dst = appendHeader(dst, p.first(version), pl.body)
	return p.appendHead(dst, version, pl), nil
}

// DecodePublish decodes a PUBLISH into p, which is reset first, so a
// connection's read loop can reuse one Publish and decode with a single
// allocation (the topic string). Payload and binary properties alias body.
func DecodePublish(p *Publish, version, first byte, body []byte) error {
	if Type(first>>4) != PUBLISH {
		return errf(MalformedPacket, Type(first>>4), "not a PUBLISH packet")
	}
	if err := CheckFlags(version, first); err != nil {
		return err
	}
	*p = Publish{}
	return p.decode(version, first, body)
}

// decode parses a PUBLISH (§3.3) whose flags CheckFlags has validated. The
// topic must be valid UTF-8; wildcards and topic aliases are the broker's
// business (mqtt/topic).
func (p *Publish) decode(version, first byte, body []byte) error {
	p.Dup = first&0x08 != 0
	p.QoS = first >> 1 & 3
	p.Retain = first&0x01 != 0
	r := reader{b: body, t: PUBLISH}
	topic, err := r.rawString("topic name")
	if err != nil {
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, err = r.u16("packet identifier"); err != nil {
			return err
		}
		if p.PacketID == 0 {
			return errf(ProtocolError, PUBLISH, "QoS %d with packet identifier 0 [MQTT-2.2.1-3] [MQTT-2.3.1-1]", p.QoS)
		}
	}
	// One string copy holds the topic and every string property.
	end := r.off
	if version == V5 {
		if n, m := parseVarint(body[r.off:]); m > 0 && r.off+m+n <= len(body) {
			end = r.off + m + n
		}
	}
	r.share(end)
	p.Topic = r.s[2 : 2+len(topic)]
	if version == V5 {
		if err := r.properties(&p.Properties, kPublish); err != nil {
			return err
		}
	}
	p.Payload = body[r.off:len(body):len(body)]
	return nil
}
