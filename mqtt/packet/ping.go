package packet

// PINGREQ and PINGRESP have no variable header and no payload (§3.12, §3.13).

func decodeEmpty(t Type, body []byte) error {
	if len(body) != 0 {
		return errf(MalformedPacket, t, "remaining length is %d, must be 0", len(body))
	}
	return nil
}

func (p *Pingreq) plan(byte) (plan, error) {
	if p == nil {
		return plan{}, nilPacket(PINGREQ)
	}
	return plan{}, nil
}
func (*Pingreq) first(byte) byte                              { return byte(PINGREQ) << 4 }
func (*Pingreq) appendBody(dst []byte, _ byte, _ plan) []byte { return dst }

func (p *Pingresp) plan(byte) (plan, error) {
	if p == nil {
		return plan{}, nilPacket(PINGRESP)
	}
	return plan{}, nil
}
func (*Pingresp) first(byte) byte                              { return byte(PINGRESP) << 4 }
func (*Pingresp) appendBody(dst []byte, _ byte, _ plan) []byte { return dst }
