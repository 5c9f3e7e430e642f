package packet

// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout (§3.4-§3.7): a packet
// identifier, and in MQTT 5 a reason code and properties that may be left
// out. Their structs are identical, so the code works on *Puback and the
// others convert to it.

func ackCodes(t Type, lenient bool) *codeSet {
	if lenient {
		return &anyCode
	}
	if t == PUBACK || t == PUBREC {
		return &pubackCodes
	}
	return &pubrelCodes
}

func planAck(a *Puback, t Type, version byte) (plan, error) {
	var pl plan
	if a == nil {
		return pl, nilPacket(t)
	}
	if a.PacketID == 0 {
		return pl, errf(ProtocolError, t, "packet identifier 0 [MQTT-2.2.1-3]")
	}
	pl.body = 2
	if version != V5 {
		return pl, nil
	}
	if !ackCodes(t, false).has(a.ReasonCode) {
		return pl, errf(ProtocolError, t, "reason code 0x%02X is not valid in %v", byte(a.ReasonCode), t)
	}
	var err error
	if pl.props, err = a.Properties.size(t, kAck); err != nil {
		return pl, err
	}
	switch {
	case pl.props > 0:
		pl.body += 1 + propsLen(pl.props)
	case a.ReasonCode != Success:
		pl.body++
	}
	return pl, nil
}

func appendAck(dst []byte, a *Puback, version byte, pl plan) []byte {
	dst = appendU16(dst, a.PacketID)
	// Short forms [MQTT-3.4.2-1]: the reason code is omitted when it is
	// Success and there are no properties; the property length when there
	// are no properties.
	if version == V5 && pl.body > 2 {
		dst = append(dst, byte(a.ReasonCode))
		if pl.props > 0 {
			dst = a.Properties.appendProps(dst, pl.props)
		}
	}
	return dst
}

func decodeAck(a *Puback, t Type, version byte, body []byte, lenient bool) error {
	r := reader{b: body, t: t}
	var err error
	if a.PacketID, err = r.u16("packet identifier"); err != nil {
		return err
	}
	if a.PacketID == 0 {
		return errf(ProtocolError, t, "packet identifier 0 [MQTT-2.2.1-3] [MQTT-2.3.1-1]")
	}
	if version == V5 && r.left() > 0 {
		// Remaining length 2: Success; 3: a code and no properties.
		code, _ := r.u8("reason code")
		a.ReasonCode = ReasonCode(code)
		if !ackCodes(t, lenient).has(a.ReasonCode) {
			return errf(MalformedPacket, t, "reason code 0x%02X is not valid in %v", code, t)
		}
		if r.left() > 0 {
			if err := r.properties(&a.Properties, kAck); err != nil {
				return err
			}
		}
	}
	return r.end()
}

func (p *Puback) plan(v byte) (plan, error)                     { return planAck(p, PUBACK, v) }
func (p *Puback) first(byte) byte                               { return byte(PUBACK) << 4 }
func (p *Puback) appendBody(dst []byte, v byte, pl plan) []byte { return appendAck(dst, p, v, pl) }

func (p *Pubrec) plan(v byte) (plan, error) { return planAck((*Puback)(p), PUBREC, v) }
func (p *Pubrec) first(byte) byte           { return byte(PUBREC) << 4 }
func (p *Pubrec) appendBody(dst []byte, v byte, pl plan) []byte {
	return appendAck(dst, (*Puback)(p), v, pl)
}

// PUBREL's fixed header flags are 0b0010 [MQTT-3.6.1-1].
func (p *Pubrel) plan(v byte) (plan, error) { return planAck((*Puback)(p), PUBREL, v) }
func (p *Pubrel) first(byte) byte           { return byte(PUBREL)<<4 | 0x02 }
func (p *Pubrel) appendBody(dst []byte, v byte, pl plan) []byte {
	return appendAck(dst, (*Puback)(p), v, pl)
}

func (p *Pubcomp) plan(v byte) (plan, error) { return planAck((*Puback)(p), PUBCOMP, v) }
func (p *Pubcomp) first(byte) byte           { return byte(PUBCOMP) << 4 }
func (p *Pubcomp) appendBody(dst []byte, v byte, pl plan) []byte {
	return appendAck(dst, (*Puback)(p), v, pl)
}
