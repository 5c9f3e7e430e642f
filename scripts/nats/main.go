// Command nats is the nats-server peer of scripts/bench-compare.sh: nats-server v2
// embedded, with its MQTT listener on -addr. NATS's MQTT support keeps sessions, retained
// messages and QoS 1/2 state in JetStream, so JetStream is on, with its store in a fresh
// temporary directory (removed at exit) unless -store names one, and the server has a
// name. Its client port is chosen at random on loopback; nothing else listens. MQTT 3.1.1
// only: nats-server does not speak MQTT 5.
//
// It is its own module, like scripts/mochi, so that the product's go.mod never gains
// nats-server.
//
//	go build -o nats . && ./nats -addr 127.0.0.1:1886 [-cert server.pem -key server.key]
//
// With -cert and -key the MQTT listener speaks TLS (bench-compare's TLS scenario).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1886", "MQTT listener `host:port`")
	store := flag.String("store", "", "JetStream store `DIR` (default: a temporary directory removed at exit)")
	cert := flag.String("cert", "", "server certificate `FILE` (PEM): the MQTT listener speaks TLS")
	key := flag.String("key", "", "server key `FILE` (PEM), with -cert")
	flag.Parse()
	if (*cert == "") != (*key == "") {
		log.Fatal("nats: -cert and -key go together")
	}
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("nats: -addr %q: %v", *addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		log.Fatalf("nats: -addr %q: bad port", *addr)
	}
	dir := *store
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-nats-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}

	opts := &server.Options{
		ServerName: "bench-compare",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		MQTT:       server.MQTTOpts{Host: host, Port: port},
	}
	if *cert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: *cert, KeyFile: *key})
		if err != nil {
			log.Fatalf("nats: TLS: %v", err)
		}
		opts.MQTT.TLSConfig = tc
		opts.MQTT.TLSTimeout = 10 // seconds: a thousand handshakes at once on two cores take a while
	}
	s, err := server.NewServer(opts)
	if err != nil {
		log.Fatalf("nats: %v", err)
	}
	s.SetLoggerV2(warnLogger{}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		log.Fatal("nats: not ready after 30 s")
	}
	fmt.Fprintf(os.Stderr, "nats-server %s: MQTT on %s\n", server.VERSION, *addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	s.Shutdown()
	s.WaitForShutdown()
}

// warnLogger prints warnings, errors and fatal errors to stderr, as mochi's peer does.
type warnLogger struct{}

func (warnLogger) Noticef(string, ...any) {}
func (warnLogger) Debugf(string, ...any)  {}
func (warnLogger) Tracef(string, ...any)  {}
func (warnLogger) Warnf(format string, v ...any) {
	log.Printf("[WRN] "+format, v...)
}
func (warnLogger) Errorf(format string, v ...any) {
	log.Printf("[ERR] "+format, v...)
}
func (warnLogger) Fatalf(format string, v ...any) {
	log.Fatalf("[FTL] "+format, v...)
}
