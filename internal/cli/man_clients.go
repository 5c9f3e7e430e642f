package cli

// The DIFFERENCES FROM MOSQUITTO sections of mqtt-pub(1), mqtt-sub(1) and mqtt-passwd(1):
// every place where the clients and the password tool deliberately do otherwise than
// Mosquitto 2.0.11's, and why. Everything else (output, messages, exit codes, -d lines) is
// meant to be Mosquitto's, byte for byte; keep these lists current when a difference is added.

const clientDifferencesIntro = "Output, messages, exit codes and the -d log are those of Mosquitto 2.0.11's clients, " +
	"checked against them, except where Mosquitto loses a message without saying so, runs in clear what looks encrypted, " +
	"or does what Go's crypto/tls cannot. Each difference, and why:"

// clientDifferences are the items pub and sub share.
var clientDifferences = []manItem{
	{"TLS options without TLS", "--insecure, --key, --tls-version, --ciphers and --tls-alpn without --cafile, --capath, --cert, --tls-use-os-certs, an mqtts:// or wss:// URL or -p 8883 are refused (exit 1), and --cert alone turns TLS on (trusting the system's CAs). Mosquitto ignores them all without --cafile or --capath and connects in clear, which a command line that names TLS options does not expect."},
	{"--ciphers", "Go's crypto/tls configures the TLS 1.2 cipher suites it holds secure (ECDHE with AES-GCM, ChaCha20-Poly1305 or AES-CBC-SHA); TLS 1.3's are fixed, as OpenSSL's cipher list leaves them alone too. The list takes those suites' OpenSSL or IANA names, DEFAULT, HIGH, ALL and SECURE (Go's suites), and exclusions of classes Go never offers (!aNULL, !eNULL, !MD5, !RC4, !3DES, ...). Any other part of OpenSSL's cipher-string language is refused by name (exit 1) rather than guessed at."},
	{"--psk, --psk-identity, --tls-engine, --keyform engine, --tls-engine-kpass-sha1", "Refused, naming the option and the reason (exit 1, Mosquitto's code for an option it cannot use): Go's crypto/tls has no TLS-PSK cipher suites, and engines are OpenSSL's. Use certificates, with the key in a PEM file (--keyform pem is accepted). Mosquitto's own checks of these options (--psk without --psk-identity, --keyform without --key, ...) come first, in its words."},
	{"--nodelay", "Accepted and always in effect: Go disables Nagle's algorithm (sets TCP_NODELAY) on every TCP connection."},
	{"A failed TLS handshake", "Always exit status 8 and \"Error: A TLS error occurred.\". Mosquitto's clients give that, or, when the handshake fails while they are still connecting, exit 1 with \"Unable to connect (A TLS error occurred.).\": which depends on timing."},
	{"Keep alive timeout", "Exit status 19, as Mosquitto's, with \"Error: Keepalive timeout.\" where Mosquitto 2.0.11 prints \"Error: Unknown error.\". The PINGREQ goes out after half the keep alive without traffic (Mosquitto's after all of it), so -d shows PINGREQ lines at other times."},
	{"Argument errors", "Where Mosquitto's client has a message for a bad command line, ours prints it in the same words with the same exit status (1) and pointer to --help, --quiet or not. Where it has none, because it accepts the line or reads it otherwise, ours refuses it naming the option, as \"mosquitto_pub: error: WHAT\" and \"Run 'mosquitto_pub --help' for usage.\" (exit 1). An unknown option gets Mosquitto's \"Error: Unknown option '--bogus'.\"."},
	{"-D values", "A number that is not one (-D publish message-expiry-interval abc) is refused; Mosquitto reads it as 0. -D will ... without --will-topic is refused, where Mosquitto drops those properties silently. A value the protocol forbids, such as -D publish topic-alias 0, is found when the packet is built, after connecting (exit 1, naming the rule); Mosquitto refuses it before connecting with \"Error in PUBLISH properties\" and the --help pointer."},
	{"--version", "Not an option (exit 1, unknown option); mqtt version prints the version. Mosquitto's clients print \"mosquitto_pub version 2.0.11 running on libmosquitto 2.0.11.\" and exit 1."},
	{"-L ws:// and wss://", "Accepted: the connection runs over a WebSocket (as with --ws); Mosquitto 2.0.11 refuses them (\"unsupported URL scheme\")."},
}

