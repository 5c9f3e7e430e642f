package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/sn"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// This file is `mqtt pub --sn` and `mqtt sub --sn`: the same commands speaking MQTT-SN 1.2
// over UDP to a gateway (sn.Client) instead of MQTT to a broker, so that a sensor developer
// can test a gateway from a shell. -h and -p name the gateway.

const catSN = "MQTT-SN"

// snClientFlags are the flags pub and sub (cmd) add for --sn.
func snClientFlags(cmd string) []ucli.Flag {
	if cmd == "sub" {
		return []ucli.Flag{
			&ucli.BoolFlag{Name: "sn", Category: catSN,
				Usage: fmt.Sprintf("subscribe through the MQTT-SN 1.2 gateway at -h/-p over UDP (default port %d) instead of MQTT", defaultSNPort)},
			&ucli.IntFlag{Name: "topic-id", Category: catSN,
				Usage: "with --sn: also subscribe to the predefined topic id `N` (1-65534); its messages print the id as their topic unless a -t names it"},
			&ucli.BoolFlag{Name: "short", Category: catSN,
				Usage: "with --sn: every -t is a two-character short topic name"},
		}
	}
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "sn", Category: catSN,
			Usage: fmt.Sprintf("publish through the MQTT-SN 1.2 gateway at -h/-p over UDP (default port %d) instead of MQTT; -q -1 publishes without connecting", defaultSNPort)},
		&ucli.IntFlag{Name: "topic-id", Category: catSN,
			Usage: "with --sn: publish to the predefined topic id `N` (1-65534) instead of -t"},
		&ucli.BoolFlag{Name: "short", Category: catSN,
			Usage: "with --sn: -t is a two-character short topic name, sent without REGISTER"},
	}
}

// snIncompatible are connection flags that have no meaning for MQTT-SN.
var snIncompatible = []string{"url", "unix", "ws", "protocol-version", "session-expiry", "username", "pw",
	"cafile", "capath", "cert", "key", "insecure", "tls-version", "tls-use-os-certs", "property"}

// checkNoSNFlags fails when an MQTT-SN flag is given without --sn.
func checkNoSNFlags(c *ucli.Context) error {
	for _, f := range []string{"topic-id", "short"} {
		if c.IsSet(f) {
			return usageErrorf("--%s needs --sn", f)
		}
	}
	return nil
}

// snClientOptions builds the client options of pub --sn and sub --sn from the shared
// connection flags. defaultID names the client when -i and -I are not given.
func snClientOptions(c *ucli.Context, defaultID string, extra ...string) (sn.ClientOptions, ConnOptions, error) {
	for _, f := range append(snIncompatible, extra...) {
		if c.IsSet(f) {
			return sn.ClientOptions{}, ConnOptions{}, usageErrorf("%s cannot be used with --sn", flagPair(f))
		}
	}
	if c.IsSet("topic-id") {
		if id := c.Int("topic-id"); id < 1 || id > 65534 {
			return sn.ClientOptions{}, ConnOptions{}, usageErrorf("invalid --topic-id %d: expected 1 to 65534", id)
		}
		if c.Bool("short") {
			return sn.ClientOptions{}, ConnOptions{}, usageErrorf("--topic-id and --short cannot be combined")
		}
	}
	o, err := connOptionsFrom(c)
	if err != nil {
		return sn.ClientOptions{}, o, err
	}
	port := defaultSNPort
	if c.IsSet("port") {
		port = o.Port
	}
	id := o.ClientID
	if id == "" {
		id = defaultID
	}
	switch n := len(id); {
	case n > sn.MaxClientIDLength || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0:
		// What mqtt's gateway refuses (sn.MaxClientIDLength).
		return sn.ClientOptions{}, o, usageErrorf("invalid client id %q: MQTT-SN client ids here are 1 to %d octets of UTF-8 without U+0000", id, sn.MaxClientIDLength)
	case n > 23 && !o.Quiet:
		// [MQTT-SN 5.3.1] ClientId is 1-23 characters. mqtt's gateway accepts longer ones,
		// other gateways may refuse them.
		fmt.Fprintf(c.App.ErrWriter, "Warning: MQTT-SN client ids are 1 to 23 characters, %q has %d: mqtt sn-gateway accepts it, other gateways may not.\n", id, n)
	}
	so := sn.ClientOptions{
		Gateway:      net.JoinHostPort(o.Host, strconv.Itoa(port)),
		ClientID:     id,
		CleanSession: o.CleanSession,
		KeepAlive:    o.KeepAlive,
	}
	if w := o.Will; w != nil {
		so.Will = &sn.Will{Topic: w.Topic, Payload: w.Payload, QoS: sn.QoS(w.QoS), Retain: w.Retain}
	}
	if o.Debug && !o.Quiet {
		so.Trace = snTracer(c.App.Writer, id)
	}
	return so, o, nil
}

