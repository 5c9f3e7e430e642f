package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
	ucli "github.com/urfave/cli/v2"
)

// exitTimedOut is mosquitto_sub's exit code when -W expires (MOSQ_ERR_TIMEOUT).
const exitTimedOut = 27

// subCommand is `mqtt sub` (and `mosquitto_sub`): subscribe and print messages.
func subCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringSliceFlag{Name: "topic", Aliases: []string{"t"}, Usage: "subscribe to `FILTER` (repeatable)"},
		&ucli.StringSliceFlag{Name: "filter-out", Aliases: []string{"T"}, Usage: "do not print messages on topics matching `FILTER` (repeatable)"},
		&ucli.StringSliceFlag{Name: "unsubscribe", Aliases: []string{"U"}, Usage: "unsubscribe from `FILTER` once subscribed (repeatable)"},
		&ucli.IntFlag{Name: "count", Aliases: []string{"C"}, Usage: "exit after `COUNT` messages"},
		&ucli.IntFlag{Name: "timeout", Aliases: []string{"W"}, Usage: "exit with code 27 after `SECONDS`"},
		&ucli.BoolFlag{Name: "exit-on-suback", Aliases: []string{"E"}, Usage: "exit once every subscription is acknowledged"},
		&ucli.BoolFlag{Name: "no-retained", Aliases: []string{"R"}, Usage: "do not print retained (stale) messages"},
		&ucli.BoolFlag{Name: "retained-only", Usage: "exit at the first message that is not retained"},
		&ucli.BoolFlag{Name: "remove-retained", Usage: "clear each retained message received"},
		&ucli.BoolFlag{Name: "retain-as-published", Usage: "v5: keep the retain flag as published"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print the topic before the payload"},
		&ucli.BoolFlag{Name: "no-newline", Aliases: []string{"N"}, Usage: "do not print a newline after each message"},
		&ucli.StringFlag{Name: "format", Aliases: []string{"F"}, Usage: "print each message as `FORMAT` (%t topic, %p payload, %j JSON, ...)"},
		&ucli.BoolFlag{Name: "pretty", Usage: "indent JSON output"},
		&ucli.Float64Flag{Name: "random-filter", Usage: "print only `PERCENT` of the messages, chosen at random"},
	}
	flags = append(flags, snClientFlags("sub")...)
	return &ucli.Command{
		Name:  "sub",
		Usage: "subscribe and print messages",
		Description: "Connects to a broker, subscribes to one or more topic filters and prints the messages " +
			"it receives. Flags, output formats and exit codes follow mosquitto_sub.",
		Flags:  append(append(flags, connFlags()...), mosquittoClientFlags()...),
		Action: runSub,
	}
}

// subState is what the message handler shares with runSub.
type subState struct {
	c        *ucli.Context
	out      *bufio.Writer
	format   messageFormat
	filters  []string // -T
	count    int      // -C
	noRetain bool     // -R
	retOnly  bool     // --retained-only
	remove   bool     // --remove-retained
	random   int      // --random-filter in hundredths of a percent; 10000 prints all

	mu       sync.Mutex
	cl       *client.Client
	received int
	stopped  bool
	stop     chan struct{}  // closed when the handler wants to exit
	removals sync.WaitGroup // --remove-retained publishes in flight
}

