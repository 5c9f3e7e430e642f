//go:build unix

package sn

import (
	"context"
	"syscall"
	"testing"
)

// A gateway socket on a loopback address has no SO_BROADCAST: a broadcast from it reaches no
// one. One on every interface has it, for ADVERTISE.
func TestListenUDPBroadcast(t *testing.T) {
	for _, c := range []struct {
		addr string
		want int
	}{{"127.0.0.1:0", 0}, {":0", 1}} {
		pc, err := ListenUDP(context.Background(), c.addr)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := pc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		pc.Close()
		if (v != 0) != (c.want != 0) {
			t.Errorf("%s: SO_BROADCAST %d, want %d", c.addr, v, c.want)
		}
	}
}
