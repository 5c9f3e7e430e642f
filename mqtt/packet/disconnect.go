package packet

// planShort sizes a DISCONNECT or AUTH body: MQTT 5 leaves out the reason
// code and properties when the code is 0 and there are no properties
// (§3.14.2.1, §3.15.2.1), and the property length when there are no
// properties (DISCONNECT only, §3.14.2.2.1).
func planShort(t Type, k propKind, rc ReasonCode, props *Properties, codes *codeSet) (plan, error) {
	var pl plan
	if !codes.has(rc) {
		return pl, errf(ProtocolError, t, "reason code 0x%02X is not valid in %v", byte(rc), t)
	}
	var err error
	if pl.props, err = props.size(t, k); err != nil {
		return pl, err
	}
	switch {
	case pl.props > 0 || (t == AUTH && rc != Success):
		pl.body = 1 + propsLen(pl.props)
	case rc != Success:
		pl.body = 1
	}
	return pl, nil
}

func appendShort(dst []byte, rc ReasonCode, props *Properties, pl plan) []byte {
	if pl.body == 0 {
		return dst
	}
	dst = append(dst, byte(rc))
	if pl.body > 1 {
		dst = props.appendProps(dst, pl.props)
	}
	return dst
}

func decodeShort(t Type, k propKind, body []byte, rc *ReasonCode, props *Properties, codes *codeSet) error {
	if len(body) == 0 {
		return nil
	}
	r := reader{b: body, t: t}
	code, _ := r.u8("reason code")
	*rc = ReasonCode(code)
	if !codes.has(*rc) {
		return errf(MalformedPacket, t, "reason code 0x%02X is not valid in %v", code, t)
	}
	if r.left() > 0 {
		if err := r.properties(props, k); err != nil {
			return err
		}
	}
	return r.end()
}

func (p *Disconnect) plan(version byte) (plan, error) {
	if p == nil {
		return plan{}, nilPacket(DISCONNECT)
	}
	if version != V5 {
		return plan{}, nil // 3.x DISCONNECT has no body
	}
	return planShort(DISCONNECT, kDisconnect, p.ReasonCode, &p.Properties, &disconnectCodes)
}

func (*Disconnect) first(byte) byte { return byte(DISCONNECT) << 4 }

func (p *Disconnect) appendBody(dst []byte, _ byte, pl plan) []byte {
	return appendShort(dst, p.ReasonCode, &p.Properties, pl)
}

// decode parses a DISCONNECT (§3.14); in 3.x it must be empty.
func (p *Disconnect) decode(version byte, body []byte, lenient bool) error {
	if version != V5 {
		return decodeEmpty(DISCONNECT, body)
	}
	codes := &disconnectCodes
	if lenient {
		codes = &anyCode
	}
	return decodeShort(DISCONNECT, kDisconnect, body, &p.ReasonCode, &p.Properties, codes)
}
