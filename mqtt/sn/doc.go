// Package sn is MQTT-SN 1.2 (MQTT For Sensor Networks, Stanford-Clark and Truong, 2013): the
// message codec, a client, and a transparent gateway that gives every MQTT-SN client its own
// MQTT session on a broker. Spec sections are cited as [MQTT-SN 5.4.12].
//
// # Codec
//
// Decode turns one UDP datagram into one Message (a pointer to one struct per message type
// of section 5.4, plus Encapsulated for the forwarder frame of 5.5); Append encodes one. The
// codec checks structure only (Length, fixed field sizes, reserved types) and keeps every
// field a peer sent, even values the spec reserves, so that the gateway, not the codec,
// decides which return code a message earns. Decoding never panics and allocates once per
// message (plus its string fields); decoded byte fields alias the datagram. Errors are *Error
// wrapping ErrTruncated, ErrLength, ErrReservedType or ErrMalformed.
//
// # Gateway
//
// Gateway is a transparent gateway [MQTT-SN 4]: each client's CONNECT opens one upstream
// MQTT connection (Upstream) with the client's id, clean session, keep alive and will, and
// the gateway translates messages both ways with mqtt/packet: PUBLISH, its acknowledgements
// (the MQTT-SN MsgId is the MQTT packet id, so QoS 2 deduplication stays the broker's),
// SUBSCRIBE, UNSUBSCRIBE. What MQTT has no counterpart for, the gateway does itself: topic
// ids (per client, REGISTER in both directions, predefined ids from Predefined, short
// names), the will dialogue, PINGREQ, sleeping clients, ADVERTISE and GWINFO, and the QoS −1
// publishes of clients that never connected, which go up one shared connection.
//
// Two upstreams exist: NetUpstream dials a broker over the network with mqtt/client's
// transports (`mqtt sn-gateway`), BrokerUpstream attaches to a broker in the same process
// with broker.Attach (`mqtt serve --sn-listen`, `mqtt sn-gateway --embedded`).
//
// Shape, chosen for many idle clients:
//   - one read loop reads the UDP socket (recvmmsg batches on Linux) and handles every
//     datagram, one at a time, so each client's messages keep their order;
//   - one sweep goroutine runs every client's timers (keep alive, sleep, set-up and
//     retransmission deadlines, upstream pings) every SweepInterval: no timer per client;
//   - one retry goroutine sends unanswered messages again on time: each send puts its
//     deadline in one heap (no timer per message), so that a retransmission does not wait
//     for the next sweep;
//   - one pacer goroutine sends the next burst of clients' backlogs (see below);
//   - one worker goroutine makes the upstream Sends and Closes the upstream's own callbacks
//     may not make (LocalConn forbids them from Deliver);
//   - up to MaxConnecting goroutines open upstream connections, taking CONNECTs from a
//     queue in order; one goroutine runs each reconnection for a changed will (will.go), and
//     one reopens the shared QoS −1 connection while it is down;
//   - no goroutine per client, and a client's queues and in-flight tables exist only while
//     in use. An idle client holds its session struct, its id and its topics: about 1.5 KiB
//     with BrokerUpstream, the broker's session included (BenchmarkIdleClientMemory).
//
// A message from the broker that does not fit the datagram it would go in (MaxMessageSize:
// by default what UDP carries, 65,507 octets over IPv4 with the MQTT-SN header), or whose
// topic needs a REGISTER that does not (a name of more than 65,499 octets), is dropped,
// counted and acknowledged to the broker (PUBACK, or PUBREC then PUBCOMP), so that it is
// neither lost silently nor retried for ever in front of the client's other messages.
//
// Downstream, one QoS 1/2 message is in flight per client at a time [MQTT-SN 6.6]; the rest
// wait in order, QoS 0 up to MaxQueued messages and MaxQueuedBytes octets (the newest
// kept), QoS 1/2 within the broker's inflight window (they are acknowledged upstream only
// when the client acknowledges them).
// A backlog goes out in bursts of DeliveryBurst with DeliveryPause between them: one pacer
// goroutine runs while any client has one. Unanswered REGISTER,
// PUBLISH and PUBREL are sent again every RetryInterval; after MaxRetries the client is
// lost. Nothing is allocated per client for an address that never sent a CONNECT: other
// messages from it are dropped and counted (Stats), except SEARCHGW (answered) and QoS −1
// PUBLISH (forwarded); one a client sends only while connected (PUBLISH, PINGREQ, a PINGREQ
// waking an unknown client id, ...) is answered with DISCONNECT, which tells a client whose
// session is gone (lost, ended by the broker while it slept, taken over from another
// address, whose old address is told at once) to connect again [MQTT-SN 5.4.21].
//
// Locks: the gateway's mu (its maps) may be held when a client's mu is taken, never the other
// way round; connMu (the set-up queue), paceMu (the pacer's list), retryMu (the retry heap)
// and taskMu (the worker's tasks) are leaves, taken under either or none. No lock is held while an Upstream or
// UpstreamConn method runs.
//
// # Interpretations
//
// Where MQTT-SN 1.2 leaves room, the gateway does this:
//   - A client is lost after 1.5 times its keep alive, or its sleep duration, without a
//     message, the tolerance MQTT gives [MQTT-3.1.2-24].
//   - A CONNECT from an asleep or awake client only makes it active again: its session is
//     kept and CleanSession is ignored; Will prompts for a new will (as Eclipse Paho's and
//     Bisquitt's gateways read Figure 4 of [MQTT-SN 6.14]). A CONNECT from an active client
//     with CleanSession and Will false (its CONNACK was lost) is answered again; otherwise it
//     starts a new session.
//   - MQTT cannot change a connection's will. After WILLTOPICUPD or WILLMSGUPD from a
//     CleanSession false client the gateway reconnects its MQTT session (DISCONNECT, then
//     CONNECT with CleanSession false and the new will, or none), so that the broker holds
//     the current will even if the gateway or its link to the broker fails; the session
//     carries over and what the client sends meanwhile waits (will.go). A CleanSession true
//     session would not survive that (MQTT ends it with its connection): for those clients
//     the gateway keeps the new will and, if the client is lost, publishes it itself and
//     ends the connection with DISCONNECT so the broker's (old) will is not published
//     [MQTT-SN 6.4]; if the gateway itself dies, the broker publishes the old one.
//   - With CleanSession false the gateway remembers a disconnected client's will and topic
//     ids for its next CONNECT [MQTT-SN 6.3], for up to MaxClients clients and
//     MaxStoredBytes octets over all of them, forgetting the one remembered first beyond
//     either. A client's topic table is bounded by MaxTopics and MaxTopicBytes.
//   - A QoS 1/2 PUBLISH with MsgId 0 is refused with "rejected: not supported": MQTT has no
//     packet id 0.
//   - ClientIds of 24 to MaxClientIDLength (256) octets are accepted, a deliberate leniency
//     beyond the spec's 1 to 23 characters [MQTT-SN 5.3.1], as MQTT brokers accept long ids
//     (serial numbers, UUIDs with a prefix). An empty one, a longer one, and one MQTT cannot
//     carry (not UTF-8, or with U+0000) get "rejected: not supported" at once, with no
//     upstream connection.
//   - Client ids, will topics, topic names and filters holding a character a broker may close
//     the connection for [MQTT-1.5.3] (packet.Discouraged: control characters and
//     non-characters; Mosquitto does close it) are refused, as MQTT cannot carry them
//     reliably: CONNACK, REGACK, SUBACK, WILLTOPICRESP "rejected: not supported", a PUBLISH
//     to such a short name "rejected: invalid topic ID", a QoS −1 one dropped and counted.
//     Relayed, they would cut the client's connection, or the shared one of QoS −1
//     publishes, and "congestion" would have the client retry for ever.
package sn
