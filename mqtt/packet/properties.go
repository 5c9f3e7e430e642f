package packet

import "strings"

// Property identifiers (MQTT 5 §2.2.2.2).
const (
	PropPayloadFormat          byte = 0x01
	PropMessageExpiry          byte = 0x02
	PropContentType            byte = 0x03
	PropResponseTopic          byte = 0x08
	PropCorrelationData        byte = 0x09
	PropSubscriptionIdentifier byte = 0x0B
	PropSessionExpiry          byte = 0x11
	PropAssignedClientID       byte = 0x12
	PropServerKeepAlive        byte = 0x13
	PropAuthMethod             byte = 0x15
	PropAuthData               byte = 0x16
	PropRequestProblemInfo     byte = 0x17
	PropWillDelay              byte = 0x18
	PropRequestResponseInfo    byte = 0x19
	PropResponseInfo           byte = 0x1A
	PropServerReference        byte = 0x1C
	PropReasonString           byte = 0x1F
	PropReceiveMaximum         byte = 0x21
	PropTopicAliasMaximum      byte = 0x22
	PropTopicAlias             byte = 0x23
	PropMaximumQoS             byte = 0x24
	PropRetainAvailable        byte = 0x25
	PropUserProperty           byte = 0x26
	PropMaximumPacketSize      byte = 0x27
	PropWildcardSubAvailable   byte = 0x28
	PropSubIDAvailable         byte = 0x29
	PropSharedSubAvailable     byte = 0x2A
)

// UserProperty is one MQTT 5 User Property (a UTF-8 string pair). Order and
// duplicates are preserved [MQTT-3.3.2-18].
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of a packet. Which ones a packet may
// carry is checked by the codec. Integer and byte properties have a Has*
// flag because zero is a meaningful value; string and binary properties are
// present when non-empty (binary: non-nil).
type Properties struct {
	PayloadFormat    byte // 0x01: 0 unspecified bytes, 1 UTF-8
	HasPayloadFormat bool

	MessageExpiry    uint32 // 0x02: seconds
	HasMessageExpiry bool

	ContentType     string // 0x03
	ResponseTopic   string // 0x08
	CorrelationData []byte // 0x09

	// SubscriptionIDs (0x0B): PUBLISH from the server may carry several;
	// SUBSCRIBE carries at most one. Values are 1..268,435,455.
	SubscriptionIDs []uint32

	SessionExpiry    uint32 // 0x11: seconds; 0xFFFFFFFF never expires
	HasSessionExpiry bool

	AssignedClientID string // 0x12

	ServerKeepAlive    uint16 // 0x13
	HasServerKeepAlive bool

	AuthMethod string // 0x15
	AuthData   []byte // 0x16

	RequestProblemInfo    byte // 0x17
	HasRequestProblemInfo bool

	WillDelay    uint32 // 0x18
	HasWillDelay bool

	RequestResponseInfo    byte // 0x19
	HasRequestResponseInfo bool

	ResponseInfo    string // 0x1A
	ServerReference string // 0x1C
	ReasonString    string // 0x1F

	ReceiveMaximum    uint16 // 0x21: never 0
	HasReceiveMaximum bool

	TopicAliasMaximum    uint16 // 0x22
	HasTopicAliasMaximum bool

	TopicAlias    uint16 // 0x23: never 0
	HasTopicAlias bool

	MaximumQoS    byte // 0x24: 0 or 1
	HasMaximumQoS bool

	RetainAvailable    byte // 0x25: 0 or 1
	HasRetainAvailable bool

	User []UserProperty // 0x26

	MaximumPacketSize    uint32 // 0x27: never 0
	HasMaximumPacketSize bool

	WildcardSubAvailable    byte // 0x28
	HasWildcardSubAvailable bool

	SubIDAvailable    byte // 0x29
	HasSubIDAvailable bool

	SharedSubAvailable    byte // 0x2A
	HasSharedSubAvailable bool
}

// propKind names a property set: which properties a packet (or a CONNECT's
// will) may carry (§2.2.2.2).
type propKind uint8

const (
	kConnect propKind = iota
	kConnack
	kPublish
	kWill
	kAck // PUBACK, PUBREC, PUBREL, PUBCOMP
	kSubscribe
	kSuback
	kUnsubscribe
	kUnsuback
	kDisconnect
	kAuth
)

