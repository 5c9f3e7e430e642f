package packet

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
