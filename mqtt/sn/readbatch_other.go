//go:build !linux

package sn

// readBatches reads datagrams in batches where the system has recvmmsg (Linux); elsewhere
// the read loop reads one at a time.
func (g *Gateway) readBatches() bool { return false }
