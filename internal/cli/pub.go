package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
	ucli "github.com/urfave/cli/v2"
)

// defaultMaxInflight is mosquitto_pub's -M default.
const defaultMaxInflight = 20

// pubCommand is `mqtt pub` (and `mosquitto_pub`): publish messages.
func pubCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "topic", Aliases: []string{"t"}, Usage: "publish to `TOPIC` (no + or #)"},
		&ucli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "send `MESSAGE` as the payload"},
		&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, TakesFile: true, Usage: "send the contents of `FILE` as the payload"},
		&ucli.BoolFlag{Name: "stdin-line", Aliases: []string{"l"}, Usage: "send each line of standard input as a message"},
		&ucli.BoolFlag{Name: "null-message", Aliases: []string{"n"}, Usage: "send an empty payload"},
		&ucli.BoolFlag{Name: "stdin-file", Aliases: []string{"s"}, Usage: "send all of standard input as one message"},
		&ucli.BoolFlag{Name: "retain", Aliases: []string{"r"}, Usage: "retain the message (an empty retained payload clears it)"},
		&ucli.IntFlag{Name: "repeat", Usage: "publish the message `COUNT` times"},
		&ucli.Float64Flag{Name: "repeat-delay", Usage: "wait `SECONDS` between repeats"},
		&ucli.IntFlag{Name: "max-inflight", Aliases: []string{"M"}, Value: defaultMaxInflight, Usage: "at most `COUNT` QoS 1/2 messages in flight"},
	}
	flags = append(flags, snClientFlags("pub")...)
	return &ucli.Command{
		Name:  "pub",
		Usage: "publish a message",
		Description: "Connects to a broker, publishes one message (or one per line of standard input with -l) " +
			"and disconnects. Flags and exit codes follow mosquitto_pub.",
		Flags:  append(append(flags, connFlags()...), mosquittoClientFlags()...),
		Action: runPub,
	}
}

// mosqError prints a mosquitto-style error (already worded as mosquitto's
// tools word it) unless --quiet, and returns the exit code as an error.
func mosqError(c *ucli.Context, code int, format string, args ...any) error {
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, format+"\n", args...)
	}
	return exitf(code, "")
}

// mosqUsage is mosqError plus mosquitto's pointer to --help. It is printed with --quiet
// too: Mosquitto's clients print their argument errors whatever the options.
func mosqUsage(c *ucli.Context, format string, args ...any) error {
	fmt.Fprintf(c.App.ErrWriter, format+"\n\nUse '%s --help' to see usage.\n", append(args, c.App.Name+helpSuffix(c))...)
	return exitf(exitError, "")
}

func helpSuffix(c *ucli.Context) string {
	if c.App.Name == "mqtt" {
		return " " + c.Command.Name
	}
	return ""
}