// snErrorMessage words an MQTT-SN failure like the tools' other errors.
func snErrorMessage(err error, what string) string {
	var rc sn.ReturnCode
	switch {
	case errors.As(err, &rc):
		return fmt.Sprintf("Error: %s refused: %s.", what, rc.String())
	case errors.Is(err, sn.ErrTimeout):
		return fmt.Sprintf("Error: no answer from the gateway to %s.", what)
	case errors.Is(err, sn.ErrGatewayUnreachable):
		return "Error: Connection refused (nothing listens at the gateway's UDP address)."
	}
	return "Error: " + errText(err)
}

// snCongestionWait bounds how long pub --sn and sub --sn keep trying a gateway that answers
// CONNECT with "rejected: congestion": T_WAIT, the spec's suggested wait after congestion
// [MQTT-SN 6.2], is over 5 minutes.
const snCongestionWait = 5 * time.Minute

// snConnect connects cl; a gateway that refuses with "rejected: congestion" is asked again
// after a pause that starts at about a second and doubles (with jitter, so that many clients
// do not come back together), until snCongestionWait has passed.
func snConnect(ctx context.Context, c *ucli.Context, cl *sn.Client) error {
	pause, deadline := time.Second, time.Now().Add(snCongestionWait)
	for {
		err := cl.Connect(ctx)
		if !errors.Is(err, sn.RejectedCongestion) || time.Now().Add(pause).After(deadline) {
			return err
		}
		wait := pause/2 + rand.N(pause)
		if !c.Bool("quiet") {
			fmt.Fprintf(c.App.ErrWriter, "Warning: the gateway is congested (CONNACK rejected: congestion); trying again in %.1f s.\n", wait.Seconds())
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		pause = min(pause*2, time.Minute)
	}
}

// snPublishTarget is the topic of pub --sn: -t (a name, or with --short a short name) or
// --topic-id.
func snPublishTarget(c *ucli.Context, name string) (sn.PublishMessage, error) {
	m := sn.PublishMessage{Topic: name}
	switch {
	case c.IsSet("topic-id"):
		if c.IsSet("topic") {
			return m, mosqUsage(c, "Error: --topic-id and -t cannot be combined: the predefined topic id names the topic.")
		}
		m.TopicIDType, m.TopicID = sn.TopicPredefined, uint16(c.Int("topic-id"))
	case c.Bool("short"):
		if len(name) != 2 {
			return m, mosqUsage(c, "Error: --short needs a topic of exactly two characters, '%s' has %d.", name, len(name))
		}
		if strings.ContainsAny(name, "+#") {
			return m, mosqUsage(c, "Error: Invalid publish topic '%s', does it contain '+' or '#'?", name)
		}
		m.TopicIDType = sn.TopicShort
	default:
		if name == "" {
			return m, mosqUsage(c, "Error: Both topic and message must be supplied.")
		}
		if strings.ContainsAny(name, "+#") {
			return m, mosqUsage(c, "Error: Invalid publish topic '%s', does it contain '+' or '#'?", name)
		}
		if err := topic.ValidateName(name); err != nil {
			return m, mosqUsage(c, "Error: Invalid publish topic '%s': %v", name, err)
		}
	}
	return m, nil
}

// runPubSN is pub --sn.
func runPubSN(c *ucli.Context, sources int) error {
	q := c.Int("qos")
	so, _, err := snClientOptions(c, fmt.Sprintf("mqtt-sn-pub-%d", os.Getpid()))
	if err != nil {
		return err
	}
	if sources == 0 {
		return mosqUsage(c, "Error: Both topic and message must be supplied.")
	}
	msg, err := snPublishTarget(c, c.String("topic"))
	if err != nil {
		return err
	}
	if q == -1 && msg.TopicIDType == sn.TopicNormal {
		return mosqUsage(c, "Error: QoS -1 needs --topic-id or --short: there is no connection to register a topic name on.")
	}
	msg.QoS, msg.Retain = sn.QoS(q), c.Bool("retain")
	// The payload must fit one datagram with the PUBLISH header (9 octets): 65,507 octets
	// of UDP over IPv4, 65,527 over IPv6.
	maxPayload := 65507 - 9
	if ua, err := net.ResolveUDPAddr("udp", so.Gateway); err == nil && ua.IP.To4() == nil {
		maxPayload = 65527 - 9
	}
	payload, err := pubPayload(c, maxPayload, true)
	if err != nil {
		return err
	}
	msg.Payload = payload
	so.MaxInflight = c.Int("max-inflight")

	cl, err := sn.NewClient(so)
	if err != nil {
		return mosqError(c, exitError, "Error: %v", err)
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(contextOf(c), os.Interrupt, syscall.SIGTERM)
	defer stop()
	connected := false
	disconnect := func() {
		if connected {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = cl.Disconnect(dctx)
			connected = false
		}
	}
	// Interrupted (SIGINT, SIGTERM), the client still says DISCONNECT, as sub does, so that
	// the gateway ends its session without publishing its will.
	defer disconnect()
	if msg.QoS != sn.QoSMinus1 {
		if err := snConnect(ctx, c, cl); err != nil {
			return mosqError(c, exitError, "%s", snErrorMessage(err, "CONNECT"))
		}
		connected = true
	}
	publish := func(m sn.PublishMessage) error {
		if err := cl.Publish(ctx, m); err != nil {
			return mosqError(c, exitError, "%s", snErrorMessage(err, "PUBLISH"))
		}
		return nil
	}
	if c.Bool("stdin-line") {
		br := bufio.NewReaderSize(c.App.Reader, 64<<10)
		for {
			line, rerr := br.ReadBytes('\n')
			if len(line) > 0 {
				if line[len(line)-1] == '\n' {
					line = line[:len(line)-1]
				}
				if len(line) > maxPayload {
					return mosqError(c, exitError, "Error: a line of %d bytes; with --sn a message must be at most %d bytes, what one UDP datagram holds after the MQTT-SN header.", len(line), maxPayload)
				}
				m := msg
				m.Payload = line
				if err := publish(m); err != nil {
					return err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return mosqError(c, exitError, "Error: %s", errText(rerr))
			}
		}
	} else {
		n := max(c.Int("repeat"), 1)
		delay := time.Duration(c.Float64("repeat-delay") * float64(time.Second))
		for i := 0; i < n; i++ {
			if i > 0 && delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return mosqError(c, exitError, "Error: %s", errText(ctx.Err()))
				}
			}
			if err := publish(msg); err != nil {
				return err
			}
		}
	}
	disconnect()
	return nil
}

// runSubSN is sub --sn: subscribe through the gateway and print what arrives with sub's
// formatting; reconnect when the gateway drops the client, as sub does with a broker.
func runSubSN(c *ucli.Context, o ConnOptions, st *subState, filters []string) error {
	so, _, err := snClientOptions(c, fmt.Sprintf("mqtt-sn-sub-%d", os.Getpid()), "remove-retained", "retain-as-published")
	if err != nil {
		return err
	}
	var reqs []sn.SubscribeRequest
	q := sn.QoS(o.QoS)
	for _, f := range filters {
		r := sn.SubscribeRequest{Topic: f, QoS: q}
		if c.Bool("short") {
			if len(f) != 2 {
				return mosqUsage(c, "Error: --short needs topics of exactly two characters, '%s' has %d.", f, len(f))
			}
			r.TopicIDType = sn.TopicShort
		}
		reqs = append(reqs, r)
	}
	if c.IsSet("topic-id") {
		reqs = append(reqs, sn.SubscribeRequest{TopicIDType: sn.TopicPredefined, TopicID: uint16(c.Int("topic-id")), QoS: q})
	}
	var unsubs []sn.SubscribeRequest
	for _, f := range c.StringSlice("unsubscribe") {
		r := sn.SubscribeRequest{Topic: f}
		if c.Bool("short") && len(f) == 2 {
			r.TopicIDType = sn.TopicShort
		}
		unsubs = append(unsubs, r)
	}
	so.OnMessage = func(m *sn.ClientMessage) {
		name := m.Topic
		if name == "" {
			name = strconv.Itoa(int(m.TopicID)) // a predefined id the client has no name for
		}
		st.onMessage(&client.Message{Topic: name, Payload: m.Payload, QoS: byte(max(m.QoS, 0)), Retain: m.Retain, Dup: m.Dup})
	}

	ctx, cancel := context.WithCancel(contextOf(c))
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
	for first := true; ; first = false {
		cl, err := sn.NewClient(so)
		if err != nil {
			return mosqError(c, exitError, "Error: %v", err)
		}
		done, code, err := subSNSession(ctx, c, cl, st, reqs, unsubs, timeout, sig)
		cl.Close()
		if done {
			return st.finish(nil, code)
		}
		if first && err != nil {
			what := "CONNECT"
			var se *snStepError
			if errors.As(err, &se) {
				what, err = se.what, se.err
			}
			return mosqError(c, exitError, "%s", snErrorMessage(err, what))
		}
		select {
		case <-time.After(time.Second):
		case <-timeout:
			return st.finish(nil, exitTimedOut)
		case <-sig:
			return st.finish(nil, 0)
		}
	}
}

// subSNSession runs one connection. done is false when it should be made again; err is
// set when the connection could not be made.
func subSNSession(ctx context.Context, c *ucli.Context, cl *sn.Client, st *subState, reqs, unsubs []sn.SubscribeRequest,
	timeout <-chan time.Time, sig chan os.Signal) (bool, int, error) {
	type result struct {
		err  error
		what string // the request that failed
	}
	ready := make(chan result, 1)
	var accepted atomic.Bool // the gateway accepted the CONNECT: DISCONNECT is due
	go func() {
		what := "CONNECT"
		err := snConnect(ctx, c, cl)
		if err == nil {
			accepted.Store(true)
		}
		for _, r := range reqs {
			if err != nil {
				break
			}
			var sa *sn.Suback
			what = "SUBSCRIBE to " + snRequestName(r)
			sa, err = cl.Subscribe(ctx, r)
			if err == nil && c.Bool("debug") && !c.Bool("quiet") {
				st.mu.Lock()
				fmt.Fprintf(st.out, "Subscribed (mid: %d): %d\n", sa.MsgID, sa.QoS)
				st.out.Flush()
				st.mu.Unlock()
			}
		}
		for _, r := range unsubs {
			if err != nil {
				break
			}
			what = "UNSUBSCRIBE from " + snRequestName(r)
			err = cl.Unsubscribe(ctx, r)
		}
		ready <- result{err, what}
	}()
	disconnect := func() {
		if !accepted.Load() {
			return // a gateway that has no session for us would not answer
		}
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Disconnect(dctx)
	}
	connected := false
	for {
		select {
		case r := <-ready:
			ready = nil
			if r.err != nil {
				var rc sn.ReturnCode
				if errors.As(r.err, &rc) && connected {
					return true, exitError, r.err
				}
				if !connected && !errors.Is(r.err, sn.ErrTimeout) {
					mosqError(c, 0, "%s", snErrorMessage(r.err, r.what))
					disconnect()
					return true, exitError, r.err
				}
				return false, 0, &snStepError{r.what, r.err}
			}
			connected = true
			if c.Bool("exit-on-suback") {
				disconnect()
				return true, 0, nil
			}
		case <-st.stop:
			disconnect()
			return true, 0, nil
		case <-timeout:
			disconnect()
			return true, exitTimedOut, nil
		case <-sig:
			// As sub over MQTT 3.1.1: DISCONNECT, so that no will is published.
			disconnect()
			return true, 0, nil
		case <-cl.Gone():
			st.mu.Lock()
			stopped := st.stopped
			st.mu.Unlock()
			if stopped {
				return true, 0, nil
			}
			mosqError(c, 0, "Error: %s", errText(cl.Err()))
			return false, 0, nil
		}
	}
}

// snStepError is a failed request of sub --sn's set-up, and which.
type snStepError struct {
	what string
	err  error
}

func (e *snStepError) Error() string { return e.what + ": " + e.err.Error() }
func (e *snStepError) Unwrap() error { return e.err }

// snRequestName names a subscription in messages.
func snRequestName(r sn.SubscribeRequest) string {
	switch r.TopicIDType {
	case sn.TopicPredefined:
		return fmt.Sprintf("predefined topic id %d", r.TopicID)
	case sn.TopicShort:
		return fmt.Sprintf("short topic name '%s'", r.Topic)
	}
	return "'" + r.Topic + "'"
}

// snTracer prints MQTT-SN messages for -d, the way the MQTT debug lines look.
func snTracer(w io.Writer, id string) func(bool, sn.Message) {
	return func(sent bool, m sn.Message) {
		dir := "received"
		if sent {
			dir = "sending"
		}
		var s string
		switch m := m.(type) {
		case *sn.Publish:
			s = fmt.Sprintf("PUBLISH (d%d, q%d, r%d, m%d, topic id %d (%s), ... (%d bytes))",
				b2i(m.Dup), m.QoS, b2i(m.Retain), m.MsgID, m.TopicID, m.TopicIDType, len(m.Data))
		case *sn.Register:
			s = fmt.Sprintf("REGISTER (m%d, topic id %d, '%s')", m.MsgID, m.TopicID, m.TopicName)
		case *sn.Regack:
			s = fmt.Sprintf("REGACK (m%d, topic id %d, %s)", m.MsgID, m.TopicID, m.ReturnCode.String())
		case *sn.Puback:
			s = fmt.Sprintf("PUBACK (m%d, topic id %d, %s)", m.MsgID, m.TopicID, m.ReturnCode.String())
		case *sn.Connack:
			s = fmt.Sprintf("CONNACK (%s)", m.ReturnCode.String())
		case *sn.Subscribe:
			t := m.TopicName
			if m.TopicIDType != sn.TopicNormal {
				t = fmt.Sprintf("%s topic id %d", m.TopicIDType, m.TopicID)
			}
			s = fmt.Sprintf("SUBSCRIBE (m%d, '%s', q%d)", m.MsgID, t, m.QoS)
		case *sn.Suback:
			s = fmt.Sprintf("SUBACK (m%d, topic id %d, q%d, %s)", m.MsgID, m.TopicID, m.QoS, m.ReturnCode.String())
		case *sn.Pubrec, *sn.Pubrel, *sn.Pubcomp, *sn.Unsuback:
			s = fmt.Sprintf("%s (m%d)", m.Type(), msgIDOf(m))
		default:
			s = m.Type().String()
		}
		fmt.Fprintf(w, "Client %s %s %s\n", id, dir, s)
	}
}

func msgIDOf(m sn.Message) uint16 {
	switch m := m.(type) {
	case *sn.Pubrec:
		return m.MsgID
	case *sn.Pubrel:
		return m.MsgID
	case *sn.Pubcomp:
		return m.MsgID
	case *sn.Unsuback:
		return m.MsgID
	}
	return 0
}
