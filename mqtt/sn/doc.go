// Package sn is MQTT-SN 1.2 (MQTT For Sensor Networks, Stanford-Clark and Truong, 2013): the
// message codec, a client, and a transparent gateway that gives every MQTT-SN client its own
// MQTT session on a broker.
//
// # Codec
//
// Decode turns one UDP datagram into one Message (a pointer to one struct per message type
// of section 5.4, plus Encapsulated for the forwarder frame of 5.5); Append encodes one. The
// codec checks structure only (Length, fixed field sizes, reserved types) and keeps every
// field a peer sent, even values the spec reserves, so that the gateway, not the codec,
// decides which return code a message earns. Decoding never panics and allocates once per
// string field; decoded byte fields alias the datagram.
package sn
