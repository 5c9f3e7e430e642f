module github.com/mqttkit/mqtt/scripts/mochi

go 1.22

// TLS as ours negotiates it (its go line is 1.26): a go 1.22 line alone would
// also turn off Go 1.24's post-quantum key exchange (tlsmlkem=0), so this peer
// would do X25519 alone where ours does X25519MLKEM768, a third less CPU per
// handshake for it (bench-compare's tls scenario).
godebug (
	tlsmlkem=1
	tlssecpmlkem=1
)

require github.com/mochi-mqtt/server/v2 v2.7.9

require (
	github.com/gorilla/websocket v1.5.0 // indirect
	github.com/rs/xid v1.4.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
