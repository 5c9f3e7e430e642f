// Command mochi is the peer broker of scripts/bench-compare.sh: mochi-mqtt v2 with its
// defaults, anonymous access, one TCP listener, logging warnings only. It is its own module
// so that the product's go.mod never gains mochi.
//
// With -sink it is instead a trivial MQTT sink: it answers CONNECT with an accepted CONNACK
// and discards everything else (no PUBACK, so QoS 0 only). bench-compare.sh drives it with
// `mqtt bench pub` to measure how hard the generator itself can push, with no broker work.
//
//	go build -o mochi . && ./mochi -addr 127.0.0.1:1885 [-sink]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1885", "TCP `host:port` to listen on")
	sink := flag.Bool("sink", false, "be a discard sink instead of a broker (QoS 0 publishers only)")
	flag.Parse()

	if *sink {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		go serveSink(ln)
	} else {
		server := mqtt.New(&mqtt.Options{
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
			log.Fatal(err)
		}
		if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: *addr})); err != nil {
			log.Fatal(err)
		}
		go func() {
			if err := server.Serve(); err != nil {
				log.Fatal(err)
			}
		}()
		defer server.Close()
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", *addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
}

// serveSink accepts connections until the listener fails.
func serveSink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go sinkConn(c)
	}
}

// sinkConn reads the fixed header and remaining length of the first packet (CONNECT), skips
// its body, answers CONNACK (accepted; for MQTT 5 with an empty property list) and then reads
// and drops bytes until the client goes.
func sinkConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	if _, err := br.ReadByte(); err != nil {
		return
	}
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil || n < 7 {
		return
	}
	// Protocol name (2-byte length + name), then the protocol level.
	nameLen := int(body[0])<<8 | int(body[1])
	connack := []byte{0x20, 0x02, 0x00, 0x00}
	if 2+nameLen < len(body) && body[2+nameLen] == 5 {
		connack = []byte{0x20, 0x03, 0x00, 0x00, 0x00}
	}
	if _, err := c.Write(connack); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, br)
}
