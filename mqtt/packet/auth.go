package packet

func (p *Auth) plan(version byte) (plan, error) {
	if p == nil {
		return plan{}, nilPacket(AUTH)
	}
	if version != V5 {
		return plan{}, errf(ProtocolError, AUTH, "AUTH exists only in MQTT 5")
	}
	return planShort(AUTH, kAuth, p.ReasonCode, &p.Properties, &authCodes)
}

func (*Auth) first(byte) byte { return byte(AUTH) << 4 }

func (p *Auth) appendBody(dst []byte, _ byte, pl plan) []byte {
	return appendShort(dst, p.ReasonCode, &p.Properties, pl)
}

// decode parses an AUTH (§3.15). Remaining length 0 means Success with no
// properties; a reason code alone is accepted as well.
func (p *Auth) decode(body []byte, lenient bool) error {
	codes := &authCodes
	if lenient {
		codes = &anyCode
	}
	return decodeShort(AUTH, kAuth, body, &p.ReasonCode, &p.Properties, codes)
}
