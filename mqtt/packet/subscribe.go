package packet

func (p *Subscribe) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(SUBSCRIBE)
	}
	if p.PacketID == 0 {
		return pl, errf(ProtocolError, SUBSCRIBE, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	if len(p.Subscriptions) == 0 {
		return pl, errf(ProtocolError, SUBSCRIBE, "no topic filters [MQTT-3.8.3-3]")
	}
	n := 2
	if version == V5 {
		var err error
		if pl.props, err = p.Properties.size(SUBSCRIBE, kSubscribe); err != nil {
			return pl, err
		}
		n += propsLen(pl.props)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := checkString(SUBSCRIBE, "topic filter", s.Filter); err != nil {
			return pl, err
		}
		if s.QoS > 2 {
			return pl, errf(MalformedPacket, SUBSCRIBE, "topic filter %q: QoS %d is not allowed", s.Filter, s.QoS)
		}
		if version == V5 && s.RetainHandling > 2 {
			return pl, errf(ProtocolError, SUBSCRIBE, "topic filter %q: retain handling 3 is not allowed", s.Filter)
		}
		n += 3 + len(s.Filter)
	}
	pl.body = n
	return pl, nil
}

// SUBSCRIBE's fixed header flags are 0b0010 [MQTT-3.8.1-1].
func (*Subscribe) first(byte) byte { return byte(SUBSCRIBE)<<4 | 0x02 }

func (p *Subscribe) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = appendString(dst, s.Filter)
		opts := s.QoS
		if version == V5 {
			if s.NoLocal {
				opts |= 0x04
			}
			if s.RetainAsPublished {
				opts |= 0x08
			}
			opts |= s.RetainHandling << 4
		}
		dst = append(dst, opts)
	}
	return dst
}

// decode parses a SUBSCRIBE (§3.8). Filter syntax (wildcards, shared
// subscriptions) is checked by the broker with mqtt/topic.
func (p *Subscribe) decode(version byte, body []byte) error {
	r := reader{b: body, t: SUBSCRIBE}
	var err error
	if p.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if p.PacketID == 0 {
		return errf(ProtocolError, SUBSCRIBE, "packet identifier 0 [MQTT-2.2.1-3] [MQTT-2.3.1-1]")
	}
	r.share(len(body)) // one string copy for every filter and property
	if version == V5 {
		if err := r.properties(&p.Properties, kSubscribe); err != nil {
			return err
		}
	}
	for r.left() > 0 {
		var s Subscription
		if s.Filter, err = r.str("topic filter"); err != nil {
			return err
		}
		opts, err := r.u8("subscription options")
		if err != nil {
			return err
		}
		s.QoS = opts & 0x03
		if s.QoS == 3 {
			return errf(MalformedPacket, SUBSCRIBE, "topic filter %q: QoS 3 is not allowed [MQTT-3.8.3-4]", s.Filter)
		}
		if version == V5 {
			if opts&0xC0 != 0 {
				return errf(MalformedPacket, SUBSCRIBE, "topic filter %q: reserved subscription option bits are set [MQTT-3.8.3-5]", s.Filter)
			}
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = opts >> 4 & 0x03
			if s.RetainHandling == 3 {
				return errf(ProtocolError, SUBSCRIBE, "topic filter %q: retain handling 3 is not allowed", s.Filter)
			}
		} else if opts&0xFC != 0 {
			return errf(MalformedPacket, SUBSCRIBE, "topic filter %q: reserved bits of the requested QoS byte are set [MQTT-3.8.3-4]", s.Filter)
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return errf(ProtocolError, SUBSCRIBE, "no topic filters [MQTT-3.8.3-3]")
	}
	return nil
}

func (p *Suback) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(SUBACK)
	}
	if p.PacketID == 0 {
		return pl, errf(ProtocolError, SUBACK, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	if len(p.ReasonCodes) == 0 {
		return pl, errf(ProtocolError, SUBACK, "no reason codes [MQTT-3.9.3-1]")
	}
	n := 2 + len(p.ReasonCodes)
	if version == V5 {
		var err error
		if pl.props, err = p.Properties.size(SUBACK, kSuback); err != nil {
			return pl, err
		}
		n += propsLen(pl.props)
	}
	for _, rc := range p.ReasonCodes {
		if (version == V5 && !subackCodes.has(rc)) || (version != V5 && rc > 2 && rc < 0x80) {
			return pl, errf(ProtocolError, SUBACK, "reason code 0x%02X is not valid in SUBACK", byte(rc))
		}
	}
	pl.body = n
	return pl, nil
}

func (*Suback) first(byte) byte { return byte(SUBACK) << 4 }

func (p *Suback) appendBody(dst []byte, version byte, pl plan) []byte {
	dst = appendU16(dst, p.PacketID)
	if version == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
		for _, rc := range p.ReasonCodes {
			dst = append(dst, byte(rc))
		}
		return dst
	}
	for _, rc := range p.ReasonCodes {
		if rc >= 0x80 {
			rc = 0x80 // 3.x knows only Failure
		}
		dst = append(dst, byte(rc))
	}
	return dst
}

// decode parses a SUBACK (§3.9): one code per requested filter; 3.x allows
// only 0, 1, 2 and 0x80 [MQTT-3.9.3-2].
func (p *Suback) decode(version byte, body []byte, lenient bool) error {
	r := reader{b: body, t: SUBACK}
	var err error
	if p.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if p.PacketID == 0 {
		return errf(ProtocolError, SUBACK, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	set := &subackCodes3
	if version == V5 {
		set = &subackCodes
		if err := r.properties(&p.Properties, kSuback); err != nil {
			return err
		}
	}
	if lenient {
		set = &anyCode
	}
	codes := r.b[r.off:]
	if len(codes) == 0 {
		return errf(ProtocolError, SUBACK, "no reason codes [MQTT-3.9.3-1]")
	}
	p.ReasonCodes = make([]ReasonCode, len(codes))
	for i, c := range codes {
		if !set.has(ReasonCode(c)) {
			return errf(MalformedPacket, SUBACK, "reason code 0x%02X is not valid in SUBACK", c)
		}
		p.ReasonCodes[i] = ReasonCode(c)
	}
	return nil
}
