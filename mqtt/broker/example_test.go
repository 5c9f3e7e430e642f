package broker_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A broker in a few lines: listen on a loopback port, serve until the
// context ends.
func Example() {
	opts := broker.DefaultOptions()
	opts.Listeners = []string{"127.0.0.1:0"} // an ephemeral port; ":1883" for every interface
	b, err := broker.New(opts, nil)
	if err != nil {
		panic(err)
	}
	if err := b.Start(context.Background()); err != nil {
		panic(err)
	}
	defer b.Close()
	fmt.Println("listening:", b.Addrs()[0].(*net.TCPAddr).IP)
	// Output: listening: 127.0.0.1
}

// An in-process subscriber: the handler gets what any client publishes,
// with the same routing, retained and QoS rules as a network client.
func ExampleBroker_Subscribe() {
	opts := broker.DefaultOptions()
	opts.Listeners = nil // no network listener needed for this example
	opts.SysInterval = 0
	b, _ := broker.New(opts, nil)
	defer b.Close()

	got := make(chan string, 1)
	sub, err := b.Subscribe("sensors/+/temp", broker.SubscribeOptions{QoS: 1}, func(d broker.Delivery) {
		got <- d.Topic + " = " + string(d.Payload)
	})
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe()

	b.Publish(context.Background(), broker.Message{Topic: "sensors/kitchen/temp", Payload: []byte("21.5"), QoS: 1})
	fmt.Println(<-got)
	// Output: sensors/kitchen/temp = 21.5
}

// passwords is an Authenticator: it decides every CONNECT.
type passwords map[string]string

func (p passwords) Authenticate(_ context.Context, c broker.ConnectInfo) packet.ReasonCode {
	if pw, ok := p[c.Username]; ok && c.HasPassword && pw == string(c.Password) {
		return packet.Success
	}
	return packet.BadUserNameOrPassword // 3.1.1 clients get return code 4
}

// An authentication hook, tried with an in-process client (the same
// engine a network client gets).
func ExampleOptions_authenticator() {
	opts := broker.DefaultOptions()
	opts.Listeners = nil
	opts.SysInterval = 0
	opts.Authenticator = passwords{"alice": "s3cret"}
	b, _ := broker.New(opts, nil)
	defer b.Close()

	for _, pw := range []string{"guess", "s3cret"} {
		acks := make(chan packet.Packet, 1)
		c, _ := b.Attach(broker.LocalConfig{Deliver: func(p packet.Packet) { acks <- p }})
		c.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "alice-1", CleanStart: true,
			UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte(pw)})
		fmt.Printf("%s: %v\n", pw, (<-acks).(*packet.Connack).ReasonCode)
		c.Close()
	}
	// Output:
	// guess: Bad User Name or Password
	// s3cret: Success
}

// A message hook: OnPublish may refuse messages (MQTT 5 publishers get
// the reason code), and OnDrop says why a message went nowhere.
func ExampleHooks() {
	dropped := make(chan string, 1)
	opts := broker.DefaultOptions()
	opts.Listeners = nil
	opts.SysInterval = 0
	opts.Hooks = broker.Hooks{
		OnPublish: func(c broker.ClientInfo, m *broker.Message) packet.ReasonCode {
			if strings.HasPrefix(m.Topic, "admin/") {
				return packet.NotAuthorized
			}
			return packet.Success
		},
		OnDrop: func(e broker.DropEvent) { dropped <- e.Message.Topic + ": " + e.Reason.String() },
	}
	b, _ := broker.New(opts, nil)
	defer b.Close()

	err := b.Publish(context.Background(), broker.Message{Topic: "admin/reboot", Payload: []byte("now")})
	fmt.Println("publish:", err)
	select {
	case d := <-dropped:
		fmt.Println("dropped", d)
	case <-time.After(time.Second):
	}
	// Output:
	// publish: Not authorized
	// dropped admin/reboot: not authorized
}