func runSub(c *ucli.Context) error {
	if q := c.Int("qos"); q < 0 || q > 2 {
		if q == -1 && c.Bool("sn") {
			return mosqUsage(c, "Error: QoS -1 is for publishing only: it cannot be subscribed with.")
		}
		return mosqUsage(c, "Error: Invalid QoS given: %d", q)
	}
	if c.IsSet("count") && c.Int("count") < 1 {
		return mosqUsage(c, "Error: Invalid message count \"%d\".", c.Int("count"))
	}
	if c.IsSet("timeout") && c.Int("timeout") < 1 {
		return mosqUsage(c, "Error: Invalid timeout \"%d\".", c.Int("timeout"))
	}
	random := 10000
	if c.IsSet("random-filter") {
		f := c.Float64("random-filter")
		if f < 0.1 || f > 100 {
			return mosqUsage(c, "Error: --random-filter chance must be between 0.1-100.0")
		}
		random = int(f * 100)
	}
	if !c.Bool("sn") {
		if err := checkNoSNFlags(c); err != nil {
			return err
		}
		if err := mosquittoChecks(c); err != nil {
			return err
		}
	}
	o, err := connOptionsFrom(c)
	if err != nil {
		return err
	}
	if err := checkPropertyCommands(o.Properties, subPropertyCommands()); err != nil {
		return err
	}
	filters := c.StringSlice("topic")
	if o.HasURLTopic {
		// As mosquitto_sub: -L's topic is subscribed to as well as every -t.
		filters = append([]string{o.URLTopic}, filters...)
	}
	if len(filters) == 0 && !(c.Bool("sn") && c.IsSet("topic-id")) {
		return mosqUsage(c, "Error: You must specify a topic to subscribe to.")
	}
	for _, f := range filters {
		if topic.ValidateFilter(f) != nil {
			return mosqUsage(c, "Error: Invalid subscription topic '%s', are all '+' and '#' wildcards correct?", f)
		}
	}
	for _, f := range c.StringSlice("filter-out") {
		if topic.ValidateFilter(f) != nil {
			return mosqUsage(c, "Error: Invalid filter topic '%s', are all '+' and '#' wildcards correct?", f)
		}
	}
	for _, f := range c.StringSlice("unsubscribe") {
		if topic.ValidateFilter(f) != nil {
			return mosqUsage(c, "Error: Invalid unsubscribe topic '%s', are all '+' and '#' wildcards correct?", f)
		}
	}
	if c.IsSet("format") {
		if err := checkFormat(c.String("format")); err != nil {
			return mosqUsage(c, "%s", err.Error())
		}
	}
	if c.Bool("no-retained") && c.Bool("retained-only") {
		return mosqError(c, exitError, "\nError: Combining '-R' and '--retained-only' makes no sense.")
	}

	st := &subState{
		c:        c,
		out:      bufio.NewWriterSize(c.App.Writer, 64<<10),
		format:   messageFormat{format: c.String("format"), custom: c.IsSet("format"), verbose: c.Bool("verbose"), eol: !c.Bool("no-newline"), pretty: c.Bool("pretty")},
		filters:  c.StringSlice("filter-out"),
		count:    c.Int("count"),
		noRetain: c.Bool("no-retained"),
		retOnly:  c.Bool("retained-only"),
		remove:   c.Bool("remove-retained"),
		random:   random,
		stop:     make(chan struct{}),
	}
	if c.Bool("sn") {
		if err := checkNoMosquittoFlagsWithSN(c); err != nil {
			return err
		}
		return runSubSN(c, o, st, filters)
	}
	if o.ProtocolVersion == ProtocolV31 && o.ClientID == "" {
		o.ClientID = randomClientID()
	}
	co, err := clientOptions(o)
	if err != nil {
		return mosqError(c, exitError, "Error: %v", err)
	}
	if dl := newDebugLog(c.App.Writer, o); dl != nil {
		dl.mute = st.isStopped
		co.Trace = dl.trace
	}
	co.OnMessage = st.onMessage
	// libmosquitto's order: PUBACK before the message is printed, a QoS 2
	// message printed at PUBREL; -C counts messages whose exchange is complete.
	co.AckBeforeDelivery = true
	co.DisconnectOnRefusal = true
	// One session across reconnections: packet identifiers go on counting (as
	// mosquitto_sub's do) and, with -c, unfinished QoS 2 exchanges resume.
	co.Session = client.NewSession()

	subs := make([]packet.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = packet.Subscription{Filter: f, QoS: o.QoS, RetainAsPublished: c.Bool("retain-as-published")}
		if c.Bool("no-retained") {
			// As mosquitto_sub: an MQTT 5 broker is asked not to send retained
			// messages at all (they are not printed either way).
			subs[i].RetainHandling = 2
		}
	}
	subProps := packetProperties(o.Properties, "subscribe")
	unsubProps := packetProperties(o.Properties, "unsubscribe")
	discProps := packetProperties(o.Properties, "disconnect")

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	var timeout <-chan time.Time
	if w := c.Int("timeout"); w > 0 {
		t := time.NewTimer(time.Duration(w) * time.Second)
		defer t.Stop()
		timeout = t.C
	}

	// Like mosquitto_sub, reconnect when a connection drops. A first connection
	// that cannot be made, a refusal, a TLS failure, a protocol error or a
	// DISCONNECT from the broker ends the run instead, as they end mosquitto_sub's loop.
	first := true
	for {
		cl, err := client.Dial(ctx, co)
		if err != nil {
			var ce *client.ConnectError
			var te *client.TLSError
			lost := errors.Is(err, client.ErrConnectionLost) && !errors.Is(err, client.ErrProtocol)
			if errors.As(err, &ce) || errors.As(err, &te) || (first && !lost) || errors.Is(err, client.ErrProtocol) {
				msg, code := connectErrorMessage(err, o.ProtocolVersion)
				return mosqError(c, code, "%s", msg)
			}
			select {
			case <-time.After(time.Second):
				continue
			case <-timeout:
				return st.finish(nil, exitTimedOut)
			case <-sig:
				return st.finish(nil, 0)
			}
		}
		first = false
		st.mu.Lock()
		st.cl = cl
		st.mu.Unlock()
		done, code := st.session(ctx, cl, subs, &subProps, &unsubProps, &discProps, timeout, sig)
		if done {
			return st.finish(nil, code)
		}
		cl.Close()
	}
}

