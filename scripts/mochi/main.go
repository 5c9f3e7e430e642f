// Command mochi is the peer broker of scripts/bench-compare.sh: mochi-mqtt v2 with its
// defaults, anonymous access, one TCP listener, logging warnings only. It is its own module
// so that the product's go.mod never gains mochi.
//
// With -sink it is instead a trivial MQTT sink: it answers CONNECT with an accepted CONNACK,
// QoS 1 PUBLISH with PUBACK and drops everything else (no QoS 2, no subscriptions).
// bench-compare.sh drives it with `mqtt bench pub` to measure how hard the generator itself
// can push when the other side does almost no work.
//
// With -cert and -key the broker's listener speaks TLS (bench-compare's TLS scenario), with
// the key exchanges of Go 1.26 as ours (go.mod's godebug lines).
//
//	go build -o mochi . && ./mochi -addr 127.0.0.1:1885 [-sink | -cert server.pem -key server.key]
package main

import (
	"bufio"
	"crypto/tls"
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
	sink := flag.Bool("sink", false, "be a discard sink instead of a broker (QoS 0 and 1 publishers only)")
	cert := flag.String("cert", "", "server certificate `FILE` (PEM): the listener speaks TLS")
	key := flag.String("key", "", "server key `FILE` (PEM), with -cert")
	flag.Parse()
	var tlsConfig *tls.Config
	if (*cert == "") != (*key == "") {
		log.Fatal("mochi: -cert and -key go together")
	}
	if *cert != "" {
		kp, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	}

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
		if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: *addr, TLSConfig: tlsConfig})); err != nil {
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

// sinkConn answers CONNECT with an accepted CONNACK (for MQTT 5 with an empty property
// list), then reads packets and drops them, answering QoS 1 PUBLISH with PUBACK (batched:
// written when nothing more is buffered) so QoS 1 publishers keep going.
func sinkConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	var body, out []byte
	first := true
	for {
		if len(out) > 0 && br.Buffered() == 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
		h, err := br.ReadByte()
		if err != nil {
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
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		switch {
		case first:
			first = false
			// Protocol name (2-byte length + name), then the protocol level.
			if n < 7 {
				return
			}
			nameLen := int(body[0])<<8 | int(body[1])
			if 2+nameLen < n && body[2+nameLen] == 5 {
				out = append(out, 0x20, 0x03, 0x00, 0x00, 0x00)
			} else {
				out = append(out, 0x20, 0x02, 0x00, 0x00)
			}
		case h>>4 == 3 && (h>>1)&3 == 1 && n >= 4: // PUBLISH QoS 1: topic, then packet id
			tl := int(body[0])<<8 | int(body[1])
			if 2+tl+2 <= n {
				out = append(out, 0x40, 0x02, body[2+tl], body[3+tl])
			}
		case h>>4 == 12: // PINGREQ
			out = append(out, 0xd0, 0x00)
		case h>>4 == 14: // DISCONNECT
			return
		}
	}
}
