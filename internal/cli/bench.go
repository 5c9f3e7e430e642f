package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/mattn/go-isatty"
	ucli "github.com/urfave/cli/v2"

	"github.com/mqttkit/mqtt/internal/bench"
)

const catBench = "Load"

// benchScenarios are the subcommands of `mqtt bench`, with their help text.
var benchScenarios = []struct{ name, usage, desc string }{
	{bench.ScenarioConn, "open -c connections, time CONNACK, hold them for --duration",
		"Measures connect rate and CONNACK latency, then holds the connections for --duration (for memory-per-connection tests). " +
			"The open-file limit is raised to the hard limit first."},
	{bench.ScenarioPub, "run -c publishers, each publishing -n messages (or for --duration) to -t",
		"Publisher i publishes to -t with %i replaced by i and %c by its client id. Every payload carries publisher, sequence number and send time, " +
			"so a `mqtt bench sub` elsewhere can check it."},
	{bench.ScenarioSub, "run -c subscribers on the filter -t, checking bench payloads",
		"Each subscriber subscribes to -t (templated like pub's) and counts received, duplicated, out-of-order and missing messages per publisher " +
			"(missing estimated from sequence gaps) and the end-to-end latency. It stops after --duration, or once every subscriber has -n messages."},
	{bench.ScenarioPubSub, "run --subs subscribers and -c publishers; count loss, duplicates, order and latency",
		"Subscribers subscribe first; then publisher i publishes to topic(i) = -t with %i = i. Subscribers subscribe to --sub-topic, by default -t with " +
			"every level containing %i or %c replaced by +, so -t bench/%i gives bench/+ (fan-in with --subs 1, fan-out with -c 1; " +
			"--sub-topic bench/%i with -c N --subs N gives N pairs). After the last message the bench waits up to --drain (less once everything arrived, " +
			"or when nothing arrived for a second), then reports loss = messages sent × subscribers that should get them − unique messages received. " +
			"--index N holds N more subscriptions in the broker's index during the run (on --index-topic filters, 10,000 per extra connection), " +
			"to measure routing with a large index."},
	{bench.ScenarioRetained, "preload -c × -n retained messages on distinct topics, then time a subscribe storm of --subs subscribers",
		"Publisher i publishes -n retained messages at QoS 1, message n to -t with %i = i and %n = n (default " + bench.DefaultRetainedTopic + "), " +
			"and waits for every PUBACK. Then --subs subscribers connect and all subscribe at once to --sub-topic (default: -t with its %i and %n " +
			"levels as +) at -q; the report gives the time until the first and the last of them held every retained message its filter covers. " +
			"The storm ends once all have them, or after --drain with nothing new arriving."},
}

