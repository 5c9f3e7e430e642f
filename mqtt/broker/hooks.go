package broker

import (
	"context"
	"net"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// ClientInfo identifies a client to the authentication and authorization
// hooks.
type ClientInfo struct {
	ClientID        string
	Username        string
	Remote          net.Addr
	Listener        string // local port
	HasUsername     bool
	ProtocolVersion byte // packet.V31, V311 or V5
}

// ConnectInfo is what a CONNECT presents for authentication.
type ConnectInfo struct {
	ClientInfo
	Password    []byte
	HasPassword bool
}

// Authenticator decides whether a CONNECT is accepted. It returns
// packet.Success or the CONNACK reason to refuse with (e.g.
// BadUserNameOrPassword, NotAuthorized); 3.x clients get the matching
// return code.
type Authenticator interface {
	Authenticate(ctx context.Context, info ConnectInfo) packet.ReasonCode
}

// ConnAuthenticator is implemented by an Authenticator that needs the
// network connection itself, e.g. for the TLS client certificate
// (listener.PeerIdentity, for use_identity_as_username). The broker calls
// AuthenticateConn instead of Authenticate; nc is nil for plain TCP and
// unix-socket connections on Linux, which the event loop serves from the
// bare descriptor (info.Remote has the address). It may set info.Username and
// info.HasUsername: when it accepts the client, the broker uses them from
// then on, in every Authorizer call and in the client's ClientInfo.
type ConnAuthenticator interface {
	Authenticator
	AuthenticateConn(ctx context.Context, nc net.Conn, info *ConnectInfo) packet.ReasonCode
}

// EnhancedAuthenticator is implemented by an Authenticator that supports
// MQTT 5 enhanced authentication (§4.12): CONNECT with an Authentication
// Method, then AUTH packets, and re-authentication.
//
// AuthStep is called with the Authentication Data of the CONNECT (or of a
// re-authenticating AUTH 0x19) and of every AUTH 0x18 the client sends.
// It returns the data for the server's reply and Success when the client
// is authenticated, ContinueAuthentication to send AUTH 0x18 and wait for
// the client, or a reason code to refuse (BadAuthenticationMethod,
// NotAuthorized, ...). state is kept per connection between steps.
type EnhancedAuthenticator interface {
	Authenticator
	AuthStep(ctx context.Context, info ConnectInfo, method string, data []byte, state *any) ([]byte, packet.ReasonCode)
}

// Authorizer decides what a connected client may do. CanRead is checked
// per delivery, so a subscription may be granted yet deliver nothing,
// as with Mosquitto's ACLs.
type Authorizer interface {
	CanPublish(ctx context.Context, c ClientInfo, topic string, qos byte, retain bool) bool
	CanSubscribe(ctx context.Context, c ClientInfo, filter string) bool
	CanRead(ctx context.Context, c ClientInfo, topic string) bool
}

// AllowAll is the default Authenticator and Authorizer.
type AllowAll struct{}

func (AllowAll) Authenticate(context.Context, ConnectInfo) packet.ReasonCode { return packet.Success }
func (AllowAll) CanPublish(context.Context, ClientInfo, string, byte, bool) bool {
	return true
}
func (AllowAll) CanSubscribe(context.Context, ClientInfo, string) bool { return true }
func (AllowAll) CanRead(context.Context, ClientInfo, string) bool      { return true }