// session runs one connection: subscribe, then wait for the end. done is
// false when the connection was lost and should be made again.
func (st *subState) session(ctx context.Context, cl *client.Client, subs []packet.Subscription,
	subProps, unsubProps, discProps *packet.Properties, timeout <-chan time.Time, sig chan os.Signal) (bool, int) {
	c := st.c
	disconnect := func(rc packet.ReasonCode) {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl.Disconnect(dctx, rc, discProps)
	}
	// SUBSCRIBE and the UNSUBSCRIBEs go out together, as libmosquitto sends
	// them from its connect callback before it reads again: in one batch, so
	// that -d prints every "sending" before the "received SUBACK" and
	// "Subscribed" that the reader prints (onSuback), however fast the SUBACK
	// comes back. The SUBACK is handled in order with the messages. An error
	// means the connection ended: Done says so.
	_ = cl.Batch(func() error {
		err := cl.SubscribeAsync(ctx, subs, subProps, st.onSuback)
		for _, f := range c.StringSlice("unsubscribe") {
			if err == nil {
				err = cl.UnsubscribeAsync(ctx, []string{f}, unsubProps, nil)
			}
		}
		return err
	})
	for {
		select {
		case <-st.stop:
			st.waitRemovals(ctx, cl)
			disconnect(packet.NormalDisconnection)
			return true, 0
		case <-timeout:
			disconnect(packet.NormalDisconnection)
			return true, exitTimedOut
		case <-sig:
			disconnect(packet.DisconnectWithWill)
			return true, 0
		case <-cl.Done():
			cause := cl.Err()
			st.mu.Lock()
			stopped := st.stopped
			st.mu.Unlock()
			if stopped {
				return true, 0
			}
			// A DISCONNECT from the broker (session taken over, server shutting down, ...)
			// ends the run with exit 0 and no message, as it ends mosquitto_sub's loop (-d
			// shows "Received DISCONNECT (N)"). Reconnecting would make two subscribers with
			// one client id take the session from each other for ever.
			var de *client.DisconnectError
			if errors.As(cause, &de) {
				return true, 0
			}
			if errors.Is(cause, client.ErrProtocol) {
				// Fatal for mosquitto_sub's loop, as for mosquitto_pub.
				msg, code := lostErrorMessage(cause)
				mosqError(c, 0, "%s", msg)
				return true, code
			}
			return false, 0
		}
	}
}

// onSuback runs on the client's reader goroutine when the SUBACK arrives,
// before any message behind it is handled, as mosquitto_sub's subscribe
// callback: with -E, or when every subscription was refused, nothing that
// follows is printed.
func (st *subState) onSuback(sa *packet.Suback) {
	c := st.c
	st.mu.Lock()
	defer st.mu.Unlock()
	if c.Bool("debug") && !c.Bool("quiet") {
		fmt.Fprintf(st.out, "Subscribed (mid: %d): %d", sa.PacketID, byte(sa.ReasonCodes[0]))
		for _, rc := range sa.ReasonCodes[1:] {
			fmt.Fprintf(st.out, ", %d", byte(rc))
		}
		st.out.WriteString("\n")
		st.out.Flush()
	}
	granted := false
	for _, rc := range sa.ReasonCodes {
		granted = granted || rc < 0x80
	}
	if !granted {
		if !c.Bool("quiet") {
			fmt.Fprintln(c.App.ErrWriter, "All subscription requests were denied.")
		}
		st.stopLocked()
	}
	if c.Bool("exit-on-suback") {
		st.stopLocked()
	}
}

// finish flushes the output and reports the exit code.
func (st *subState) finish(err error, code int) error {
	st.mu.Lock()
	st.out.Flush()
	st.mu.Unlock()
	if code == exitTimedOut {
		return mosqError(st.c, exitTimedOut, "Timed out")
	}
	if code != 0 {
		return exitf(code, "")
	}
	return err
}

// waitRemovals lets the --remove-retained publishes finish before
// disconnecting, as mosquitto_sub waits for their acknowledgement.
func (st *subState) waitRemovals(ctx context.Context, cl *client.Client) {
	done := make(chan struct{})
	go func() { st.removals.Wait(); close(done) }()
	select {
	case <-done:
	case <-cl.Done():
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// onMessage runs on the client's reader goroutine, in arrival order, and
// follows mosquitto_sub's message callback.
func (st *subState) onMessage(m *client.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return
	}
	if st.retOnly && !m.Retain {
		st.stopLocked()
		return
	}
	if m.Retain && st.noRetain {
		return
	}
	for _, f := range st.filters {
		if topic.Match(f, m.Topic) {
			return
		}
	}
	if st.remove && m.Retain && st.cl != nil {
		// Not on this goroutine: it reads the acknowledgements.
		cl, t := st.cl, m.Topic
		st.removals.Add(1)
		go func() {
			defer st.removals.Done()
			if tok, err := cl.PublishAsync(context.Background(), client.Message{Topic: t, QoS: 1, Retain: true}); err == nil {
				select {
				case <-tok.Done():
				case <-cl.Done():
				}
			}
		}()
	}
	if st.random < 10000 && rand.IntN(10000) >= st.random {
		// not printed, but still counted below as mosquitto does not
	} else {
		st.format.print(st.out, st.c.App.ErrWriter, m, time.Now())
		st.out.Flush()
	}
	if st.count > 0 {
		st.received++
		if st.received == st.count {
			st.stopLocked()
		}
	}
}

// isStopped reports whether the run is ending (-C reached, -E, all
// subscriptions refused, --retained-only).
func (st *subState) isStopped() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopped
}

func (st *subState) stopLocked() {
	if !st.stopped {
		st.stopped = true
		close(st.stop)
	}
}