// benchFlags are the load flags plus the shared connection flags. -c means --clients here,
// as in emqtt-bench and mqtt-benchmark, so --disable-clean-session has only its long name.
func benchFlags() []ucli.Flag {
	flags := []ucli.Flag{
		&ucli.IntFlag{Name: "clients", Aliases: []string{"c"}, Value: 1, Category: catBench,
			Usage: "`N` clients: connections (conn), publishers (pub, pubsub) or subscribers (sub)"},
		&ucli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: bench.DefaultCount, Category: catBench,
			DefaultText: "1000 unless --duration is given",
			Usage:       "`N` messages per publisher (sub: per subscriber)"},
		&ucli.DurationFlag{Name: "duration", Category: catBench,
			Usage: "publish for `DURATION` (e.g. 30s) instead of -n messages; conn: hold the connections this long"},
		&ucli.Float64Flag{Name: "rate", Category: catBench,
			Usage: "messages per second `PER_PUBLISHER`, 0 for as fast as possible"},
		&ucli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: bench.DefaultSize, Category: catBench,
			Usage: fmt.Sprintf("payload size in `BYTES`, at least %d (the bench header)", bench.HeaderSize)},
		&ucli.StringFlag{Name: "topic", Aliases: []string{"t"}, Value: bench.DefaultTopic, Category: catBench,
			Usage: "topic `TEMPLATE`: %i is the client index, %c the client id (sub: a filter)"},
		&ucli.IntFlag{Name: "subs", Value: 1, Category: catBench,
			Usage: "pubsub, retained: `N` subscribers"},
		&ucli.StringFlag{Name: "sub-topic", Category: catBench, DefaultText: "-t with %i/%c/%n levels as +",
			Usage: "pubsub, retained: subscribers' filter `TEMPLATE` (%i is the subscriber index)"},
		&ucli.BoolFlag{Name: "retain", Aliases: []string{"r"}, Category: catBench, Usage: "publish retained messages"},
		&ucli.DurationFlag{Name: "interval", Category: catBench, Usage: "pause `DURATION` between connects"},
		&ucli.IntFlag{Name: "inflight", Value: bench.DefaultInflight, Category: catBench,
			Usage: "unacknowledged QoS 1/2 messages per publisher, `N` (a v5 broker's Receive Maximum lowers it)"},
		&ucli.DurationFlag{Name: "drain", Value: bench.DefaultDrain, Category: catBench,
			Usage: "wait up to `DURATION` for the last messages and acknowledgements (pubsub: ends early once all arrived, or after 1s in which none did)"},
		&ucli.BoolFlag{Name: "topic-alias", Category: catBench,
			Usage: "MQTT 5: publishers send the topic once, then topic alias 1; subscribers offer a Topic Alias Maximum of 10 (unless -D connect sets one)"},
		&ucli.BoolFlag{Name: "stagger", Category: catBench,
			Usage: "with --rate: spread the publishers' first messages over one interval, so N publishers send steadily rather than in bursts"},
		&ucli.IntFlag{Name: "index", Category: catBench,
			Usage: "pubsub: hold `N` more subscriptions in the broker's index during the run (10,000 per extra connection)"},
		&ucli.StringFlag{Name: "index-topic", Category: catBench, DefaultText: bench.DefaultIndexTopic,
			Usage: "pubsub: filter `TEMPLATE` of the --index subscriptions: %i the holding connection, %n the filter number"},
		&ucli.IntFlag{Name: "broker-pid", Category: catBench,
			Usage: "report the CPU time and memory of the broker process `PID` (read from /proc; Linux)"},
		&ucli.BoolFlag{Name: "sn", Category: catBench,
			Usage: "publishers (conn: the clients) speak MQTT-SN to the gateway at --sn-gateway, one QoS 1/2 message in flight each; subscribers stay MQTT on -h/-p"},
		&ucli.StringFlag{Name: "sn-gateway", Category: catBench, DefaultText: "-h's host, port 1884",
			Usage: "with --sn: the MQTT-SN gateway's UDP `HOST:PORT`"},
		&ucli.BoolFlag{Name: "json", Category: catBench, Usage: "print the report as one JSON document"},
		&ucli.BoolFlag{Name: "fail-on-loss", Category: catBench, Usage: "exit 1 when any message was lost"},
	}
	for _, f := range connFlags() {
		switch f := f.(type) {
		case *ucli.BoolFlag:
			if f.Name == "disable-clean-session" {
				f.Aliases = nil
			}
		case *ucli.StringFlag:
			switch f.Name {
			case "id":
				f.Usage = "client id `PREFIX` of the bench clients: PREFIX-p0, PREFIX-s0, PREFIX-c0, ... (default mqttbench-PID)"
			case "id-prefix":
				f.Usage = "client id `PREFIX`, followed by the process ID, then -p0, -s0, ..."
			}
		}
		flags = append(flags, f)
	}
	return flags
}

// benchCommand is `mqtt bench`: load-test a broker.
func benchCommand() *ucli.Command {
	cmd := &ucli.Command{
		Name:      "bench",
		Usage:     "load-test a broker",
		UsageText: "mqtt bench conn|pub|sub|pubsub|retained [options]",
		Description: "Opens many client connections to a broker, publishes and subscribes at a set rate and " +
			"reports throughput, loss, duplicates, ordering and latency percentiles. Scenarios: " +
			"conn (connect rate, CONNACK latency, held connections), pub, sub, pubsub (publishers and " +
			"subscribers in one process, every message checked) and retained (a subscribe storm onto preloaded retained messages). " +
			"With --broker-pid the report adds the broker's CPU seconds and memory. Options go after the scenario. " +
			"A live status line is printed on stderr once a second when it is a terminal; Ctrl-C stops the run and prints the summary so far.",
		Flags: benchFlags(),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown bench scenario %q: expected conn, pub, sub, pubsub or retained", c.Args().First())
			}
			return usageErrorf("missing scenario: mqtt bench conn|pub|sub|pubsub|retained [options]")
		},
	}
	for _, s := range benchScenarios {
		name := s.name
		cmd.Subcommands = append(cmd.Subcommands, &ucli.Command{
			Name: name, Usage: s.usage, Description: s.desc,
			Flags:  benchFlags(),
			Action: func(c *ucli.Context) error { return runBench(c, name) },
		})
	}
	return cmd
}

