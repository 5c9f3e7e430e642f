// Package packet encodes and decodes MQTT control packets for protocol
// versions 3.1, 3.1.1 and 5.0.
//
// Decoding never panics: any byte sequence yields either a packet or an
// error that carries the reason code the receiver should send (see
// ReasonOf). ReadPacket checks a packet's length against the caller's
// maximum before it allocates, and every allocation a decoder makes is
// bounded by the length of the input.
//
// Encoding appends to a caller's buffer so the hot path does not allocate
// per packet: Append computes the size first, writes the remaining length,
// then the body. Append refuses a packet that would be invalid on the wire
// (for example a QoS 1 PUBLISH without a packet identifier, a string over
// 65,535 bytes, or a property the packet may not carry). Properties are
// written only for MQTT 5 and silently dropped for 3.x.
//
// Decoded packets may alias the input buffer: Publish.Payload, binary
// properties and Password slices point into the bytes given to Decode and
// are valid only as long as that buffer is. Strings are copied: all the
// strings of one packet are substrings of a single copy, so a PUBLISH's
// topic and string properties cost one allocation together.
//
// Version handling: the connection's protocol level is passed to Decode,
// ReadPacket, Append and Size; CONNECT carries its own. Before CONNECT a
// connection may pass 0, which decodes like 3.x. A Connack always holds an
// MQTT 5 reason code, mapped to and from 3.x return codes on the wire.
// Topic-name and filter syntax (wildcards, $share) is not checked here:
// that is mqtt/topic's job.
package packet