func runPub(c *ucli.Context) error {
	// Checks whose wording and exit code scripts may rely on come first,
	// spelt as mosquitto_pub spells them.
	if q := c.Int("qos"); (q < 0 || q > 2) && !(q == -1 && c.Bool("sn")) {
		return mosqUsage(c, "Error: Invalid QoS given: %d", q)
	}
	sources := 0
	for _, f := range []string{"message", "file", "stdin-line", "null-message", "stdin-file"} {
		if c.IsSet(f) {
			sources++
		}
	}
	// Any payload option given twice, -m a -m b included, is refused as mosquitto_pub
	// refuses it (its message ends with a blank line, before the usage hint).
	if timesGiven(c, "message", "file", "stdin-line", "null-message", "stdin-file") > 1 {
		return mosqUsage(c, "Error: Only one type of message can be sent at once.\n")
	}
	if c.IsSet("repeat") && c.Int("repeat") <= 0 {
		return mosqUsage(c, "Error: --repeat argument must be >0.")
	}
	if c.IsSet("repeat-delay") && c.Float64("repeat-delay") < 0 {
		return mosqUsage(c, "Error: --repeat-delay argument must be >=0.0.")
	}
	if c.Int("max-inflight") < 1 {
		return mosqUsage(c, "Error: Maximum inflight messages must be greater than 0.")
	}
	if c.Bool("sn") {
		if err := checkNoMosquittoFlagsWithSN(c); err != nil {
			return err
		}
		return runPubSN(c, sources)
	}
	if err := checkNoSNFlags(c); err != nil {
		return err
	}
	if err := mosquittoChecks(c); err != nil {
		return err
	}
	o, err := connOptionsFrom(c)
	if err != nil {
		return err
	}
	if err := checkPropertyCommands(o.Properties, pubPropertyCommands()); err != nil {
		return err
	}
	topicName := c.String("topic")
	if !c.IsSet("topic") {
		topicName = o.URLTopic
	}
	if topicName == "" || sources == 0 {
		return mosqUsage(c, "Error: Both topic and message must be supplied.")
	}
	if strings.ContainsAny(topicName, "+#") {
		return mosqUsage(c, "Error: Invalid publish topic '%s', does it contain '+' or '#'?", topicName)
	}
	if err := topic.ValidateName(topicName); err != nil {
		return mosqUsage(c, "Error: Invalid publish topic '%s': %v", topicName, err)
	}

	payload, err := pubPayload(c, maxVarInt, false)
	if err != nil {
		return err
	}

	if o.ProtocolVersion == ProtocolV31 && o.ClientID == "" {
		o.ClientID = randomClientID()
	}
	co, err := clientOptions(o)
	if err != nil {
		return mosqError(c, exitError, "Error: %v", err)
	}
	co.MaxInflight = c.Int("max-inflight")
	if dl := newDebugLog(c.App.Writer, o); dl != nil {
		co.Trace = dl.trace
	}
	ctx := c.Context
	cl, err := client.Dial(ctx, co)
	if err != nil {
		msg, code := connectErrorMessage(err, o.ProtocolVersion)
		var ce *client.ConnectError
		if errors.As(err, &ce) {
			// mosquitto_pub then also reports the failed loop.
			if o.ProtocolVersion == ProtocolV5 {
				msg += "\nError: A network protocol error occurred when communicating with the broker."
			} else {
				msg += "\nError: The connection was refused."
			}
		}
		return mosqError(c, code, "%s", msg)
	}
	defer cl.Close()

	msg := client.Message{Topic: topicName, QoS: o.QoS, Retain: c.Bool("retain"), Payload: payload}
	if ca := cl.Connack(); msg.Retain && ca.Properties.HasRetainAvailable && ca.Properties.RetainAvailable == 0 {
		// As libmosquitto: a broker without retained messages gets the message
		// without the retain flag, where publishing it retained would cost the
		// connection [MQTT-3.3.1-19].
		msg.Retain = false
	}
	if o.ProtocolVersion == ProtocolV5 {
		msg.Properties = packetProperties(o.Properties, "publish")
	}
	pw := &pubWarnings{c: c, qos: msg.QoS}
	if c.Bool("stdin-line") {
		err = pubLines(ctx, cl, msg, c.App.Reader, pw)
	} else {
		n := max(c.Int("repeat"), 1)
		delay := time.Duration(c.Float64("repeat-delay") * float64(time.Second))
		for i := 0; i < n && err == nil; i++ {
			if i > 0 && delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err == nil {
				err = pw.check(cl.PublishAsync(ctx, msg))
				if err == nil {
					err = pw.wait(ctx)
				}
			}
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dp := packetProperties(o.Properties, "disconnect")
	if err != nil {
		if errors.Is(err, client.ErrConnectionLost) && cl.Err() != nil {
			err = cl.Err() // why the connection ended: a DISCONNECT, a protocol error, ...
		}
		switch {
		case errors.Is(err, client.ErrQoSNotSupported):
			// mosquitto_pub prints this and exits 0, though nothing was published.
			cl.Disconnect(dctx, packet.NormalDisconnection, &dp)
			return mosqError(c, exitError, "Error: Message QoS not supported on broker, try a lower QoS.")
		case errors.Is(err, client.ErrPacketTooLarge):
			// mosquitto_pub prints nothing and exits 0, though nothing was published.
			cl.Disconnect(dctx, packet.NormalDisconnection, &dp)
			return mosqError(c, exitError, "Error: Message is larger than the broker's maximum packet size.")
		}
		msg, code := lostErrorMessage(err)
		return mosqError(c, code, "%s", msg)
	}
	cl.Disconnect(dctx, packet.NormalDisconnection, &dp)
	return nil
}

// pubPayload reads the payload of -m, -f or -s (nil for -n and -l), at most max bytes.
// With snLimit (pub --sn, whose PUBLISH is one datagram) -m is checked too, and the
// messages name the limit itself; without it they are mosquitto_pub's, whose "less than"
// names the first size refused minus one.
func pubPayload(c *ucli.Context, max int, snLimit bool) ([]byte, error) {
	tooLarge := func(what string, n int) string {
		return fmt.Sprintf("Error: %s is %d bytes; with --sn it must be at most %d bytes, what one UDP datagram holds after the MQTT-SN header.", what, n, max)
	}
	switch {
	case c.IsSet("message"):
		if m := c.String("message"); snLimit && len(m) > max {
			return nil, mosqError(c, exitError, "%s", tooLarge("Message", len(m)))
		}
		return []byte(c.String("message")), nil
	case c.IsSet("file"):
		name := c.String("file")
		payload, err := os.ReadFile(name)
		if err != nil {
			return nil, mosqError(c, exitError, "Error: Unable to open file \"%s\".\nError loading input file \"%s\".", name, name)
		}
		if len(payload) > max {
			if snLimit {
				return nil, mosqError(c, exitError, "%s\nError loading input file \"%s\".", tooLarge("File", len(payload)), name)
			}
			return nil, mosqError(c, exitError, "Error: File must be less than %d bytes.\nError loading input file \"%s\".", max, name)
		}
		return payload, nil
	case c.IsSet("stdin-file"):
		payload, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return nil, mosqError(c, exitError, "Error: Unable to read standard input: %s.", errText(err))
		}
		// As mosquitto_pub: empty input is an error, not a zero-length message (which, with
		// -r, would erase the retained value). An empty -f file is published (mosquitto_pub
		// 2.0.11 does), and -n is the way to send an empty payload on purpose.
		if len(payload) == 0 {
			return nil, mosqError(c, exitError, "Error: Zero length input.\nError loading input from stdin.")
		}
		if len(payload) > max {
			if snLimit {
				return nil, mosqError(c, exitError, "%s", tooLarge("Standard input", len(payload)))
			}
			return nil, mosqError(c, exitError, "Error: Standard input must be less than %d bytes.", max)
		}
		return payload, nil
	}
	return nil, nil
}

// pubLines sends one message per line of r, pipelined through the
// inflight window. As mosquitto_pub, the newline is stripped (a '\r' is
// kept) and a last line without a newline is sent too.
func pubLines(ctx context.Context, cl *client.Client, tmpl client.Message, r io.Reader, pw *pubWarnings) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			m := tmpl
			m.Payload = line
			if perr := pw.check(cl.PublishAsync(ctx, m)); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return pw.wait(ctx)
}

