package cli

import (
	"bytes"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// manSection is what a man page needs beyond the command definition: text that does not
// belong in --help. Keyed by subcommand name; edit it when a command's exit codes change.
type manSection struct {
	description []string   // paragraphs after the command's Description
	sections    []manProse // sections after OPTIONS, e.g. OUTPUT FORMAT, SIGNALS
	exitStatus  []string   // one paragraph per code or group of codes
	examples    []string   // command lines
	files       []manItem  // FILES
	seeAlso     []string   // pages beyond mqtt(1) and the other commands, as "name(section)"
	tool        string     // the Mosquitto tool this command stands in for
}

// manItem is one tagged paragraph (.TP): a path, a signal, a format code.
type manItem struct{ tag, text string }

// manProse is a hand-written section: paragraphs, then tagged paragraphs.
type manProse struct {
	title string
	paras []string
	code  string // an example shown as typed (.EX), after the paragraphs
	items []manItem
}

func manExtras(name string) manSection {
	switch name {
	case "serve":
		return manSection{
			description: []string{
				"With -c FILE the configuration is read from FILE, in Mosquitto 2.0's mosquitto.conf syntax: see mqtt.conf(5) for every directive. " +
					"An unknown directive or a bad value stops the broker with an error naming the file and line; directives that are read but not honoured yet are warned about by name.",
				"Without -c the broker runs the configuration of an empty file with the listeners of -p, --listen and --sn-listen: the same defaults, " +
					"the same log (errors, warnings, notices and information on standard error, as Mosquitto's default log_type) and the same signals as with -c.",
				"The broker keeps sessions, subscriptions, queued and retained messages in memory; with --data DIR (or persistence true) they are also written to disk as they change. " +
					"Its queue and inflight limits were chosen by measurement so that a burst a subscriber can absorb loses no QoS 1 or 2 message; a configuration file may set Mosquitto's limits instead.",
				"With a store, a retained message, or a QoS 1 or 2 message for a persistent session, can be at most 16,509,936 bytes as a PUBLISH packet (about 15.7 MiB: " +
					"one copy must fit in the store's 16 MiB journal). A larger one is refused as too large, with a log line: an MQTT 5 client gets DISCONNECT 0x95 (Packet too large), " +
					"an MQTT 3.1.1 client is disconnected; refusing it as quota exceeded would have the client retry for ever. Messages that need no store go up to max_packet_size. " +
					"The stored copies of a QoS 2 message (one for each persistent session it reaches, and the retained one) are written together, so that it is delivered exactly once across a crash: " +
					"for QoS 2 the limit holds for all of them together, each counted as the PUBLISH packet, its topic once more, the publisher's and the session's client ids and 1,024 bytes (a shared group once, with its name and filter, whichever member takes it), and a message whose copies exceed it is refused the same way before anyone receives it. " +
					"QoS 1 copies are written apart.",
				"With --sn-listen (or a \"protocol mqttsn\" listener in the configuration) the broker also runs an MQTT-SN 1.2 gateway on that UDP port, " +
					"whose clients attach to the broker in-process: see mqtt-sn-gateway(1).",
			},
			sections: []manProse{{title: "SIGNALS", items: []manItem{
				{"SIGINT, SIGTERM", "Stop accepting connections, close every client connection and exit."},
				{"SIGHUP", "Logs \"Reloading config.\", as Mosquitto, and reads the configuration file, the password file, the ACL file and the TLS certificates and keys again, without dropping connections: " +
					"new connections and every later publish, subscribe and delivery use the new password_file, acl_file and allow_anonymous settings and rules, " +
					"and log_dest, log_type, log_timestamp and connection_messages take effect. Bad lines of a password file are skipped with a warning, as at start; " +
					"if the configuration or an ACL file has an error, or a file cannot be read, the running rules stay in force " +
					"and the log says why (FILE:LINE). Changed listeners and limits need a restart; the log says so. Started without -c, the broker has nothing to read again and goes on. " +
					"systemctl reload mqtt sends it."},
			}}, serveDifferences},
			exitStatus: []string{"The exit statuses are those of mosquitto 2.0.11, so that scripts and service managers see the same.",
				"0 after a clean shutdown (SIGINT or SIGTERM), or when --test-config finds the configuration usable, or --check the store.",
				"1 when a listener cannot be opened (the port is in use, two listener lines name one port and address, or its address is no IP address and does not resolve as a host name, which --test-config finds too), a certificate, key or CRL does not load, tls_version names an unknown version, the store cannot be used (also for --check), or the start fails otherwise once the configuration was read.",
				"3 on a bad command line (an unknown option or argument, a bad port), or when the configuration file cannot be read or has a bad line, as has an ACL file or an MQTT-SN predefined-topics file (sn_predefined, --sn-predefined) it names. Nothing listens in that case.",
				"13 when a password, ACL or MQTT-SN predefined-topics file the configuration (or --sn-predefined) names cannot be opened (missing, a directory, not readable), also with --test-config, or the configuration names a plugin (plugin or auth_plugin): plugins are not supported yet, and Mosquitto exits 13 when it cannot load one."},
			examples: []string{"mqtt serve -v", "mqtt serve -p 1883 -p 1884", "mqtt serve --listen :1883", "mqtt serve --sn-listen 1884", "mqtt serve -c /etc/mqtt/mqtt.conf", "mqtt serve --test-config -c /etc/mqtt/mqtt.conf"},
			files:    []manItem{{"/etc/mqtt/mqtt.conf", "The configuration the packaged systemd unit, mqtt.service, starts the broker with."}},
			seeAlso:  []string{"mqtt.conf(5)", "mosquitto(8)"},
			tool:     "mosquitto",
		}
	case "pub":
		return manSection{
			description: []string{
				"The payload comes from exactly one of -m, -f, -n, -l or -s, given once; two of them, or one of them twice, exit 1 with \"Error: Only one type of message can be sent at once.\", as mosquitto_pub. With -l each line of standard input is published as its own message " +
					"over one connection, until end of input; messages are sent in order.",
				"Connection options (-h, -p, -L, TLS, MQTT 5 properties with -D) are the same for pub, sub, sn-gateway and bench. " +
					"With MQTT 5 (-V 5) a publish the broker refuses prints its reason code.",
				"With --sn, pub speaks MQTT-SN 1.2 over UDP to the gateway at -h and -p (default port 1884; see mqtt-sn-gateway(1)): " +
					"-t names a topic the client REGISTERs first, --short sends a two-character -t as a short topic name, --topic-id N uses a predefined topic id. " +
					"-q -1 publishes to a short or predefined topic without connecting. -i, -I, -k, -c and the will options apply; " +
					"TLS, WebSocket, -V, -u, -P and -D do not. A refused publish prints MQTT-SN's return code and exits 1. " +
					"A message goes in one UDP datagram: at most 65498 octets of payload over IPv4 (65518 over IPv6); a larger -m, -f or -s " +
					"is refused before anything is sent, a larger line of -l when it is read. " +
					"A gateway that answers CONNECT \"rejected: congestion\" is asked again after a pause of about a second that doubles, " +
					"for up to 5 minutes (T_WAIT); nothing listening at the gateway's address fails at once (Connection refused), a gateway " +
					"that stays silent after 3 retransmissions 10 s apart. Interrupted by SIGINT or SIGTERM, the client sends DISCONNECT, " +
					"so that the gateway publishes no will. Client ids longer than the specification's 23 characters (up to 256 octets) are " +
					"sent with a warning: mqtt sn-gateway accepts them, other gateways may not.",
			},
			sections: []manProse{pubDifferences},
			exitStatus: []string{"0 when the message was published, or when an MQTT 5 broker refused it in PUBACK or PUBREC: a warning names its reason code, as mosquitto_pub's does.",
				"1 on a usage error, or when the connection cannot be made (refused, no such host, a bad -A).",
				"The CONNACK reason code when the broker refuses the connection, for example 5 (not authorised) under MQTT 3.1.1 or 135 under MQTT 5.",
				"As mosquitto_pub, libmosquitto's codes when the connection ends early: 2 when the broker broke the protocol, 4 when it sent DISCONNECT, 7 when the connection was lost, 8 when the TLS handshake failed, 19 when the broker stopped answering within the keep alive."},
			examples: []string{"mqtt pub -t sensors/temp -m 21.5", "mqtt pub -t status -r -n", "mqtt pub -V 5 -t a/b -m hi -D publish user-property origin lab",
				"tail -f app.log | mqtt pub -t logs/app -l", "mqtt pub -L mqtts://user:pass@broker.example/sensors/temp -m 21.5"},
			seeAlso: []string{"mosquitto_pub(1)"},
			tool:    "mosquitto_pub",
		}
	case "sub":
		return manSection{
			description: []string{
				"By default each message's payload is printed on a line of its own; -v prefixes the topic, -N omits the newline, " +
					"and -F prints each message in a format of your own, as mosquitto_sub does (see OUTPUT FORMAT). " +
					"Output is byte for byte that of mosquitto_sub 2.0 for the same options.",
				"With --sn, sub speaks MQTT-SN 1.2 over UDP to the gateway at -h and -p (default port 1884; see mqtt-sn-gateway(1)) and prints what arrives " +
					"in the same formats. -t may hold wildcards (the gateway registers each topic before its first message); --short makes every -t a " +
					"two-character short topic name; --topic-id N subscribes to a predefined topic id, whose messages print the id as their topic. " +
					"A topic subscribed to by name prints as its name, also when the gateway sends it by a predefined id (the one its SUBACK gave). " +
					"As pub --sn, it retries a congested gateway and fails at once when nothing listens; an error names the request refused " +
					"(CONNECT, SUBSCRIBE to a topic, UNSUBSCRIBE). On SIGINT or SIGTERM it sends DISCONNECT, so that no will is published.",
			},
			sections: []manProse{{title: "OUTPUT FORMAT",
				paras: []string{"The -F format is printed once per message. % codes print parts of the message; they take mosquitto_sub's flags (- to align left, 0 to pad with zeros), a field width and a precision. @ codes print the time the message arrived, with strftime(3)'s conversions (@Y, @m, @d, @H, @M, @S, ...) plus @N for nanoseconds and @@ for @. \\ escapes print \\\\, \\0, \\a, \\e, \\n, \\r, \\t and \\v. A newline is added after each message unless -N is given."},
				items: []manItem{
					{"%t", "topic"}, {"%p", "payload"}, {"%x, %X", "payload in lower- or upper-case hexadecimal"}, {"%l", "payload length in bytes"},
					{"%q", "QoS"}, {"%r", "retain flag, 0 or 1"}, {"%m", "packet identifier"}, {"%I", "ISO 8601 time of arrival"}, {"%U", "Unix time of arrival with nanoseconds"},
					{"%j", "the message as a JSON object (--pretty indents it)"}, {"%J", "like %j, with the payload included as JSON; messages whose payload is not JSON are reported on standard error"},
					{"%A", "MQTT 5 topic alias"}, {"%C", "content type"}, {"%D", "correlation data"}, {"%E", "message expiry interval"}, {"%F", "payload format indicator"},
					{"%P", "user properties, as name:value separated by spaces"}, {"%R", "response topic"}, {"%S", "subscription identifier"}, {"%%", "a percent sign"},
				}}, subDifferences},
			exitStatus: []string{"0 when -C or -E ends the run, on SIGINT, or when the broker refused every subscription (\"All subscription requests were denied.\").",
				"1 on a usage error, or when the first connection cannot be made.",
				"The CONNACK reason code when the broker refuses the connection.",
				"2 when the broker broke the protocol, 8 when the TLS handshake failed. A connection lost otherwise is made again, as mosquitto_sub does.",
				"27 when -W expires, even if messages were received."},
			examples: []string{"mqtt sub -t 'a/#' -v", "mqtt sub -t '$SYS/#' -v -W 12", "mqtt sub -t sensors/+ -F '%I %t %p'", "mqtt sub -t 'cmd/#' -C 1 -R"},
			seeAlso:  []string{"mosquitto_sub(1)"},
			tool:     "mosquitto_sub",
		}
	case "passwd":
		return manSection{
			description: []string{
				"Each line of a password file is USER:HASH. New hashes are $7$ (PBKDF2-SHA512 with a random salt, 101 iterations unless -I says otherwise), " +
					"as Mosquitto 2.0 writes them; -H sha512 writes $6$ (salted SHA-512) for Mosquitto 1.6 and earlier. Both are read. " +
					"Without -b, \"Password: \" and \"Reenter password: \" are printed on standard output and the password is read twice, a line each time, " +
					"from standard input: unseen on a terminal, and from a pipe too (printf 'pw\\npw\\n' | mqtt passwd FILE USER), as mosquitto_passwd reads it.",
				"Invoked as mosquitto_passwd its usage, messages and exit codes are mosquitto_passwd's; -I sets the PBKDF2 iterations, which mosquitto_passwd 2.0 takes too but does not list.",
				"The broker reads the file named by password_file in its configuration (mqtt.conf(5)).",
			},
			sections: []manProse{passwdDifferences},
			exitStatus: []string{"0 on success.",
				"1 on any error: bad options (the usage is printed), an unknown user with -D, a missing file without -c, a user name containing a colon, an empty password.",
				"2 when the two passwords typed differ."},
			examples: []string{"mqtt passwd -c /etc/mqtt/passwd alice", "mqtt passwd -b /etc/mqtt/passwd bob secret", "mqtt passwd -D /etc/mqtt/passwd alice", "mqtt passwd -U plain.txt"},
			seeAlso:  []string{"mqtt.conf(5)", "mosquitto_passwd(1)"},
			tool:     "mosquitto_passwd",
		}
	case "sn-gateway":
		return manSection{
			description: []string{
				"Sensors speak MQTT-SN 1.2 to the gateway's UDP port, directly or through a forwarder (Forwarder Encapsulation); " +
					"the gateway opens one MQTT connection to the broker for each of them, with the sensor's client id, will, clean session and keep alive, " +
					"and translates every message both ways: CONNECT with the will dialogue, REGISTER, PUBLISH at QoS 0, 1 and 2, SUBSCRIBE and UNSUBSCRIBE " +
					"(topic names with wildcards, predefined topic ids, two-character short topic names), PINGREQ, DISCONNECT, WILLTOPICUPD and WILLMSGUPD. " +
					"It answers SEARCHGW with GWINFO and broadcasts ADVERTISE every --advertise-interval seconds, on time, to 255.255.255.255 on its port " +
					"or to --advertise-to; a gateway on a loopback address (where a broadcast reaches no one) or an IPv6 address (which has no broadcast) " +
					"sends none unless --advertise-to names a target, and says so at start. A target its socket cannot send to (port 0, another address " +
					"family, off the host from loopback) is refused at start.",
				"Topic ids are per client. Before the first message on a topic a client has no id for (a match of a wildcard subscription), " +
					"the gateway sends it a REGISTER; a topic of two characters is sent as a short topic name, a predefined one by its id. " +
					"A subscription by name to a topic predefined for the client (its own entry, else *'s) gets that predefined id in SUBACK, as the id " +
					"its messages then carry; the ids the gateway assigns never take a number predefined for the client, so an id names one topic. " +
					"A client holds up to 1024 topic ids, whose names take at most 256 KiB (1024 names of 256 octets; without that bound, 1024 names of up to 65535 " +
					"octets would take 64 MiB for each client): beyond either, a topic the gateway registers takes the place of the least recently used one it " +
					"registered itself (under a new number; a recycled topic is registered again on its next message), so no message is lost; " +
					"the ids a client registered or subscribed to by name are kept, and a REGISTER beyond 1024 of those (or 256 KiB) gets \"rejected: congestion\". " +
					"For a client with clean session false that disconnects, the gateway remembers its topic ids and will for its next CONNECT, " +
					"up to --max-clients such clients and 64 MiB for all of them: beyond either, the one that disconnected first is forgotten " +
					"(its next PUBLISH on an old id gets \"rejected: invalid topic ID\", and the client registers again). " +
					"A message larger than one UDP datagram (65507 octets over IPv4, the MQTT-SN header included), or than --max-message-size, cannot " +
					"reach the client, nor can one whose topic the gateway would have to REGISTER with a REGISTER that large (a topic name of more than " +
					"65499 octets, or --max-message-size less 8): it is dropped, acknowledged to the broker so that it is not sent again, and counted (-d logs it). " +
					"Messages to a client go one at a time at QoS 1 and 2, each retransmitted every --retry-interval seconds until it is acknowledged; " +
					"a client that does not answer --max-retries retransmissions, or sends nothing for 1.5 times its keep alive, is lost: its connection " +
					"to the broker ends as a network failure, so the broker publishes its will.",
				"QoS -1: a client that never connected may publish to a predefined topic id (one defined for *) or a short topic name; " +
					"such messages go to the broker at QoS 0 through one connection of the gateway's own (client id -i, default mqtt-sn-gateway-GWID-qos-1- and 8 random hexadecimal digits, " +
					"new at each start, so that two gateways in front of one broker never take each other's connection over; with -V mqttv31, " +
					"whose client ids have at most 23 characters, mqttsn-GWID- and 12). " +
					"No client list is needed. If that connection ends (the broker restarts) it is opened again at once, retrying with a growing pause " +
					"while the broker cannot be reached or while it keeps ending within 10 s of opening (another client with the same -i takes it over: " +
					"logged as a warning each time); the newest 64 such messages wait for it meanwhile. A broker that refuses it (allow_anonymous false " +
					"on a \"protocol mqttsn\" listener, which refuses every MQTT-SN client, since they have no user name) is logged as a warning with the " +
					"number of messages dropped, and asked again after --retry-interval.",
				"Sleeping clients: a client that sends DISCONNECT with a duration is asleep; its session stays open on the broker and the gateway keeps " +
					"what arrives for it (QoS 1 and 2 within the broker's inflight window; the newest 1000 QoS 0 messages, the oldest being dropped beyond that, " +
					"and at most 4 MiB of topics and payloads, the oldest QoS 0 messages being dropped to make room and a QoS 0 message that QoS 1 and 2 ones " +
					"leave no room for being dropped itself (1000 messages of 50 KiB for each of a few sleeping clients took hundreds of MB); each drop is counted, " +
					"since the latest readings matter most). When it wakes with a PINGREQ carrying its client id, from any address, it gets them, then PINGRESP: " +
					"QoS 1 and 2 one at a time as always, QoS 0 in bursts of at most 32 messages or 64 KiB with 10 ms between them, so that an ordinary " +
					"receive buffer is not overrun (UDP has no flow control; 1000 messages take about 0.3 s). A client asleep for 1.5 times its duration is lost.",
				"A will changed with WILLTOPICUPD or WILLMSGUPD: MQTT cannot change the will of a connection, so for a client with clean session false " +
					"the gateway reconnects its broker session (DISCONNECT, then CONNECT with clean session false and the new will, or none); the session, " +
					"its subscriptions and messages carry over, and what the client sends meanwhile waits a few milliseconds. The broker then holds the " +
					"current will, and publishes it if the gateway or its link to the broker fails. A clean session would not survive a reconnection, " +
					"so for a client with clean session true the gateway keeps the new will itself and publishes it if the client is lost; " +
					"if the gateway process dies, the broker publishes that client's will of CONNECT. " +
					"If the gateway stops cleanly, clients get DISCONNECT and their connections end without a will.",
				"Bad input (truncated, oversized, wrongly typed or random datagrams, unknown topic ids, messages out of sequence, datagrams from addresses " +
					"that never connected) is answered with the return code MQTT-SN defines, such as \"rejected: invalid topic ID\", or dropped; " +
					"-d logs each drop, at most 10 lines per second about the datagrams of one IP address: beyond that, one line says how many " +
					"were left out, so that a flood from one address does not flood the log. The gateway keeps no state for an address until it connects. " +
					"A client that talks as if connected while it has no session (it was lost, its broker connection ended while it slept, or its client id " +
					"connected again from another address, whose old address is told at once) gets DISCONNECT, so that it knows to connect again.",
				"Connecting: the gateway opens at most 256 broker connections at a time; further CONNECTs wait their turn, in order (up to 16384 " +
					"waiting, beyond which CONNACK says \"rejected: congestion\"), each for at most 30 s. On one machine a burst of 5000 simultaneous " +
					"CONNECTs was accepted in full in 4.7 s through a gateway in front of Mosquitto, and 3000 in 0.25 s with --embedded. " +
					"--max-clients bounds the clients the gateway holds at once.",
				"Client ids: the specification says 1 to 23 characters; the gateway also accepts ids of up to 256 octets, a deliberate leniency " +
					"(MQTT brokers accept long ids, and devices use serial numbers or UUIDs), which mqtt pub --sn and sub --sn warn about since other " +
					"gateways may refuse them. An empty id, a longer one, or one MQTT cannot carry (not UTF-8, or holding U+0000) gets CONNACK " +
					"\"rejected: not supported\" at once; so does one holding a character a broker may close the connection for (a control character, " +
					"U+0001 to U+001F or U+007F to U+009F, or a non-character such as U+FDD0 to U+FDEF or U+FFFF: Mosquitto does). " +
					"Topic names and filters with such characters are refused likewise (REGACK, SUBACK or WILLTOPICRESP \"rejected: not supported\", " +
					"PUBACK \"rejected: invalid topic ID\" for a short name, a QoS -1 publish dropped and counted), and so are predefined topics with them.",
				"Embedded: with --embedded, sn-gateway runs the broker itself (mqtt serve's defaults, MQTT clients on -h/-p, local only unless -h names an address) " +
					"and attaches each MQTT-SN client to it in-process, with no TCP hop: one command where Paho's gateway needs a broker beside it. " +
					"mqtt serve --sn-listen PORT, or a listener with \"protocol mqttsn\" in mqtt.conf(5), runs the same gateway inside the broker, " +
					"with the settings above given as serve's --sn-* options or the listener's sn_* lines (and max_connections). " +
					"An idle MQTT-SN client then costs about 1.6 KiB, gateway and broker state together.",
				"With pub --sn and sub --sn, mqtt pub and mqtt sub speak MQTT-SN to a gateway themselves: see mqtt-pub(1) and mqtt-sub(1).",
			},
			sections: []manProse{
				{title: "PREDEFINED TOPICS FILE",
					paras: []string{
						"The file named by --predefined has one entry a line, in the format of the Eclipse Paho gateway: CLIENTID,TOPIC,ID. " +
							"CLIENTID * defines the id for every client; a client's own entry takes precedence over a * entry with the same id or topic. " +
							"TOPIC runs from the first comma to the last and may be a filter with + or #, which can then only be subscribed to. " +
							"ID is a number from 1 to 65534. Spaces around the fields, empty lines and lines starting with # are ignored. " +
							"An error stops the gateway with the file name and line, for example: topics.conf:3: topic id 12 of client * is already \"sensors/temp\" (line 1).",
						"Example:",
					},
					code: "# ClientId, TopicName, TopicId\n*, sensors/temperature, 1\n*, alarms/#, 2\nboiler-7, boiler/7/cmd, 10"},
				{title: "SIGNALS", items: []manItem{
					{"SIGINT, SIGTERM", "Send DISCONNECT to the connected clients, end their broker connections with DISCONNECT and exit."},
				}},
			},
			exitStatus: []string{"0 after a clean shutdown (SIGINT or SIGTERM).",
				"1 on a usage error, an error in the predefined topics file, or when the UDP port cannot be opened."},
			examples: []string{
				"mqtt sn-gateway -h broker.example",
				"mqtt sn-gateway --embedded -v",
				"mqtt sn-gateway --listen 0.0.0.0:1884 -h 127.0.0.1 -p 1883 --predefined /etc/mqtt/sn-topics.conf -v",
				"mqtt sn-gateway -h broker.example -p 8883 --cafile /etc/ssl/ca.pem -u gateway -P secret --gateway-id 3",
				"mqtt pub --sn -h gateway.local -t sensors/temp -m 21.5 -q 1",
				"mqtt pub --sn -h gateway.local --topic-id 1 -q -1 -m 21.5",
				"mqtt sub --sn -h gateway.local -t 'sensors/#' -v",
			},
		}
	case "bench":
		return manSection{
			description: []string{"The connection options are those of mqtt pub, except the will options (bench clients send no will); every client uses them. Runs are bounded by their count and duration options, and the summary is printed at the end."},
			exitStatus:  []string{"0 when the run completes.", "1 on a usage error or when no connection could be made."},
			examples:    []string{"mqtt bench conn -h 127.0.0.1 -p 1883", "mqtt bench pubsub -h 127.0.0.1"},
		}
	}
	return manSection{exitStatus: []string{"0 on success, 1 on error."}}
}

// serveDifferences is mqtt-serve(1)'s DIFFERENCES FROM MOSQUITTO: every place where the broker
// deliberately answers otherwise than Mosquitto 2.0, and why. Keep it current when one is added.
var serveDifferences = manProse{title: "DIFFERENCES FROM MOSQUITTO",
	paras: []string{"The broker reads Mosquitto 2.0's configuration, logs the same lines in the same log_type categories and answers clients as Mosquitto 2.0.11 does, " +
		"except where Mosquitto departs from the MQTT specification or where its behaviour loses messages, hides a problem or is unsafe. Each difference, and why:"},
	items: []manItem{
		{"No matching subscribers", "An MQTT 5 QoS 2 message that no subscription matched is acknowledged with PUBREC reason code 0x10 (No matching subscribers), so the publisher knows nobody got it; Mosquitto sends 0x00 in PUBREC. For QoS 1 both send PUBACK 0x10."},
		{"message_size_limit", "An MQTT 5 QoS 1 or 2 message larger than message_size_limit is refused with PUBACK or PUBREC reason code 0x83 (Implementation specific error) and the reason string \"payload exceeds message_size_limit\"; Mosquitto sends 0x95 (Packet too large), which is not a PUBACK or PUBREC reason code [MQTT-3.4.2-1], [MQTT-3.5.2-1]. QoS 0 messages are dropped by both; MQTT 3.1.1 publishers get a plain acknowledgement from both."},
		{"allow_zero_length_clientid false", "An MQTT 5 client with an empty client id is refused with CONNACK 0x85 (Client Identifier not valid), the specification's code for it [MQTT-3.1.3-8]; Mosquitto sends 0x80 (Unspecified error). MQTT 3.1.1 clients get return code 2 from both."},
		{"Wrong username or password", "Refused with CONNACK return code 4 (MQTT 3.1.1) or reason code 0x86 Bad User Name or Password (MQTT 5), the specification's codes for it; Mosquitto sends 5 / 0x87 Not authorized. mosquitto_pub and mosquitto_sub exit with that code, so scripts see 4 or 134 where Mosquitto gives 5 or 135. A client that is known but not allowed (no username where one is needed) still gets 5 / 0x87. Both log \"Client <unknown> disconnected, not authorised.\"."},
		{"Failed logins are slowed down", "Each failure for one username from one IP address within 10 minutes doubles the delay before that client's refusal, from 100 ms up to 3 s; once an address has failed more than 10 times, whatever the usernames, every refusal from it is delayed the same way. Other users on the same host are not slowed by one user's typos. Mosquitto answers at once, which lets a password be guessed as fast as the network allows."},
		{"Subscriptions the ACL denies", "Refused in SUBACK (0x80 Failure in MQTT 3.1.1, 0x87 Not authorized in MQTT 5), so the client knows it will get nothing; Mosquitto grants them (SUBACK with the QoS) and silently filters every message. The subscribe log line is \"Denied SUBSCRIBE from ID to FILTER\" instead of Mosquitto's \"ID QOS FILTER\"."},
		{"mount_point", "The mount point is added to the topics a client of that listener publishes and subscribes to, and taken off the topics delivered to it, as mosquitto.conf(5) documents: the client sees the topics it subscribed to. Mosquitto 2.0.11 delivers them with the mount point in front (a subscription to a/# gets mnt/a/b)."},
		{"DISCONNECT before closing", "An MQTT 5 client whose connection the broker ends (protocol error, packet too large, Receive Maximum exceeded, session taken over, keep alive timeout) first gets a DISCONNECT with the reason code, as the specification asks, so it can tell why; Mosquitto 2.0.11 mostly closes the socket without one, a session takeover included. Mosquitto's clients exit 0 on a server DISCONNECT and reconnect after a lost connection: so a mosquitto_sub -V 5 whose session another client with the same id takes over ends (DISCONNECT 0x8E Session taken over) instead of taking it back, and two such subscribers do not take the session from each other for ever. At shutdown (SIGTERM, SIGINT) connections are closed without DISCONNECT 0x8B, as by Mosquitto, so its clients reconnect to the restarted broker."},
		{"The will", "A will without a Will Delay Interval is published when a connection is taken over by a new one with the same client id, and the will of a session whose Session Expiry Interval is 0 is published when the connection ends even if a will delay was set, since the session ends with it [MQTT-3.1.3-9]."},
		{"Overlapping subscriptions", "An MQTT 5 client whose subscriptions overlap (a/# and a/b) gets a matching message once, with the highest QoS of those subscriptions and all their subscription identifiers, as MQTT 3.1.1 clients do from both brokers; Mosquitto 2.0.11 sends an MQTT 5 client one copy per matching subscription. Both are allowed [MQTT-3.3.4-2]; one copy is what allow_duplicate_messages false asked for in Mosquitto 1.x, and a client that counts messages would count twice."},
		{"Maximum Packet Size", "Enforced strictly in both directions: a packet larger than max_packet_size closes the connection (MQTT 5: DISCONNECT 0x95), and a message larger than the Maximum Packet Size a client announced is not sent to it [MQTT-3.1.2-25]."},
		{"Assigned client ids", "A client that connects with an empty client id is given auto_id_prefix followed by 24 hexadecimal digits (auto-1f2e...); Mosquitto uses a UUID (auto-1F2E3D4C-...). Both are random; scripts should not parse them."},
		{"Outbound topic aliases", "Off by default; topic_alias_outbound true turns them on (Mosquitto never sends them). Some clients announce a Topic Alias Maximum but never resolve the aliases they receive (paho-mqtt 2.1 for Python, aiomqtt), so their applications would get messages with an empty topic."},
		{"Receive Maximum", "max_inflight_messages (default 20, as Mosquitto) is announced to MQTT 5 clients as Receive Maximum and limits the QoS 2 messages a client may have unreleased; QoS 1 messages are acknowledged as soon as they are routed, so without persistence they never count against it; with persistence a QoS 1 message that must be stored is acknowledged once it is on disk, and until then it counts, so a client that sends more than Receive Maximum unacknowledged QoS 1 messages is disconnected with reason code 147 (0x93), as the specification says. The outbound window towards each client keeps the broker's measured default (1024) unless the file sets max_inflight_messages."},
		{"Queue limits", "Without max_queued_messages and max_queued_bytes a client's queue holds up to 100,000 messages or 256 MiB, chosen by measurement so that a burst a subscriber can absorb loses no QoS 1 or 2 message; Mosquitto's 1000 lose half of such a burst. A subscriber that keeps reading but falls behind its publishers (a fan-in burst, large payloads) is not left to reach the limit: once its queue is half full, or holds 8 MiB, the connections publishing to it are not read for up to half a second, or until it is down to a quarter and under 4 MiB, so TCP slows the publishers and a burst it absorbs in that time loses nothing (HiveMQ's overload protection does the same; Mosquitto drops), as long as half the limit holds what the publishers can send before they are paused: a pause takes effect after the read that fed the queue, so with max_queued_messages 1000, a hundred QoS 1 publishers with 20 messages in flight each can pass the limit first. While a publisher is not read, neither are its PINGREQs nor its messages for other subscribers, so a subscriber that is still behind after that half second is treated as slow until its queue is down to a quarter and under 4 MiB, and so is every other subscriber behind at that moment: no publisher waits for them again, and what passes their queue limits is dropped, as by Mosquitto. A subscriber that has taken nothing for half a second holds no publisher back at all: its QoS 0 messages are dropped past a small budget, and its queue limits apply. Over loopback, where TCP acknowledges a reader's progress in 64 KiB steps, a reader slower than about 128 KB/s looks like one that has taken nothing."},
		{"A message every queue refused", "An MQTT 5 QoS 1 or 2 message that matched subscriptions but that no matching subscriber's queue could take (all full) is acknowledged with reason code 0x97 (Quota exceeded), so the publisher knows nobody got it and may retry; Mosquitto sends 0x00. If any subscriber takes it, 0x00."},
		{"Shared subscriptions and offline members", "A message for a shared subscription goes to a member of the group that is connected, in turn among those; the persistent sessions of members that are offline get messages only while no member is connected (then in turn too). Mosquitto takes the members in turn whether connected or not, queuing for an offline member messages a connected one could have had at once."},
		{"Clients that stop reading", "A client whose socket takes no bytes for 30 seconds while the broker has something to send it (it stopped reading; a half-open connection) is disconnected, logged as Client ID disconnected: it stopped reading. Mosquitto keeps such a client until its keep alive expires, holding what it cannot send."},
		{"Connections without CONNECT", "A connection that has not sent a complete CONNECT within 10 seconds of being accepted is closed, logged as Client ADDR disconnected: no CONNECT within the connect timeout. Mosquitto 2.0.11 closes such a socket only after about 90 seconds, logging Client <unknown> has exceeded timeout, disconnecting. A client that has not authenticated should hold a socket and memory as briefly as possible, whether it never speaks or trickles its CONNECT a byte at a time; a real client sends its CONNECT at once. The 10 seconds are fixed: no directive or option changes them."},
		{"Packets before CONNECT is accepted", "Until the broker has accepted a client's CONNECT, a packet from it, the CONNECT included, may be at most 65,536 bytes (64 KiB) with its header, or max_packet_size if that is smaller; a larger one is refused as soon as its header arrives: an MQTT 5 CONNECT gets CONNACK 0x95 (Packet too large), logged as Client <unknown> from ADDR refused: CONNECT of N bytes exceeds the 65536-byte limit for a packet before CONNECT is accepted; any other packet, or a 3.x CONNECT (3.x has no such return code), closes the connection without CONNACK, logged as Client ADDR disconnected: and the same words. " +
			"The rest of the refused packet, up to 1 MiB, is read and thrown away before the connection closes, so that a client still writing it gets the CONNACK or a plain close rather than a reset (over TLS its write would otherwise fail before it reads the answer); none of it is kept, and a client that stops sending it for a quarter of a second, or is still sending at the connect timeout, is closed anyway. " +
			"The connections still sending their CONNECT hold at most 16 MiB together; past that, the one that would exceed it is closed. " +
			"Real CONNECTs are a few hundred bytes, but a will payload or a password may be up to 65,535 bytes each: a CONNECT with a will payload of more than about 65,500 bytes, or with a will payload and password that together pass 64 KiB, is refused, where Mosquitto 2.0.11 accepts it. " +
			"The reason: the broker holds a packet until all of it has arrived, and a client that has not authenticated must not make it hold memory by announcing a large packet. Neither number is configurable; once CONNECT is accepted, max_packet_size alone applies."},
		{"Persistence", "The store is mqtt's own (default file mqtt.db in persistence_location), written as each change happens, and a message that must be kept is acknowledged once it is on disk; Mosquitto saves its memory every autosave_interval, so a crash loses what it acknowledged since. Mosquitto's mosquitto.db is not read (its format is Mosquitto's): a broker that replaces Mosquitto starts without Mosquitto's retained messages and sessions, and the log says so when it finds that file beside its store."},
		{"Stricter configuration", "A line Mosquitto would silently misread stops the start with FILE:LINE, rather than run a broker other than the one configured: a number that is not one or is out of range (max_queued_messages abc, which Mosquitto reads as 0, no limit, or -5; max_connections -2, which Mosquitto reads as unlimited), text after a directive's value (allow_anonymous true false, listener 1883 0.0.0.0 extra), certfile without keyfile (Mosquitto runs that listener without TLS), cafile, require_certificate or other TLS options on a listener without certfile and keyfile (likewise), require_certificate without cafile or capath, clientid_prefixes (ignored by Mosquitto 2.0, so the restriction it names would not apply), and a log_dest file that cannot be opened (Mosquitto logs an error and runs without it). Tabs separate a directive from its value as spaces do; Mosquitto 2.0.11 takes only spaces (listener<TAB>1883 is an unknown directive there)."},
		{"Configuration errors", "Each bad line is reported on standard error as Error: FILE:LINE: DIRECTIVE: what is wrong, all of them at once and without a timestamp (they come before the log is open), for example Error: m.conf:2: unknown directive \"foo\". Mosquitto logs the first one only, as TIMESTAMP: Error: Unknown configuration variable \"foo\". followed by TIMESTAMP: Error found at m.conf:2. The exit statuses are Mosquitto's (see EXIT STATUS)."},
		{"A port busy on one address family", "mqtt serve -p PORT (or no configuration) listens on 127.0.0.1 and ::1; if either address is in use the start fails (exit 1). Mosquitto logs \"Error: Address already in use\" and goes on with the other one, so clients that connect to the address it lost reach whatever holds it, or nothing."},
		{"$SYS", "$SYS/broker/version is mqtt's version (\"mosquitto version devel\" for a build from source when invoked as mosquitto), not 2.0.11. clients/maximum is published from the start; Mosquitto publishes it only once it has changed. store/messages/count and store/messages/bytes count queued messages once per queue that holds them, and bytes are topic and payload; Mosquitto counts each stored message once, payload only. publish/messages/received counts retained and QoS 2 messages too (Mosquitto 2.0.11 does not, a known bug)."},
		{"Settings before the first listener line", "They create a default listener on port 1883 on every interface exactly when Mosquitto 2.0 would (a value other than the default); a file with no listener line at all then still refuses anonymous clients unless allow_anonymous true is set, where Mosquitto would let them in on every interface."},
		{"Plugins", "A plugin or auth_plugin line stops the start (exit status 13, as Mosquitto for a plugin it cannot load): plugins are not supported yet, and a broker without the plugin would admit other clients than the operator configured."},
		{"Password and ACL files as root", "They are read before the broker drops privileges (to the user of the user line, or mqtt, or mosquitto), so root-only files (mode 0600, owned by root) work at start; Mosquitto reads them after and exits 13 (\"Unable to open pwfile\"). The log warns about each such file a SIGHUP reload could not read again."},
		{"Password file gone at SIGHUP", "If the password or ACL file cannot be read when SIGHUP reloads it, the running rules stay in force and the log says why; Mosquitto then refuses every user until the file is back. Bad lines are skipped by both, with a warning naming FILE:LINE here."},
		{"Start failures in the log", "Once the configuration is read, a failure to start (a port in use, a store that cannot be used) is written to the log_dest destinations, a log file included, and to standard error when the log does not go there; Mosquitto 2.0.11 writes it nowhere when its log goes only to a file."},
		{"Log lines", "The lines Mosquitto logs are logged with the same words in the same log_type categories. Besides: a refused CONNECT other than a failed login names its reason (\"Client <unknown> from ADDR refused: zero length client identifiers are not allowed.\") where Mosquitto says \"disconnected due to protocol error\", so does a connection closed for a bad packet before CONNECT, and log_type debug says why a login failed. Started as root, \"Dropped privileges to user mosquitto (uid N, gid N).\" says which user the broker runs as, and \"user root\" is warned about in other words. Mosquitto's start-up note recommending max_packet_size over message_size_limit is not logged."},
		{"Log and pid files", "A log_dest file and the pid_file are opened before privileges are dropped, so they may be in directories only root may write, and the files the start created are then given to the user the broker runs as (Mosquitto creates them as that user; an existing log file keeps its owner here). A new log file is mode 0640, also readable by the group of the user the broker runs as; Mosquitto's are 0600."},
		{"Unix sockets as root", "A listener 0 PATH socket is created before the broker drops privileges, then given mode 0770 and handed to the user it runs as (and that user's group), so it may be in a directory only root may write, such as /run. Mosquitto 2.0.11 binds it after dropping privileges, with the same owner and mode, and fails to start (\"Error binding unix socket: Permission denied\") when that user cannot write the directory. The broker cannot remove the socket file from such a directory when it stops; the next start replaces it."},
		{"log_dest syslog", "Where no system logger can be reached (most containers) the start warns, naming the line, and logs to the other destinations; Mosquitto drops those lines silently."},
		{"memory_limit", "At the limit nobody is disconnected for it: a new message is refused (MQTT 5: PUBACK or PUBREC 0x97 Quota exceeded, so the publisher may retry), subscribers that stopped reading lose their queued QoS 0 messages first, one client's queue holds at most a quarter of the limit (so a persistent client that never comes back cannot stop every publisher), and the log says once when the limit is reached and once when memory is free again. Only a QoS 1 or 2 publisher using MQTT 3.x, which cannot be told, is disconnected without an acknowledgement, so that it sends the message again. Mosquitto fails the allocation and disconnects whichever client it was for. The limit counts message memory (each message once, however many queues hold it); the process as a whole stays within about a quarter more."},
		{"Topic depth", "Topics and filters of more than 200 levels are refused (PUBACK 0x90 Topic Name invalid, SUBACK 0x8F Topic Filter invalid; MQTT 3.1.1: SUBACK 0x80), so the client knows which message or subscription failed; Mosquitto 2.0 closes the connection (MQTT 5: DISCONNECT 0x82) when a topic or filter has more than 201 levels."},
		{"Malformed shared subscriptions", "A filter $share/GROUP without a topic filter after the group closes the connection as a malformed packet, as the specification asks [MQTT-4.8.2-1]; Mosquitto accepts it as an ordinary filter."},
		{"-d", "The command returns once the broker runs in the background, or with the start's error and exit status; Mosquitto returns before the listeners open, so a failed start goes unnoticed."},
		{"--help", "mqtt serve --help (or -h) prints the options and exits 0; invoked as mosquitto, --help and -h exit 3, as Mosquitto's."},
	}}

// manPageCommands are the subcommands with a page of their own.
func manPageCommands(cmds []*ucli.Command) []*ucli.Command {
	var out []*ucli.Command
	for _, c := range visible(cmds) {
		if c.Name != "version" && c.Name != "completion" {
			out = append(out, c)
		}
	}
	return out
}

// roff escapes text for a man page: backslashes, hyphens (so options copy and paste as
// typed), non-ASCII characters and control characters at the start of a line.
func roff(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\n':
			b.WriteString("\n")
		case r > 126:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

func manHeader(b *bytes.Buffer, page, desc string) {
	fmt.Fprintf(b, ".\\\" %s\n", genHeader)
	fmt.Fprintf(b, ".TH %s 1 \"\" \"mqtt\" \"User Commands\"\n", roff(strings.ToUpper(page)))
	fmt.Fprintf(b, ".SH NAME\n%s \\- %s\n", roff(page), roff(desc))
}

// manPages renders mqtt.1 and one page per subcommand, keyed by file name.
func manPages(cmds []*ucli.Command) (map[string][]byte, error) {
	pages := map[string][]byte{}
	sub := manPageCommands(cmds)

	var b bytes.Buffer
	manHeader(&b, "mqtt", "MQTT broker, clients and tools in one binary")
	b.WriteString(".SH SYNOPSIS\n.B mqtt\n.I command\n[\\fIoptions\\fR] [\\fIarguments\\fR]\n")
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(appDescription))
	b.WriteString(".SH COMMANDS\n")
	for _, c := range visible(cmds) {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s.\n", roff(c.Name), roff(upperFirst(c.Usage)))
		for _, s := range sub {
			if s == c {
				fmt.Fprintf(&b, "See\n.BR mqtt\\-%s (1).\n", roff(c.Name))
			}
		}
	}
	b.WriteString(".SH OPTIONS\n.TP\n.B \\-\\-help\nShow help. Help is \\fB\\-\\-help\\fR only: \\fB\\-h\\fR is the broker host, as in Mosquitto's tools.\n")
	b.WriteString(".SH MOSQUITTO COMPATIBILITY\nInvoked through a link with one of these names, \\fBmqtt\\fR acts as that tool: its options at the top level, its name in help and error messages.\n")
	for _, c := range sub {
		if t := manExtras(c.Name).tool; t != "" {
			fmt.Fprintf(&b, ".TP\n.B %s\n.B mqtt %s\n", roff(t), roff(c.Name))
		}
	}
	b.WriteString(".PP\nThe \\fBmqtt\\-mosquitto\\-compat\\fR package installs these links in /usr/bin; from a source checkout, \\fBmake install\\-links\\fR creates them next to the installed binary.\n")
	b.WriteString(".SH ENVIRONMENT\n.TP\n.B NO_COLOR\nWhen set and not empty, error messages are not coloured. They are coloured only on a terminal.\n")
	b.WriteString(".SH EXIT STATUS\n0 on success, 1 on a usage error; each command's page lists its other codes.\n")
	b.WriteString(".SH SEE ALSO\n")
	for _, c := range sub {
		fmt.Fprintf(&b, ".BR mqtt\\-%s (1),\n", roff(c.Name))
	}
	b.WriteString(".BR mqtt.conf (5)\n")
	pages["mqtt.1"] = append([]byte(nil), b.Bytes()...)

	conf, err := confPage()
	if err != nil {
		return nil, err
	}
	pages["mqtt.conf.5"] = conf

	for _, c := range sub {
		b.Reset()
		extra := manExtras(c.Name)
		page := "mqtt-" + c.Name
		manHeader(&b, page, c.Usage)
		b.WriteString(".SH SYNOPSIS\n")
		args := ""
		if c.ArgsUsage != "" {
			args = " " + roff(c.ArgsUsage)
		}
		if subs := visible(c.Subcommands); len(subs) > 0 {
			var names []string
			for _, s := range subs {
				names = append(names, s.Name)
			}
			// The subcommand comes first: its options follow it.
			fmt.Fprintf(&b, ".B mqtt %s\n\\fI%s\\fR [\\fIoptions\\fR]%s\n", roff(c.Name), roff(strings.Join(names, "|")), args)
		} else {
			fmt.Fprintf(&b, ".B mqtt %s\n[\\fIoptions\\fR]%s\n", roff(c.Name), args)
		}
		if extra.tool != "" {
			fmt.Fprintf(&b, ".br\n.B %s\n[\\fIoptions\\fR]%s\n", roff(extra.tool), args)
		}
		fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(c.Description))
		for _, p := range extra.description {
			fmt.Fprintf(&b, ".PP\n%s\n", roff(p))
		}
		if subs := visible(c.Subcommands); len(subs) > 0 {
			b.WriteString(".SS Commands\n")
			for _, s := range subs {
				text := upperFirst(s.Usage)
				if s.Description != "" {
					text = strings.TrimSuffix(text, ".") + ". " + s.Description
				}
				fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roff(s.Name), roff(text))
			}
		}
		if extra.tool != "" {
			fmt.Fprintf(&b, ".PP\nInvoked through a link named \\fB%s\\fR, \\fBmqtt\\fR runs this command.\n", roff(extra.tool))
		}
		b.WriteString(".SH OPTIONS\n")
		specs := specsOf(c)
		var cats []string
		seen := map[string]bool{}
		for _, s := range specs {
			if !seen[s.category] {
				seen[s.category] = true
				cats = append(cats, s.category)
			}
		}
		// Command-specific (uncategorized) flags first, then the shared groups.
		for _, cat := range cats {
			if cat != "" {
				fmt.Fprintf(&b, ".SS %s\n", roff(cat))
			}
			for _, s := range specs {
				if s.category != cat {
					continue
				}
				var names []string
				for _, n := range s.names() {
					names = append(names, `\fB`+roff(n)+`\fR`)
				}
				fmt.Fprintf(&b, ".TP\n%s", strings.Join(names, ", "))
				if s.value != "" {
					fmt.Fprintf(&b, " \\fI%s\\fR", roff(s.value))
				}
				text := upperFirst(s.usage)
				if s.def != "" {
					text += " (default: " + s.def + ")"
				}
				if s.repeat && !strings.Contains(s.usage, "repeatable") {
					text += ". May be given more than once"
				}
				fmt.Fprintf(&b, "\n%s.\n", roff(strings.TrimSuffix(text, ".")))
			}
		}
		for _, sec := range extra.sections {
			writeProse(&b, sec)
		}
		b.WriteString(".SH EXIT STATUS\n")
		for i, p := range extra.exitStatus {
			if i > 0 {
				b.WriteString(".PP\n")
			}
			fmt.Fprintf(&b, "%s\n", roff(p))
		}
		if len(extra.examples) > 0 {
			b.WriteString(".SH EXAMPLES\n")
			for _, e := range extra.examples {
				fmt.Fprintf(&b, ".PP\n.EX\n%s\n.EE\n", roff(e))
			}
		}
		if len(extra.files) > 0 {
			writeProse(&b, manProse{title: "FILES", items: extra.files})
		}
		b.WriteString(".SH SEE ALSO\n.BR mqtt (1)")
		for _, o := range sub {
			if o != c {
				fmt.Fprintf(&b, ",\n.BR mqtt\\-%s (1)", roff(o.Name))
			}
		}
		for _, ref := range extra.seeAlso {
			name, sec, _ := strings.Cut(strings.TrimSuffix(ref, ")"), "(")
			fmt.Fprintf(&b, ",\n.BR %s (%s)", roff(name), sec)
		}
		b.WriteString("\n")
		pages[page+".1"] = append([]byte(nil), b.Bytes()...)
	}
	return pages, nil
}

// writeProse renders a hand-written section: paragraphs, then tagged paragraphs.
func writeProse(b *bytes.Buffer, p manProse) {
	fmt.Fprintf(b, ".SH %s\n", roff(p.title))
	for i, para := range p.paras {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		fmt.Fprintf(b, "%s\n", roff(para))
	}
	if p.code != "" {
		fmt.Fprintf(b, ".PP\n.EX\n%s\n.EE\n", roff(p.code))
	}
	for _, it := range p.items {
		fmt.Fprintf(b, ".TP\n.B %s\n%s\n", roff(it.tag), roff(upperFirst(it.text)))
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
