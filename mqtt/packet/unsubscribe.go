package packet

func (p *Unsubscribe) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(UNSUBSCRIBE)
	}
	if p.PacketID == 0 {
		return pl, errf(ProtocolError, UNSUBSCRIBE, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	if len(p.Filters) == 0 {
		return pl, errf(ProtocolError, UNSUBSCRIBE, "no topic filters [MQTT-3.10.3-2]")
	}
	n := 2
	if version == V5 {
		var err error
		if pl.props, err = p.Properties.size(UNSUBSCRIBE, kUnsubscribe); err != nil {
			return pl, err
		}
		n += propsLen(pl.props)
	}
	for _, f := range p.Filters {
		if err := checkString(UNSUBSCRIBE, "topic filter", f); err != nil {
			return pl, err
		}
		n += 2 + len(f)
	}
	pl.body = n
	return pl, nil
}

// UNSUBSCRIBE's fixed header flags are 0b0010 [MQTT-3.10.1-1].
func (*Unsubscribe) first(byte) byte { return byte(UNSUBSCRIBE)<<4 | 0x02 }

func (p *Unsubscribe) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

// decode parses an UNSUBSCRIBE (§3.10).
func (p *Unsubscribe) decode(version byte, body []byte) error {
	r := reader{b: body, t: UNSUBSCRIBE}
	var err error
	if p.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if p.PacketID == 0 {
		return errf(ProtocolError, UNSUBSCRIBE, "packet identifier 0 [MQTT-2.2.1-3] [MQTT-2.3.1-1]")
	}
	r.share(len(body)) // one string copy for every filter and property
	if version == V5 {
		if err := r.properties(&p.Properties, kUnsubscribe); err != nil {
			return err
		}
	}
	for r.left() > 0 {
		f, err := r.str("topic filter")
		if err != nil {
			return err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return errf(ProtocolError, UNSUBSCRIBE, "no topic filters [MQTT-3.10.3-2]")
	}
	return nil
}

func (p *Unsuback) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(UNSUBACK)
	}
	if p.PacketID == 0 {
		return pl, errf(ProtocolError, UNSUBACK, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	pl.body = 2
	if version != V5 {
		return pl, nil // 3.x UNSUBACK has no payload
	}
	if len(p.ReasonCodes) == 0 {
		return pl, errf(ProtocolError, UNSUBACK, "no reason codes [MQTT-3.11.3-1]")
	}
	for _, rc := range p.ReasonCodes {
		if !unsubackCodes.has(rc) {
			return pl, errf(ProtocolError, UNSUBACK, "reason code 0x%02X is not valid in UNSUBACK", byte(rc))
		}
	}
	var err error
	if pl.props, err = p.Properties.size(UNSUBACK, kUnsuback); err != nil {
		return pl, err
	}
	pl.body += propsLen(pl.props) + len(p.ReasonCodes)
	return pl, nil
}

func (*Unsuback) first(byte) byte { return byte(UNSUBACK) << 4 }

func (p *Unsuback) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
		for _, rc := range p.ReasonCodes {
			dst = append(dst, byte(rc))
		}
	}
	return dst
}

// decode parses an UNSUBACK (§3.11): in 3.x only a packet identifier.
func (p *Unsuback) decode(version byte, body []byte, lenient bool) error {
	r := reader{b: body, t: UNSUBACK}
	var err error
	if p.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if p.PacketID == 0 {
		return errf(ProtocolError, UNSUBACK, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	if version != V5 {
		return r.end()
	}
	if err := r.properties(&p.Properties, kUnsuback); err != nil {
		return err
	}
	codes := r.b[r.off:]
	if len(codes) == 0 {
		return errf(ProtocolError, UNSUBACK, "no reason codes [MQTT-3.11.3-1]")
	}
	p.ReasonCodes = make([]ReasonCode, len(codes))
	for i, c := range codes {
		if !lenient && !unsubackCodes.has(ReasonCode(c)) {
			return errf(MalformedPacket, UNSUBACK, "reason code 0x%02X is not valid in UNSUBACK", c)
		}
		p.ReasonCodes[i] = ReasonCode(c)
	}
	return nil
}
