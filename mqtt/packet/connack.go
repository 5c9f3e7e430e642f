package packet

// ConnackReturnCode maps an MQTT 5 CONNACK reason code to the 3.x return code
// (0 accepted, 1 bad protocol version, 2 identifier rejected, 3 server
// unavailable, 4 bad user name or password, 5 not authorized). Codes with
// no 3.x counterpart map to the nearest one: authentication failures to 4,
// Banned to 5, everything else to 3 (server unavailable).
func ConnackReturnCode(rc ReasonCode) byte {
	switch rc {
	case Success:
		return 0
	case UnsupportedProtocolVersion:
		return 1
	case ClientIdentifierNotValid:
		return 2
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return 4
	case NotAuthorized, Banned:
		return 5
	}
	return 3
}

// connackReasons maps 3.x return codes 0..5 to MQTT 5 reason codes.
var connackReasons = [6]ReasonCode{Success, UnsupportedProtocolVersion, ClientIdentifierNotValid,
	ServerUnavailable, BadUserNameOrPassword, NotAuthorized}

func (p *Connack) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(CONNACK)
	}
	if p.SessionPresent && p.ReasonCode != Success {
		return pl, errf(ProtocolError, CONNACK, "session present with reason code %v [MQTT-3.2.2-4] [MQTT-3.2.2-6]", p.ReasonCode)
	}
	pl.body = 2
	if version == V5 {
		if !connackCodes.has(p.ReasonCode) {
			return pl, errf(ProtocolError, CONNACK, "reason code 0x%02X is not valid in CONNACK", byte(p.ReasonCode))
		}
		var err error
		if pl.props, err = p.Properties.size(CONNACK, kConnack); err != nil {
			return pl, err
		}
		pl.body += propsLen(pl.props)
	}
	return pl, nil
}

func (*Connack) first(byte) byte { return byte(CONNACK) << 4 }

func (p *Connack) appendBody(dst []byte, version byte, pl plan) []byte {
	var flags byte
	if p.SessionPresent && version != V31 {
		flags = 1
	}
	if version != V5 {
		return append(dst, flags, ConnackReturnCode(p.ReasonCode))
	}
	dst = append(dst, flags, byte(p.ReasonCode))
	return p.Properties.appendProps(dst, pl.props)
}

// decode parses a CONNACK (§3.2). 3.x return codes become MQTT 5 reason
// codes; MQTT 3.1's first byte was reserved and is ignored.
func (p *Connack) decode(version byte, body []byte, lenient bool) error {
	r := reader{b: body, t: CONNACK}
	flags, err := r.u8("acknowledge flags")
	if err != nil {
		return err
	}
	code, err := r.u8("reason code")
	if err != nil {
		return err
	}
	if version == V31 {
		flags = 0
	}
	if flags&0xFE != 0 {
		return errf(MalformedPacket, CONNACK, "reserved acknowledge flags are set [MQTT-3.2.2-1]")
	}
	p.SessionPresent = flags == 1
	if version != V5 {
		if code > 5 {
			return errf(MalformedPacket, CONNACK, "return code %d is not defined", code)
		}
		p.ReasonCode = connackReasons[code]
	} else {
		p.ReasonCode = ReasonCode(code)
		if !lenient && !connackCodes.has(p.ReasonCode) {
			return errf(MalformedPacket, CONNACK, "reason code 0x%02X is not valid in CONNACK", code)
		}
		if err := r.properties(&p.Properties, kConnack); err != nil {
			return err
		}
	}
	if p.SessionPresent && p.ReasonCode != Success {
		return errf(ProtocolError, CONNACK, "session present with a non-zero reason code [MQTT-3.2.2-4] [MQTT-3.2.2-6]")
	}
	return r.end()
}
