// Package packet encodes and decodes MQTT control packets for protocol
// versions 3.1, 3.1.1 and 5.0.
//
// Decoding never panics: any byte sequence yields either a packet or an
// error that carries the reason code the receiver should send (see
// ReasonOf). Encoding appends to a caller's buffer so the hot path does not
// allocate per packet.
//
// Decoded packets may alias the input buffer: Publish.Payload, binary
// properties and Password slices point into the bytes given to Decode and
// are valid only as long as that buffer is. Strings are copied.
package packet
