package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency is a latency distribution in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{Count: h.TotalCount(), Mean: float64(int64(h.Mean()*10)) / 10,
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max()}
}

// ReportConfig is the part of Config a report repeats.
type ReportConfig struct {
	Server      string  `json:"server"`
	Version     byte    `json:"protocol_version"`
	Clients     int     `json:"clients"`
	Subs        int     `json:"subs,omitempty"`
	Count       int     `json:"count"`
	DurationS   float64 `json:"duration_s"`
	Rate        float64 `json:"rate"`
	QoS         byte    `json:"qos"`
	Size        int     `json:"size"`
	Topic       string  `json:"topic,omitempty"`
	SubTopic    string  `json:"sub_topic,omitempty"`
	Retain      bool    `json:"retain"`
	IntervalS   float64 `json:"interval_s"`
	Inflight    int     `json:"inflight"`
	DrainS      float64 `json:"drain_s"`
	FileLimit   uint64  `json:"file_limit,omitempty"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	ClientIDPfx string  `json:"client_id_prefix"`
	TopicAlias  bool    `json:"topic_alias,omitempty"`
	Stagger     bool    `json:"stagger,omitempty"`
	Index       int     `json:"index,omitempty"`
	IndexTopic  string  `json:"index_topic,omitempty"`
	SNGateway   string  `json:"sn_gateway,omitempty"` // publishers spoke MQTT-SN to this gateway
}

// IndexReport describes the --index subscriptions held during a pubsub run.
type IndexReport struct {
	Subscriptions int     `json:"subscriptions"` // granted
	Connections   int     `json:"connections"`
	SubscribeS    float64 `json:"subscribe_s"` // connecting and subscribing them all
	RatePerS      float64 `json:"rate_per_s"`  // subscriptions granted per second
}

// RetainedReport is the retained scenario's outcome: the preload, then the subscribe storm.
type RetainedReport struct {
	Stored      uint64  `json:"stored"`    // retained messages published and acknowledged
	PreloadS    float64 `json:"preload_s"` // publishing them until the last PUBACK
	Subscribers int     `json:"subscribers"`
	Complete    int     `json:"complete"` // subscribers that received every retained message they should
	// FirstS and AllS: from sending the SUBSCRIBEs to the first and to the last subscriber
	// holding all its retained messages (0 when none, or not all, got there).
	FirstS float64 `json:"first_s"`
	AllS   float64 `json:"all_s"`
	// RatePerS: retained messages delivered per second over the storm (all subscribers).
	RatePerS float64 `json:"rate_per_s"`
}

// Connections counts connects.
type Connections struct {
	Attempted int     `json:"attempted"`
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	Lost      int     `json:"lost"` // connected, then dropped before the bench closed it
	RatePerS  float64 `json:"rate_per_s"`
	Connack   Latency `json:"connack_latency_us"`
}

// Messages counts messages.
type Messages struct {
	Sent      uint64 `json:"sent"`
	Acked     uint64 `json:"acked"`
	AckErrors uint64 `json:"ack_errors"`
	Received  uint64 `json:"received"`
	Expected  uint64 `json:"expected"`
	Lost      uint64 `json:"lost"`
	// DrainCut: the drain ended at --drain while messages were still arriving, so some of
	// Lost may only be late (a longer --drain tells).
	DrainCut   bool   `json:"drain_cut,omitempty"`
	Duplicated uint64 `json:"duplicated"`
	OutOfOrder uint64 `json:"out_of_order"`
	Other      uint64 `json:"other"` // payloads without this run's bench header
}

// Rates are per second: sent over the publishing period (Durations.Run), received over
// Durations.Receive.
type Rates struct {
	SentPerS     float64 `json:"sent_per_s"`
	ReceivedPerS float64 `json:"received_per_s"`
}

// Durations in seconds.
type Durations struct {
	Connect float64 `json:"connect_s"`
	Run     float64 `json:"run_s"`
	Drain   float64 `json:"drain_s"`
	Receive float64 `json:"receive_s"` // start of publishing (sub: of the run) to the last message received
	Total   float64 `json:"total_s"`
}

// BenchCost is what the generator itself spent.
type BenchCost struct {
	CPUSeconds float64 `json:"cpu_s"`
	NsPerMsg   float64 `json:"cpu_ns_per_msg"` // CPU time / (sent + received + other); 0 for conn
	CPUUtil    float64 `json:"cpu_util"`       // CPU time / run time (1.0 = one core)
}

// Report is the result of a run; it marshals to the --json document.
type Report struct {
	Scenario    string       `json:"scenario"`
	Interrupted bool         `json:"interrupted"`
	Config      ReportConfig `json:"config"`
	Durations   Durations    `json:"durations"`
	Connections Connections  `json:"connections"`
	Messages    Messages     `json:"messages"`
	Rates       Rates        `json:"rates"`
	Latency     Latency      `json:"latency_us"`
	Bench       BenchCost    `json:"bench"`
	// Broker (--broker-pid), Index (--index) and Retained (the retained scenario) appear
	// only when they apply.
	Broker   *BrokerStats    `json:"broker,omitempty"`
	Index    *IndexReport    `json:"index,omitempty"`
	Retained *RetainedReport `json:"retained,omitempty"`
	Errors   []string        `json:"errors,omitempty"` // distinct messages, most frequent first, with counts
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the human summary.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	c := r.Config
	title := fmt.Sprintf("mqtt bench %s → %s (MQTT %s", r.Scenario, c.Server, versionName(c.Version))
	if r.Scenario != ScenarioConn {
		title += fmt.Sprintf(", QoS %d, %d B", c.QoS, c.Size)
	}
	title += ")"
	if c.SNGateway != "" {
		title += ", publishers via MQTT-SN gateway " + c.SNGateway
	}
	if r.Interrupted {
		title += " — interrupted"
	}
	fmt.Fprintln(tw, title)
	cn := r.Connections
	row("connections", "%d connected, %d failed, %d lost of %d", cn.Connected, cn.Failed, cn.Lost, cn.Attempted)
	row("connect rate", "%s/s over %s", human(cn.RatePerS), secs(r.Durations.Connect))
	row("CONNACK latency µs", "%s", latencyLine(cn.Connack))
	if x := r.Index; x != nil {
		row("index", "%d subscriptions held by %d connections, made in %s (%s/s)", x.Subscriptions, x.Connections, secs(x.SubscribeS), human(x.RatePerS))
	}
	if x := r.Retained; x != nil {
		row("retained stored", "%d in %s", x.Stored, secs(x.PreloadS))
		all := "-"
		if x.AllS > 0 {
			all = secs(x.AllS)
		}
		first := "-"
		if x.FirstS > 0 {
			first = secs(x.FirstS)
		}
		row("subscribe storm", "%d of %d subscribers got all; first after %s, all after %s (%s msgs/s)", x.Complete, x.Subscribers, first, all, human(x.RatePerS))
	}
	if r.Scenario != ScenarioConn {
		m := r.Messages
		switch r.Scenario {
		case ScenarioPub, ScenarioPubSub, ScenarioRetained:
			row("sent", "%d in %s (%s msgs/s)", m.Sent, secs(r.Durations.Run), human(r.Rates.SentPerS))
			if c.QoS > 0 {
				row("acknowledged", "%d (%d with an error code)", m.Acked, m.AckErrors)
			}
		}
		if r.Scenario != ScenarioPub {
			row("received", "%d (%s msgs/s)", m.Received, human(r.Rates.ReceivedPerS))
			row("expected", "%d", m.Expected)
			if m.DrainCut {
				row("lost", "%d (the drain ended at --drain while messages were still arriving: some may be late; try a longer --drain)", m.Lost)
			} else {
				row("lost", "%d", m.Lost)
			}
			row("duplicated", "%d", m.Duplicated)
			row("out of order", "%d", m.OutOfOrder)
			if m.Other > 0 {
				row("other payloads", "%d (not from this run)", m.Other)
			}
			if r.Scenario != ScenarioRetained {
				row("latency µs", "%s", latencyLine(r.Latency))
			}
		}
	}
	if b := r.Broker; b != nil {
		row("broker", "pid %d: %.2f CPU s (%.2f s measured, %.0f%% of a core); RSS %d MiB before, %d MiB at the end, peak %d MiB",
			b.PID, b.CPUSeconds, b.RunCPUSeconds, 100*b.RunCPUUtil, b.RSSBeforeKB>>10, b.RSSKB>>10, b.RSSPeakKB>>10)
	}
	if r.Scenario == ScenarioConn { // no messages: connects and holding them
		row("bench CPU", "%.2f s, %.0f%% of a core", r.Bench.CPUSeconds, 100*r.Bench.CPUUtil)
	} else {
		row("bench CPU", "%.2f s, %.0f ns/msg, %.0f%% of a core", r.Bench.CPUSeconds, r.Bench.NsPerMsg, 100*r.Bench.CPUUtil)
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	return tw.Flush()
}

func latencyLine(l Latency) string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %d  p90 %d  p99 %d  p99.9 %d  max %d  (n=%d)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
}

func versionName(v byte) string {
	switch v {
	case 3:
		return "3.1"
	case 5:
		return "5"
	}
	return "3.1.1"
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// human prints a rate with k/M suffixes.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// Snapshot is the live state passed to Config.Progress once a second.
type Snapshot struct {
	Elapsed    time.Duration
	Connected  int
	Failed     int
	Sent       uint64
	Received   uint64
	SentRate   float64 // over the last interval
	RecvRate   float64
	P99Micros  int64
	Scenario   string
	Publishing bool
}

// String is the progress line.
func (s Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%5.1fs] conns %d", s.Elapsed.Seconds(), s.Connected)
	if s.Failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", s.Failed)
	}
	if s.Scenario == ScenarioPub || s.Scenario == ScenarioPubSub || s.Scenario == ScenarioRetained {
		fmt.Fprintf(&b, "  sent %d (%s/s)", s.Sent, human(s.SentRate))
	}
	if s.Scenario == ScenarioSub || s.Scenario == ScenarioPubSub || s.Scenario == ScenarioRetained {
		fmt.Fprintf(&b, "  recv %d (%s/s)  p99 %dµs", s.Received, human(s.RecvRate), s.P99Micros)
	}
	return b.String()
}