var pubDifferences = manProse{title: "DIFFERENCES FROM MOSQUITTO",
	paras: []string{clientDifferencesIntro},
	items: append(append([]manItem(nil), clientDifferences...),
		manItem{"A message the broker cannot take", "A message above the MQTT 5 broker's Maximum QoS, or larger than its Maximum Packet Size, is not sent, and the command says so and exits 1. mosquitto_pub prints \"Error: Message QoS not supported on broker, try a lower QoS.\" (QoS) or nothing (size) and exits 0 although nothing was published."},
		manItem{"An empty topic", "-t '' is refused before connecting with \"Error: Both topic and message must be supplied.\" (exit 1); mosquitto_pub connects, prints \"Error: Invalid input. Does your topic contain '+' or '#'?\" and exits 0, although nothing was published."},
		manItem{"-l and a lost connection", "The command exits 7 (\"Error: The connection was lost.\"); mosquitto_pub -l connects again and goes on with the next line, so a message in flight may be lost or sent twice without a word."},
	)}

var subDifferences = manProse{title: "DIFFERENCES FROM MOSQUITTO",
	paras: []string{clientDifferencesIntro},
	items: append(append([]manItem(nil), clientDifferences...),
		manItem{"-L with an empty topic", "mqtt://host/ names the topic \"\", which is not a valid topic filter [MQTT-4.7.3-1]: refused as one (exit 1). mosquitto_sub subscribes to it, and the broker closes the connection, again and again."},
		manItem{"--random-filter", "A share outside 0.1 to 100 is refused (exit 1), as --help says it must be; mosquitto_sub 2.0.11 accepts 101 and prints every message."},
		manItem{"%j and %J", "The properties object lists the MQTT 5 properties in one fixed order (payload-format-indicator, content-type, response-topic, correlation-data, user-properties, then the others); mosquitto_sub lists them in the order they arrived in the PUBLISH. Both are the same JSON object; a consumer should not depend on the order of its keys."},
		manItem{"-L and -t", "Both are subscribed to, as in Mosquitto; -L's topic comes first in the SUBSCRIBE wherever -L stands on the command line (Mosquitto keeps the command line's order, which only -d shows)."},
	)}

var passwdDifferences = manProse{title: "DIFFERENCES FROM MOSQUITTO",
	items: []manItem{
		{"File mode", "A file that -c creates (or that did not exist) is mode 0600, readable by its owner only; Mosquitto's are 0644. The hashes in it are made to be slow to crack, not impossible, and every local user could read a 0644 file; Mosquitto releases from 2.0.17 on warn about world-readable password files. An existing file keeps its mode and owner. mqtt serve reads password_file before it drops privileges, so a root-owned 0600 file works for it at start; Mosquitto, which reads it as the user it switches to (mosquitto), cannot read it, and neither can a SIGHUP reload of mqtt serve. Give that user the file: chgrp mosquitto FILE && chmod 0640 FILE (or chown mosquitto FILE); for the packaged mqtt serve, the user is mqtt."},
		{"How the file is written", "The new content goes to a temporary file beside it, which is fsynced and renamed over the file, so a crash or a full disk leaves the old file or the new one, never half of one; the file then has a new inode (a hard link to it keeps the old content). Where it cannot be replaced, it is rewritten in place as mosquitto_passwd always does (whole content written, truncated, fsynced): a single file bind-mounted into a container (rename fails with \"Device or resource busy\") or a writable file in a directory the user may not create files in."},
		{"-U", "Lines that already hold a hash ($6$ or $7$) are left as they are, so running -U twice, or on a file with some users added by mosquitto_passwd, is safe; Mosquitto hashes them again, and those users' passwords become the old hash strings. Blank lines and # comments are kept; Mosquitto stops at them (\"Corrupt password file at line N.\", exit 1) and changes nothing. A malformed hash is refused with FILE:LINE and what is wrong with it, and the file is left unchanged."},
		{"Extra arguments", "A word after the password (with -b) or the user name is refused with the usage; mosquitto_passwd ignores it with -c or -D, so a mistyped command line changes the file."},
	}}
