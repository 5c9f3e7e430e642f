package packet

// level returns the protocol level to encode: the packet's own, else the
// connection's.
func (p *Connect) level(version byte) byte {
	if p.ProtocolVersion != 0 {
		return p.ProtocolVersion
	}
	return version
}

func protocolName(level byte) string {
	if level == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func supportedProtocol(name string, level byte) bool {
	return (name == "MQTT" && (level == V311 || level == V5)) || (name == "MQIsdp" && level == V31)
}

func (p *Connect) flags() (user, pass bool) {
	return p.UsernameFlag || p.Username != "", p.PasswordFlag || p.Password != nil
}

func (p *Connect) plan(version byte) (plan, error) {
	var pl plan
	if p == nil {
		return pl, nilPacket(CONNECT)
	}
	lvl := p.level(version)
	name := p.ProtocolName
	if name == "" {
		name = protocolName(lvl)
	}
	if !supportedProtocol(name, lvl) {
		return pl, errf(UnsupportedProtocolVersion, CONNECT, "protocol %q level %d is not supported", name, lvl)
	}
	n := 2 + len(name) + 1 + 1 + 2
	var err error
	if lvl == V5 {
		if pl.props, err = p.Properties.size(CONNECT, kConnect); err != nil {
			return pl, err
		}
		n += propsLen(pl.props)
	}
	if err := checkString(CONNECT, "client identifier", p.ClientID); err != nil {
		return pl, err
	}
	n += 2 + len(p.ClientID)
	if p.WillQoS > 2 {
		return pl, errf(MalformedPacket, CONNECT, "will QoS %d is not allowed [MQTT-3.1.2-14]", p.WillQoS)
	}
	if p.WillFlag {
		if lvl == V5 {
			if pl.willProps, err = p.WillProperties.size(CONNECT, kWill); err != nil {
				return pl, err
			}
			n += propsLen(pl.willProps)
		}
		if err := checkString(CONNECT, "will topic", p.WillTopic); err != nil {
			return pl, err
		}
		if err := checkBinary(CONNECT, "will payload", p.WillPayload); err != nil {
			return pl, err
		}
		n += 4 + len(p.WillTopic) + len(p.WillPayload)
	} else if p.WillQoS != 0 || p.WillRetain || p.WillTopic != "" || p.WillPayload != nil {
		return pl, errf(MalformedPacket, CONNECT, "will QoS, retain, topic or payload set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]")
	}
	user, pass := p.flags()
	if user {
		if err := checkString(CONNECT, "user name", p.Username); err != nil {
			return pl, err
		}
		n += 2 + len(p.Username)
	}
	if pass {
		if lvl != V5 && !user {
			return pl, errf(MalformedPacket, CONNECT, "password without user name [MQTT-3.1.2-22]")
		}
		if err := checkBinary(CONNECT, "password", p.Password); err != nil {
			return pl, err
		}
		n += 2 + len(p.Password)
	}
	pl.body = n
	return pl, nil
}

func (*Connect) first(byte) byte { return byte(CONNECT) << 4 }

func (p *Connect) appendBody(dst []byte, version byte, pl plan) []byte {
	lvl := p.level(version)
	name := p.ProtocolName
	if name == "" {
		name = protocolName(lvl)
	}
	user, pass := p.flags()
	var flags byte
	if p.CleanStart {
		flags |= 0x02
	}
	if p.WillFlag {
		flags |= 0x04 | p.WillQoS<<3
		if p.WillRetain {
			flags |= 0x20
		}
	}
	if pass {
		flags |= 0x40
	}
	if user {
		flags |= 0x80
	}
	dst = appendString(dst, name)
	dst = append(dst, lvl, flags)
	dst = appendU16(dst, p.KeepAlive)
	if lvl == V5 {
		dst = p.Properties.appendProps(dst, pl.props)
	}
	dst = appendString(dst, p.ClientID)
	if p.WillFlag {
		if lvl == V5 {
			dst = p.WillProperties.appendProps(dst, pl.willProps)
		}
		dst = appendString(dst, p.WillTopic)
		dst = appendBinary(dst, p.WillPayload)
	}
	if user {
		dst = appendString(dst, p.Username)
	}
	if pass {
		dst = appendBinary(dst, p.Password)
	}
	return dst
}

// decode parses a CONNECT body (§3.1). The protocol name and level decide
// the version of everything that follows.
func (p *Connect) decode(body []byte) error {
	r := reader{b: body, t: CONNECT}
	name, err := r.binary("protocol name")

	if err != nil {
		return err
	}
	level, err := r.u8("protocol level")
	if err != nil {
		return err
	}
	// [MQTT-3.1.2-1] [MQTT-3.1.2-2]: an unknown protocol name or level is
	// answered with CONNACK 0x01 / 0x84 Unsupported Protocol Version.
	switch {
	case string(name) == "MQTT" && (level == V311 || level == V5):
		p.ProtocolName = "MQTT"
	case string(name) == "MQIsdp" && level == V31:
		p.ProtocolName = "MQIsdp"
	default:
		return errf(UnsupportedProtocolVersion, CONNECT, "protocol %q level %d is not supported [MQTT-3.1.2-2]", name, level)
	}
	p.ProtocolVersion = level
	// One string copy holds the client identifier, will topic, user name
	// and string properties; binary fields alias body.
	r.share(len(body))
	flags, err := r.u8("connect flags")
	if err != nil {
		return err
	}
	if flags&0x01 != 0 {
		return errf(MalformedPacket, CONNECT, "reserved connect flag is set [MQTT-3.1.2-3]")
	}
	p.CleanStart = flags&0x02 != 0
	p.WillFlag = flags&0x04 != 0
	p.WillQoS = flags >> 3 & 3
	p.WillRetain = flags&0x20 != 0
	p.PasswordFlag = flags&0x40 != 0
	p.UsernameFlag = flags&0x80 != 0
	if p.WillQoS == 3 {
		return errf(MalformedPacket, CONNECT, "will QoS 3 is not allowed [MQTT-3.1.2-14]")
	}
	if !p.WillFlag && (p.WillQoS != 0 || p.WillRetain) {
		return errf(MalformedPacket, CONNECT, "will QoS or will retain set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]")
	}
	if level != V5 && p.PasswordFlag && !p.UsernameFlag {
		// MQTT 5 allows a password without a user name (§3.1.2.9).
		return errf(MalformedPacket, CONNECT, "password flag set without user name flag [MQTT-3.1.2-22]")
	}
	if p.KeepAlive, err = r.u16("keep alive"); err != nil {
		return err
	}
	if level == V5 {
		if err := r.properties(&p.Properties, kConnect); err != nil {
			return err
		}
	}
	if p.ClientID, err = r.str("client identifier"); err != nil {
		return err
	}
	if p.WillFlag {
		if level == V5 {
			if err := r.properties(&p.WillProperties, kWill); err != nil {
				return err
			}
		}
		if p.WillTopic, err = r.str("will topic"); err != nil {
			return err
		}
		if p.WillPayload, err = r.binary("will payload"); err != nil {
			return err
		}
	}
	if p.UsernameFlag {
		if p.Username, err = r.str("user name"); err != nil {
			return err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = r.binary("password"); err != nil {
			return err
		}
	}
	return r.end()
}