var kindNames = [...]string{"CONNECT", "CONNACK", "PUBLISH", "CONNECT will properties", "acknowledgement",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"}

func bit(id byte) uint64 { return 1 << id }

// propMasks is the table of §2.2.2.2: the properties each packet may carry.
var propMasks = [...]uint64{
	kConnect: bit(PropSessionExpiry) | bit(PropAuthMethod) | bit(PropAuthData) | bit(PropRequestProblemInfo) |
		bit(PropRequestResponseInfo) | bit(PropReceiveMaximum) | bit(PropTopicAliasMaximum) |
		bit(PropUserProperty) | bit(PropMaximumPacketSize),
	kConnack: bit(PropSessionExpiry) | bit(PropAssignedClientID) | bit(PropServerKeepAlive) | bit(PropAuthMethod) |
		bit(PropAuthData) | bit(PropResponseInfo) | bit(PropServerReference) | bit(PropReasonString) |
		bit(PropReceiveMaximum) | bit(PropTopicAliasMaximum) | bit(PropMaximumQoS) | bit(PropRetainAvailable) |
		bit(PropUserProperty) | bit(PropMaximumPacketSize) | bit(PropWildcardSubAvailable) |
		bit(PropSubIDAvailable) | bit(PropSharedSubAvailable),
	kPublish: bit(PropPayloadFormat) | bit(PropMessageExpiry) | bit(PropContentType) | bit(PropResponseTopic) |
		bit(PropCorrelationData) | bit(PropSubscriptionIdentifier) | bit(PropTopicAlias) | bit(PropUserProperty),
	kWill: bit(PropPayloadFormat) | bit(PropMessageExpiry) | bit(PropContentType) | bit(PropResponseTopic) |
		bit(PropCorrelationData) | bit(PropWillDelay) | bit(PropUserProperty),
	kAck:         bit(PropReasonString) | bit(PropUserProperty),
	kSubscribe:   bit(PropSubscriptionIdentifier) | bit(PropUserProperty),
	kSuback:      bit(PropReasonString) | bit(PropUserProperty),
	kUnsubscribe: bit(PropUserProperty),
	kUnsuback:    bit(PropReasonString) | bit(PropUserProperty),
	kDisconnect:  bit(PropSessionExpiry) | bit(PropServerReference) | bit(PropReasonString) | bit(PropUserProperty),
	kAuth:        bit(PropAuthMethod) | bit(PropAuthData) | bit(PropReasonString) | bit(PropUserProperty),
}

var propNames = [64]string{
	PropPayloadFormat:          "Payload Format Indicator",
	PropMessageExpiry:          "Message Expiry Interval",
	PropContentType:            "Content Type",
	PropResponseTopic:          "Response Topic",
	PropCorrelationData:        "Correlation Data",
	PropSubscriptionIdentifier: "Subscription Identifier",
	PropSessionExpiry:          "Session Expiry Interval",
	PropAssignedClientID:       "Assigned Client Identifier",
	PropServerKeepAlive:        "Server Keep Alive",
	PropAuthMethod:             "Authentication Method",
	PropAuthData:               "Authentication Data",
	PropRequestProblemInfo:     "Request Problem Information",
	PropWillDelay:              "Will Delay Interval",
	PropRequestResponseInfo:    "Request Response Information",
	PropResponseInfo:           "Response Information",
	PropServerReference:        "Server Reference",
	PropReasonString:           "Reason String",
	PropReceiveMaximum:         "Receive Maximum",
	PropTopicAliasMaximum:      "Topic Alias Maximum",
	PropTopicAlias:             "Topic Alias",
	PropMaximumQoS:             "Maximum QoS",
	PropRetainAvailable:        "Retain Available",
	PropUserProperty:           "User Property",
	PropMaximumPacketSize:      "Maximum Packet Size",
	PropWildcardSubAvailable:   "Wildcard Subscription Available",
	PropSubIDAvailable:         "Subscription Identifier Available",
	PropSharedSubAvailable:     "Shared Subscription Available",
}

// PropertyName returns the specification's name of a property identifier,
// or "" for an unknown one.
func PropertyName(id byte) string {
	if id < 64 {
		return propNames[id]
	}
	return ""
}

func notAllowed(t Type, k propKind, id byte) error {
	return errf(MalformedPacket, t, "property %s (0x%02X) is not allowed in %s", propNames[id], id, kindNames[k])
}

func notBoolean(t Type, id byte, v byte) error {
	return errf(ProtocolError, t, "property %s has value %d, must be 0 or 1", propNames[id], v)
}

// properties decodes a property length and the properties that follow
// into p. A property not valid for the packet (or unknown) is a Malformed
// Packet (§2.2.2.2); a second copy of one that may appear once is a
// Protocol Error.
func (r *reader) properties(p *Properties, k propKind) error {
	n, err := r.varint("property length")
	if err != nil {
		return err
	}
	if n > r.left() {
		return errf(MalformedPacket, r.t, "property length %d exceeds the packet", n)
	}
	if n == 0 {
		return nil
	}
	end := r.off + n
	r.share(end)
	pr := reader{b: r.b[:end], s: r.s, off: r.off, t: r.t}
	r.off = end
	allowed := propMasks[k]
	var seen uint64
	for pr.off < end {
		v, err := pr.varint("property identifier")
		if err != nil {
			return err
		}
		if v >= 64 || propNames[v] == "" {
			return errf(MalformedPacket, r.t, "unknown property identifier 0x%02X in %s", v, kindNames[k])
		}
		id := byte(v)
		if allowed&bit(id) == 0 {
			return notAllowed(r.t, k, id)
		}
		if seen&bit(id) != 0 && id != PropUserProperty && (id != PropSubscriptionIdentifier || k != kPublish) {
			return errf(ProtocolError, r.t, "property %s included more than once", propNames[id])
		}
		seen |= bit(id)
		name := propNames[id]
		switch id {
		case PropPayloadFormat:
			if p.PayloadFormat, err = pr.u8(name); err == nil && p.PayloadFormat > 1 {
				return notBoolean(r.t, id, p.PayloadFormat)
			}
			p.HasPayloadFormat = true
		case PropMessageExpiry:
			p.MessageExpiry, err = pr.u32(name)
			p.HasMessageExpiry = true
		case PropContentType:
			p.ContentType, err = pr.str(name)
		case PropResponseTopic:
			if p.ResponseTopic, err = pr.str(name); err == nil && strings.ContainsAny(p.ResponseTopic, "+#") {
				// A Topic Name, so no wildcards [MQTT-3.3.2-14] (and in a will, §3.1.3.2.5).
				return errf(ProtocolError, r.t, "Response Topic %q contains a wildcard", p.ResponseTopic)
			}
		case PropCorrelationData:
			p.CorrelationData, err = pr.binary(name)
		case PropSubscriptionIdentifier:
			var id int
			if id, err = pr.varint(name); err == nil && id == 0 {
				// §3.3.2.3.8, §3.8.2.1.2: a value of 0 is a Protocol Error.
				return errf(ProtocolError, r.t, "Subscription Identifier is 0")
			}
			if p.SubscriptionIDs == nil {
				// Each needs at least 2 bytes: the capacity is bounded by the body.
				p.SubscriptionIDs = make([]uint32, 0, min(pr.left()/2+1, 4))
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(id))
		case PropSessionExpiry:
			p.SessionExpiry, err = pr.u32(name)
			p.HasSessionExpiry = true
		case PropAssignedClientID:
			p.AssignedClientID, err = pr.str(name)
		case PropServerKeepAlive:
			p.ServerKeepAlive, err = pr.u16(name)
			p.HasServerKeepAlive = true
		case PropAuthMethod:
			p.AuthMethod, err = pr.str(name)
		case PropAuthData:
			p.AuthData, err = pr.binary(name)
		case PropRequestProblemInfo:
			if p.RequestProblemInfo, err = pr.u8(name); err == nil && p.RequestProblemInfo > 1 {
				return notBoolean(r.t, id, p.RequestProblemInfo)
			}
			p.HasRequestProblemInfo = true
		case PropWillDelay:
			p.WillDelay, err = pr.u32(name)
			p.HasWillDelay = true
		case PropRequestResponseInfo:
			if p.RequestResponseInfo, err = pr.u8(name); err == nil && p.RequestResponseInfo > 1 {
				return notBoolean(r.t, id, p.RequestResponseInfo)
			}
			p.HasRequestResponseInfo = true
		case PropResponseInfo:
			p.ResponseInfo, err = pr.str(name)
		case PropServerReference:
			p.ServerReference, err = pr.str(name)
		case PropReasonString:
			p.ReasonString, err = pr.str(name)
		case PropReceiveMaximum:
			if p.ReceiveMaximum, err = pr.u16(name); err == nil && p.ReceiveMaximum == 0 {
				return errf(ProtocolError, r.t, "Receive Maximum is 0")
			}
			p.HasReceiveMaximum = true
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum, err = pr.u16(name)
			p.HasTopicAliasMaximum = true
		case PropTopicAlias:
			if p.TopicAlias, err = pr.u16(name); err == nil && p.TopicAlias == 0 {
				return errf(TopicAliasInvalid, r.t, "Topic Alias is 0 [MQTT-3.3.2-8]")
			}
			p.HasTopicAlias = true
		case PropMaximumQoS:
			if p.MaximumQoS, err = pr.u8(name); err == nil && p.MaximumQoS > 1 {
				return notBoolean(r.t, id, p.MaximumQoS)
			}
			p.HasMaximumQoS = true
		case PropRetainAvailable:
			if p.RetainAvailable, err = pr.u8(name); err == nil && p.RetainAvailable > 1 {
				return notBoolean(r.t, id, p.RetainAvailable)
			}
			p.HasRetainAvailable = true
		case PropUserProperty:
			var u UserProperty
			if u.Key, err = pr.str("User Property name"); err == nil {
				u.Value, err = pr.str("User Property value")
			}
			if p.User == nil {
				// Each needs at least 5 bytes: the capacity is bounded by the body.
				p.User = make([]UserProperty, 0, min(pr.left()/5+1, 8))
			}
			p.User = append(p.User, u)
		case PropMaximumPacketSize:
			if p.MaximumPacketSize, err = pr.u32(name); err == nil && p.MaximumPacketSize == 0 {
				return errf(ProtocolError, r.t, "Maximum Packet Size is 0")
			}
			p.HasMaximumPacketSize = true
		case PropWildcardSubAvailable:
			if p.WildcardSubAvailable, err = pr.u8(name); err == nil && p.WildcardSubAvailable > 1 {
				return notBoolean(r.t, id, p.WildcardSubAvailable)
			}
			p.HasWildcardSubAvailable = true
		case PropSubIDAvailable:
			if p.SubIDAvailable, err = pr.u8(name); err == nil && p.SubIDAvailable > 1 {
				return notBoolean(r.t, id, p.SubIDAvailable)
			}
			p.HasSubIDAvailable = true
		case PropSharedSubAvailable:
			if p.SharedSubAvailable, err = pr.u8(name); err == nil && p.SharedSubAvailable > 1 {
				return notBoolean(r.t, id, p.SharedSubAvailable)
			}
			p.HasSharedSubAvailable = true
		}
		if err != nil {
			return err
		}
	}
	if p.AuthData != nil && p.AuthMethod == "" {
		// §3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3.
		return errf(ProtocolError, r.t, "Authentication Data without Authentication Method")
	}
	return nil
}

// ValidatePublish checks p as the properties of a PUBLISH (or a will):
// only properties a PUBLISH may carry, UTF-8 strings and user properties
// well formed, Payload Format 0 or 1, no wildcard in the Response Topic
// (§3.3.2.3). It returns the *Error the encoder would; a nil p is valid.
func (p *Properties) ValidatePublish() error {
	if p == nil {
		return nil
	}
	_, err := p.size(PUBLISH, kPublish)
	return err
}

// size validates p for property set k and returns the length of its
// encoded properties, not counting the property length itself.
func (p *Properties) size(t Type, k propKind) (int, error) {
	allowed := propMasks[k]
	n := 0
	var err error
	if p.HasPayloadFormat {
		if allowed&bit(PropPayloadFormat) == 0 {
			return 0, notAllowed(t, k, PropPayloadFormat)
		}
		if p.PayloadFormat > 1 {
			return 0, notBoolean(t, PropPayloadFormat, p.PayloadFormat)
		}
		n += 2
	}
	if p.HasMessageExpiry {
		if allowed&bit(PropMessageExpiry) == 0 {
			return 0, notAllowed(t, k, PropMessageExpiry)
		}
		n += 5
	}
	if n, err = p.sizeString(t, k, n, PropContentType, p.ContentType); err != nil {
		return 0, err
	}
	if n, err = p.sizeString(t, k, n, PropResponseTopic, p.ResponseTopic); err != nil {
		return 0, err
	}
	if strings.ContainsAny(p.ResponseTopic, "+#") {
		return 0, errf(ProtocolError, t, "Response Topic %q contains a wildcard", p.ResponseTopic) // [MQTT-3.3.2-14]
	}
	if p.CorrelationData != nil {
		if allowed&bit(PropCorrelationData) == 0 {
			return 0, notAllowed(t, k, PropCorrelationData)
		}
		if err := checkBinary(t, "Correlation Data", p.CorrelationData); err != nil {
			return 0, err
		}
		n += 3 + len(p.CorrelationData)
	}
	if len(p.SubscriptionIDs) > 0 {
		if allowed&bit(PropSubscriptionIdentifier) == 0 {
			return 0, notAllowed(t, k, PropSubscriptionIdentifier)
		}
		if k != kPublish && len(p.SubscriptionIDs) > 1 {
			return 0, errf(ProtocolError, t, "more than one Subscription Identifier")
		}
		for _, id := range p.SubscriptionIDs {
			if id == 0 || id > MaxRemainingLength {
				return 0, errf(ProtocolError, t, "Subscription Identifier %d is outside 1..268435455", id)
			}
			n += 1 + VarintSize(int(id))
		}
	}
	if p.HasSessionExpiry {
		if allowed&bit(PropSessionExpiry) == 0 {
			return 0, notAllowed(t, k, PropSessionExpiry)
		}
		n += 5
	}
	if n, err = p.sizeString(t, k, n, PropAssignedClientID, p.AssignedClientID); err != nil {
		return 0, err
	}
	if p.HasServerKeepAlive {
		if allowed&bit(PropServerKeepAlive) == 0 {
			return 0, notAllowed(t, k, PropServerKeepAlive)
		}
		n += 3
	}
	if n, err = p.sizeString(t, k, n, PropAuthMethod, p.AuthMethod); err != nil {
		return 0, err
	}
	if p.AuthData != nil {
		if allowed&bit(PropAuthData) == 0 {
			return 0, notAllowed(t, k, PropAuthData)
		}
		if p.AuthMethod == "" {
			return 0, errf(ProtocolError, t, "Authentication Data without Authentication Method")
		}
		if err := checkBinary(t, "Authentication Data", p.AuthData); err != nil {
			return 0, err
		}
		n += 3 + len(p.AuthData)
	}
	if p.HasRequestProblemInfo {
		if allowed&bit(PropRequestProblemInfo) == 0 {
			return 0, notAllowed(t, k, PropRequestProblemInfo)
		}
		if p.RequestProblemInfo > 1 {
			return 0, notBoolean(t, PropRequestProblemInfo, p.RequestProblemInfo)
		}
		n += 2
	}
	if p.HasWillDelay {
		if allowed&bit(PropWillDelay) == 0 {
			return 0, notAllowed(t, k, PropWillDelay)
		}
		n += 5
	}
	if p.HasRequestResponseInfo {
		if allowed&bit(PropRequestResponseInfo) == 0 {
			return 0, notAllowed(t, k, PropRequestResponseInfo)
		}
		if p.RequestResponseInfo > 1 {
			return 0, notBoolean(t, PropRequestResponseInfo, p.RequestResponseInfo)
		}
		n += 2
	}
	if n, err = p.sizeString(t, k, n, PropResponseInfo, p.ResponseInfo); err != nil {
		return 0, err
	}
	if n, err = p.sizeString(t, k, n, PropServerReference, p.ServerReference); err != nil {
		return 0, err
	}
	if n, err = p.sizeString(t, k, n, PropReasonString, p.ReasonString); err != nil {
		return 0, err
	}
	if p.HasReceiveMaximum {
		if allowed&bit(PropReceiveMaximum) == 0 {
			return 0, notAllowed(t, k, PropReceiveMaximum)
		}
		if p.ReceiveMaximum == 0 {
			return 0, errf(ProtocolError, t, "Receive Maximum is 0")
		}
		n += 3
	}
	if p.HasTopicAliasMaximum {
		if allowed&bit(PropTopicAliasMaximum) == 0 {
			return 0, notAllowed(t, k, PropTopicAliasMaximum)
		}
		n += 3
	}
	if p.HasTopicAlias {
		if allowed&bit(PropTopicAlias) == 0 {
			return 0, notAllowed(t, k, PropTopicAlias)
		}
		if p.TopicAlias == 0 {
			return 0, errf(TopicAliasInvalid, t, "Topic Alias is 0 [MQTT-3.3.2-8]")
		}
		n += 3
	}
	if n, err = p.sizeFlag(t, k, n, PropMaximumQoS, p.HasMaximumQoS, p.MaximumQoS); err != nil {
		return 0, err
	}
	if n, err = p.sizeFlag(t, k, n, PropRetainAvailable, p.HasRetainAvailable, p.RetainAvailable); err != nil {
		return 0, err
	}
	if len(p.User) > 0 {
		if allowed&bit(PropUserProperty) == 0 {
			return 0, notAllowed(t, k, PropUserProperty)
		}
		for _, u := range p.User {
			if err := checkString(t, "User Property name", u.Key); err != nil {
				return 0, err
			}
			if err := checkString(t, "User Property value", u.Value); err != nil {
				return 0, err
			}
			n += 5 + len(u.Key) + len(u.Value)
		}
	}
	if p.HasMaximumPacketSize {
		if allowed&bit(PropMaximumPacketSize) == 0 {
			return 0, notAllowed(t, k, PropMaximumPacketSize)
		}
		if p.MaximumPacketSize == 0 {
			return 0, errf(ProtocolError, t, "Maximum Packet Size is 0")
		}
		n += 5
	}
	if n, err = p.sizeFlag(t, k, n, PropWildcardSubAvailable, p.HasWildcardSubAvailable, p.WildcardSubAvailable); err != nil {
		return 0, err
	}
	if n, err = p.sizeFlag(t, k, n, PropSubIDAvailable, p.HasSubIDAvailable, p.SubIDAvailable); err != nil {
		return 0, err
	}
	if n, err = p.sizeFlag(t, k, n, PropSharedSubAvailable, p.HasSharedSubAvailable, p.SharedSubAvailable); err != nil {
		return 0, err
	}
	if n > MaxRemainingLength {
		return 0, errf(PacketTooLarge, t, "properties are %d bytes", n)
	}
	return n, nil
}

func (p *Properties) sizeString(t Type, k propKind, n int, id byte, s string) (int, error) {
	if s == "" {
		return n, nil
	}
	if propMasks[k]&bit(id) == 0 {
		return 0, notAllowed(t, k, id)
	}
	if err := checkString(t, propNames[id], s); err != nil {
		return 0, err
	}
	return n + 3 + len(s), nil
}

func (p *Properties) sizeFlag(t Type, k propKind, n int, id byte, has bool, v byte) (int, error) {
	if !has {
		return n, nil
	}
	if propMasks[k]&bit(id) == 0 {
		return 0, notAllowed(t, k, id)
	}
	if v > 1 {
		return 0, notBoolean(t, id, v)
	}
	return n + 2, nil
}

// appendProps writes the property length n (from size) and the properties
// in identifier order. p must have been validated by size.
func (p *Properties) appendProps(dst []byte, n int) []byte {
	dst = AppendVarint(dst, n)
	if n == 0 {
		return dst
	}
	if p.HasPayloadFormat {
		dst = append(dst, PropPayloadFormat, p.PayloadFormat)
	}
	if p.HasMessageExpiry {
		dst = appendU32(append(dst, PropMessageExpiry), p.MessageExpiry)
	}
	if p.ContentType != "" {
		dst = appendString(append(dst, PropContentType), p.ContentType)
	}
	if p.ResponseTopic != "" {
		dst = appendString(append(dst, PropResponseTopic), p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		dst = appendBinary(append(dst, PropCorrelationData), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		dst = AppendVarint(append(dst, PropSubscriptionIdentifier), int(id))
	}
	if p.HasSessionExpiry {
		dst = appendU32(append(dst, PropSessionExpiry), p.SessionExpiry)
	}
	if p.AssignedClientID != "" {
		dst = appendString(append(dst, PropAssignedClientID), p.AssignedClientID)
	}
	if p.HasServerKeepAlive {
		dst = appendU16(append(dst, PropServerKeepAlive), p.ServerKeepAlive)
	}
	if p.AuthMethod != "" {
		dst = appendString(append(dst, PropAuthMethod), p.AuthMethod)
	}
	if p.AuthData != nil {
		dst = appendBinary(append(dst, PropAuthData), p.AuthData)
	}
	if p.HasRequestProblemInfo {
		dst = append(dst, PropRequestProblemInfo, p.RequestProblemInfo)
	}
	if p.HasWillDelay {
		dst = appendU32(append(dst, PropWillDelay), p.WillDelay)
	}
	if p.HasRequestResponseInfo {
		dst = append(dst, PropRequestResponseInfo, p.RequestResponseInfo)
	}
	if p.ResponseInfo != "" {
		dst = appendString(append(dst, PropResponseInfo), p.ResponseInfo)
	}
	if p.ServerReference != "" {
		dst = appendString(append(dst, PropServerReference), p.ServerReference)
	}
	if p.ReasonString != "" {
		dst = appendString(append(dst, PropReasonString), p.ReasonString)
	}
	if p.HasReceiveMaximum {
		dst = appendU16(append(dst, PropReceiveMaximum), p.ReceiveMaximum)
	}
	if p.HasTopicAliasMaximum {
		dst = appendU16(append(dst, PropTopicAliasMaximum), p.TopicAliasMaximum)
	}
	if p.HasTopicAlias {
		dst = appendU16(append(dst, PropTopicAlias), p.TopicAlias)
	}
	if p.HasMaximumQoS {
		dst = append(dst, PropMaximumQoS, p.MaximumQoS)
	}
	if p.HasRetainAvailable {
		dst = append(dst, PropRetainAvailable, p.RetainAvailable)
	}
	for _, u := range p.User {
		dst = appendString(append(dst, PropUserProperty), u.Key)
		dst = appendString(dst, u.Value)
	}
	if p.HasMaximumPacketSize {
		dst = appendU32(append(dst, PropMaximumPacketSize), p.MaximumPacketSize)
	}
	if p.HasWildcardSubAvailable {
		dst = append(dst, PropWildcardSubAvailable, p.WildcardSubAvailable)
	}
	if p.HasSubIDAvailable {
		dst = append(dst, PropSubIDAvailable, p.SubIDAvailable)
	}
	if p.HasSharedSubAvailable {
		dst = append(dst, PropSharedSubAvailable, p.SharedSubAvailable)
	}
	return dst
}

// Size returns the number of bytes p occupies in a packet of type t, its
// property length included, or an error if p is not valid for t. Only
// meaningful for MQTT 5; will properties are sized with Connect's Size.
func (p *Properties) Size(t Type) (int, error) {
	k, ok := kindOf(t)
	if !ok {
		return 0, errf(MalformedPacket, t, "packet type carries no properties")
	}
	n, err := p.size(t, k)
	if err != nil {
		return 0, err
	}
	return VarintSize(n) + n, nil
}

func kindOf(t Type) (propKind, bool) {
	switch t {
	case CONNECT:
		return kConnect, true
	case CONNACK:
		return kConnack, true
	case PUBLISH:
		return kPublish, true
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return kAck, true
	case SUBSCRIBE:
		return kSubscribe, true
	case SUBACK:
		return kSuback, true
	case UNSUBSCRIBE:
		return kUnsubscribe, true
	case UNSUBACK:
		return kUnsuback, true
	case DISCONNECT:
		return kDisconnect, true
	case AUTH:
		return kAuth, true
	}
	return 0, false
}

// IsZero reports whether no property is set, so that the MQTT 5 short
// forms of the acknowledgement packets apply.
func (p *Properties) IsZero() bool {
	return !p.HasPayloadFormat && !p.HasMessageExpiry && p.ContentType == "" && p.ResponseTopic == "" &&
		p.CorrelationData == nil && len(p.SubscriptionIDs) == 0 && !p.HasSessionExpiry &&
		p.AssignedClientID == "" && !p.HasServerKeepAlive && p.AuthMethod == "" && p.AuthData == nil &&
		!p.HasRequestProblemInfo && !p.HasWillDelay && !p.HasRequestResponseInfo && p.ResponseInfo == "" &&
		p.ServerReference == "" && p.ReasonString == "" && !p.HasReceiveMaximum && !p.HasTopicAliasMaximum &&
		!p.HasTopicAlias && !p.HasMaximumQoS && !p.HasRetainAvailable && len(p.User) == 0 &&
		!p.HasMaximumPacketSize && !p.HasWildcardSubAvailable && !p.HasSubIDAvailable && !p.HasSharedSubAvailable
}