// pubWarnings keeps the tokens of messages in flight and prints
// mosquitto_pub's warning for each one the broker refuses (v5), in order.
type pubWarnings struct {
	c       *ucli.Context
	qos     byte
	pending []*client.Token
}

func (p *pubWarnings) check(t *client.Token, err error) error {
	if err != nil {
		return err
	}
	p.pending = append(p.pending, t)
	// Report what has completed so far; keep the slice short.
	i := 0
	for ; i < len(p.pending); i++ {
		select {
		case <-p.pending[i].Done():
			if err := p.report(p.pending[i]); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	p.pending = p.pending[i:]
	return nil
}

func (p *pubWarnings) wait(ctx context.Context) error {
	for _, t := range p.pending {
		select {
		case <-t.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := p.report(t); err != nil {
			return err
		}
	}
	p.pending = p.pending[:0]
	return nil
}

func (p *pubWarnings) report(t *client.Token) error {
	err := t.Err()
	var ae *client.AckError
	if errors.As(err, &ae) {
		if !p.c.Bool("quiet") {
			fmt.Fprintf(p.c.App.ErrWriter, "Warning: Publish %d failed: %s.\n", ae.PacketID, reasonString(ae.Code))
			// libmosquitto passes the PUBACK's properties to mosquitto_pub, not the
			// PUBREC's, so its reason string shows at QoS 1 only.
			if ae.ReasonString != "" && p.qos == 1 {
				fmt.Fprintf(p.c.App.ErrWriter, "%s\n", ae.ReasonString)
			}
		}
		return nil
	}
	return err
}

// errText is an error's message without Go's "op path:" prefixes, e.g.
// "no such file or directory".
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// randomClientID is what libmosquitto sends for MQTT 3.1, which does not
// allow an empty client ID: "mosq-" and 18 random alphanumerics.
func randomClientID() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte("mosq-")
	for range 18 {
		b = append(b, chars[rand.IntN(len(chars))])
	}
	return string(b)
}