// runBench turns the flags into a bench.Config, runs it and prints the report.
func runBench(c *ucli.Context, scenario string) error {
	if c.Args().Present() {
		return usageErrorf("unexpected argument %q", c.Args().First())
	}
	if lin := c.Lineage(); len(lin) > 1 && lin[1].NumFlags() > 0 {
		return usageErrorf("give the options after the scenario: mqtt bench %s [options]", scenario)
	}
	o, err := connOptionsFrom(c)
	if err != nil {
		return err
	}
	if o.Will != nil {
		return usageErrorf("--will-topic: bench clients send no will")
	}
	if err := checkPropertyCommands(o.Properties, []string{"connect", "publish"}); err != nil {
		return err
	}
	co, err := clientOptions(o)
	if err != nil {
		return exitf(exitError, "%v", err)
	}
	cfg := bench.Config{
		Scenario:    scenario,
		Server:      co.Server,
		TLSConfig:   co.TLSConfig,
		Version:     o.ProtocolVersion,
		KeepAlive:   o.KeepAlive,
		KeepSession: !o.CleanSession,
		Username:    o.Username, HasUser: o.HasUsername,
		Password: o.Password, HasPass: o.HasPassword,
		ConnectProperties: co.ConnectProperties,
		IDPrefix:          o.ClientID,
		Clients:           c.Int("clients"),
		Count:             c.Int("count"),
		Duration:          c.Duration("duration"),
		Rate:              c.Float64("rate"),
		QoS:               o.QoS,
		Size:              c.Int("size"),
		Topic:             c.String("topic"),
		SubTopic:          c.String("sub-topic"),
		Retain:            c.Bool("retain"),
		Interval:          c.Duration("interval"),
		Inflight:          c.Int("inflight"),
		Drain:             c.Duration("drain"),
		PublishProperties: packetProperties(o.Properties, "publish"),
		TopicAlias:        c.Bool("topic-alias"),
		Stagger:           c.Bool("stagger"),
		Index:             c.Int("index"),
		IndexTopic:        c.String("index-topic"),
		BrokerPID:         c.Int("broker-pid"),
	}
	if o.URLTopic != "" && !c.IsSet("topic") {
		cfg.Topic = o.URLTopic
	}
	if c.Bool("sn") {
		cfg.SN = true
		cfg.SNGateway = c.String("sn-gateway")
		if cfg.SNGateway == "" {
			cfg.SNGateway = net.JoinHostPort(o.Host, strconv.Itoa(defaultSNPort))
		}
		if _, _, err := net.SplitHostPort(cfg.SNGateway); err != nil {
			return usageErrorf("invalid --sn-gateway %q: expected HOST:PORT", cfg.SNGateway)
		}
		if c.IsSet("inflight") {
			return usageErrorf("--inflight does not apply with --sn: an MQTT-SN client has one QoS 1/2 message in flight")
		}
	} else if c.IsSet("sn-gateway") {
		return usageErrorf("--sn-gateway needs --sn")
	}
	if cfg.Duration > 0 && !c.IsSet("count") {
		cfg.Count = 0
	}
	if scenario == bench.ScenarioPubSub || scenario == bench.ScenarioRetained {
		cfg.Subs = c.Int("subs")
		if cfg.Subs < 1 {
			return usageErrorf("--subs must be at least 1, got %d", cfg.Subs)
		}
	} else {
		for _, f := range []string{"subs", "sub-topic"} {
			if c.IsSet(f) {
				return usageErrorf("--%s applies to pubsub and retained only", f)
			}
		}
	}
	if scenario == bench.ScenarioRetained {
		if !c.IsSet("topic") && o.URLTopic == "" {
			cfg.Topic = bench.DefaultRetainedTopic
		}
		for _, f := range []string{"duration", "rate", "retain", "stagger"} {
			if c.IsSet(f) {
				return usageErrorf("%s does not apply to retained (it publishes -n retained messages per publisher, then times the subscribe storm)", flagPair(f))
			}
		}
	}
	if cfg.Index > 0 && cfg.IndexTopic == "" {
		cfg.IndexTopic = bench.DefaultIndexTopic
	}
	if c.IsSet("broker-pid") && cfg.BrokerPID < 1 {
		return usageErrorf("--broker-pid must be a process id, got %d", cfg.BrokerPID)
	}
	for _, f := range []string{"index", "index-topic"} {
		if c.IsSet(f) && scenario != bench.ScenarioPubSub {
			return usageErrorf("--%s applies to pubsub only", f)
		}
	}
	if scenario == bench.ScenarioConn {
		for _, f := range []string{"count", "rate", "size", "topic", "retain", "inflight", "drain", "qos", "topic-alias", "stagger"} {
			if c.IsSet(f) {
				return usageErrorf("%s does not apply to conn", flagPair(f))
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%v", err)
	}

	stderr := c.App.ErrWriter
	live := isTerminalWriter(stderr)
	if live {
		cfg.Progress = func(s bench.Snapshot) { fmt.Fprintf(stderr, "\r%s\x1b[K", s) }
	}
	ctx, stop := signal.NotifyContext(contextOf(c), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if live {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if err != nil {
		return exitf(exitError, "%v", err)
	}
	out := c.App.Writer
	if c.Bool("json") {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteTable(out)
	}
	if err != nil {
		return exitf(exitError, "writing the report: %v", err)
	}
	if c.Bool("fail-on-loss") && rep.Messages.Lost > 0 {
		return exitf(exitError, "%d messages lost (--fail-on-loss)", rep.Messages.Lost)
	}
	return nil
}

func contextOf(c *ucli.Context) context.Context {
	if c.Context != nil {
		return c.Context
	}
	return context.Background()
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
