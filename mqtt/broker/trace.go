package broker

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Packet tracing: with the logger at Debug level (`mqtt serve -v`,
// log_type debug or all) every packet received and sent is logged in
// Mosquitto's words, which people debug with:
//
//	Received PUBLISH from sensor-1 (d0, q1, r0, m3, 'home/temp', ... (4 bytes))
//	Sending PUBACK to sensor-1 (m3, rc0)
//
// Whether to trace is looked up once per sweep (refreshTrace), not per
// packet, so a broker logging at Info pays one atomic load per packet;
// the lines are built only when tracing.

// refreshTrace notes whether the logger takes Debug lines now (a SIGHUP
// may change log_type).
func (b *Broker) refreshTrace() {
	b.trace.Store(b.log.Enabled(context.Background(), slog.LevelDebug))
}

// who names the client in a trace line: its id, or its address before
// CONNECT.
func (c *conn) who() string {
	if c.info.ClientID != "" {
		return c.info.ClientID
	}
	return c.logAddr()
}

func publishTrace(verb, dir, who string, dup bool, qos byte, retain bool, id uint16, topic string, n int) string {
	var sb strings.Builder
	sb.Grow(64 + len(who) + len(topic))
	sb.WriteString(verb + " PUBLISH " + dir + " " + who + " (d" + b01(dup) + ", q")
	sb.WriteByte('0' + qos)
	sb.WriteString(", r" + b01(retain) + ", m" + strconv.Itoa(int(id)) + ", '" + topic + "', ... (" + strconv.Itoa(n) + " bytes))")
	return sb.String()
}

// traceIn logs a packet received from the client.
func (c *conn) traceIn(p packet.Packet) {
	who := c.who()
	var msg string
	switch p := p.(type) {
	case *packet.Publish:
		verb := "Received"
		if c.tooLarge(p) { // Mosquitto's line for it, instead of "Received" and "Denied"
			verb = "Dropped too large"
		}
		name := p.Topic
		if name == "" && p.Properties.HasTopicAlias && c.x != nil {
			name = c.x.aliasIn[p.Properties.TopicAlias] // as Mosquitto, the topic the alias stands for
		}
		msg = publishTrace(verb, "from", who, p.Dup, p.QoS, p.Retain, p.PacketID, name, len(p.Payload))
	case *packet.Puback:
		msg = "Received PUBACK from " + who + " (Mid: " + strconv.Itoa(int(p.PacketID)) + ", RC:" + strconv.Itoa(int(p.ReasonCode)) + ")"
	case *packet.Pubrec:
		msg = "Received PUBREC from " + who + " (Mid: " + strconv.Itoa(int(p.PacketID)) + ")"
	case *packet.Pubrel:
		msg = "Received PUBREL from " + who + " (Mid: " + strconv.Itoa(int(p.PacketID)) + ")"
	case *packet.Pubcomp:
		msg = "Received PUBCOMP from " + who + " (Mid: " + strconv.Itoa(int(p.PacketID)) + ", RC:" + strconv.Itoa(int(p.ReasonCode)) + ")"
	case *packet.Subscribe: // handleSubscribe traces each filter
		msg = "Received SUBSCRIBE from " + who
	case *packet.Unsubscribe:
		msg = "Received UNSUBSCRIBE from " + who
	case *packet.Pingreq:
		msg = "Received PINGREQ from " + who
	case *packet.Disconnect:
		msg = "Received DISCONNECT from " + who
	case *packet.Auth:
		msg = "Received AUTH from " + who + " (rc" + strconv.Itoa(int(p.ReasonCode)) + ", " + p.Properties.AuthMethod + ")"
	case *packet.Connect:
		return // Mosquitto logs no line for it; accept logs the will after "New client connected"
	default:
		msg = "Received " + p.Type().String() + " from " + who
	}
	c.traceLines(msg)
}

// traceOut logs a control packet sent to the client (PUBLISH: tracePublishOut).
func (c *conn) traceOut(p packet.Packet, first byte, id uint16) {
	who := c.who()
	if p == nil { // a plain acknowledgement
		switch first {
		case 0x40:
			c.traceLines("Sending PUBACK to " + who + " (m" + strconv.Itoa(int(id)) + ", rc0)")
		case 0x50:
			c.traceLines("Sending PUBREC to " + who + " (m" + strconv.Itoa(int(id)) + ", rc0)")
		case 0x62:
			c.traceLines("Sending PUBREL to " + who + " (m" + strconv.Itoa(int(id)) + ")")
		case 0x70:
			c.traceLines("Sending PUBCOMP to " + who + " (m" + strconv.Itoa(int(id)) + ")")
		}
		return
	}
	var msg string
	switch p := p.(type) {
	case *packet.Connack:
		if p.ReasonCode != packet.Success {
			who = hostOf(c.logAddr()) // a refused client has no id yet: Mosquitto names its address (a unix socket's path)
		}
		msg = "Sending CONNACK to " + who + " (" + b01(p.SessionPresent) + ", " + strconv.Itoa(int(connackCode(p.ReasonCode, c.version))) + ")"
	case *packet.Puback:
		msg = "Sending PUBACK to " + who + " (m" + strconv.Itoa(int(p.PacketID)) + ", rc" + strconv.Itoa(int(p.ReasonCode)) + ")"
	case *packet.Pubrec:
		msg = "Sending PUBREC to " + who + " (m" + strconv.Itoa(int(p.PacketID)) + ", rc" + strconv.Itoa(int(p.ReasonCode)) + ")"
	case *packet.Pubrel:
		msg = "Sending PUBREL to " + who + " (m" + strconv.Itoa(int(p.PacketID)) + ")"
	case *packet.Pubcomp:
		msg = "Sending PUBCOMP to " + who + " (m" + strconv.Itoa(int(p.PacketID)) + ")"
	case *packet.Suback:
		msg = "Sending SUBACK to " + who
	case *packet.Unsuback:
		msg = "Sending UNSUBACK to " + who
	case *packet.Pingresp:
		msg = "Sending PINGRESP to " + who
	case *packet.Disconnect:
		msg = "Sending DISCONNECT to " + who + " (rc" + strconv.Itoa(int(p.ReasonCode)) + ")"
	case *packet.Auth:
		msg = "Sending AUTH to " + who + " (rc" + strconv.Itoa(int(p.ReasonCode)) + ", " + p.Properties.AuthMethod + ")"
	default:
		msg = "Sending " + p.Type().String() + " to " + who
	}
	c.traceLines(msg)
}

// traceLines logs msg, one log line per line of it (Mosquitto logs the
// filters of a SUBSCRIBE as lines of their own). It hands the records to
// the handler directly: slog.Logger.Debug would look up its caller's
// program counter for every packet, which tracing cannot afford.
func (c *conn) traceLines(msg string) {
	h := c.b.log.Handler()
	now := time.Now()
	for line := range strings.SplitSeq(msg, "\n") {
		h.Handle(context.Background(), slog.NewRecord(now, slog.LevelDebug, line, 0))
	}
}

// connackCode is the CONNACK return code as the client gets it: 3.x
// clients get their protocol's code for an MQTT 5 reason.
func connackCode(rc packet.ReasonCode, version byte) packet.ReasonCode {
	if version == packet.V5 {
		return rc
	}
	return packet.ReasonCode(packet.ConnackReturnCode(rc))
}
