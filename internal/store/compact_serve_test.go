package store

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// mqtt serve --data over real sockets: an offline persistent session
// gets many QoS 1 messages queued, then it is cleared (a clean start).
// After a kill -9 the next start applies the journal, compacts the file
// and serves a retained message and another persistent session's queue;
// so after a stop (SIGTERM).
func TestServeCompacts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mqtt.db")
	b := serve(t, dir)
	keeper, _ := dial(t, b.addr, "keeper", packet.V5, false)
	keeper.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "keep/#", QoS: 1})
	keeper.r.Send(&packet.Disconnect{})
	keeper.r.ExpectClosed(5e9)

	// fill queues n messages of 32 KiB for the offline session "bulk", 16
	// in flight, and clears it.
	fill := func(b *child, n int) int64 {
		bulk, _ := dial(t, b.addr, "bulk", packet.V311, false)
		bulk.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "bulk/#", QoS: 1})
		bulk.r.NC.Close()
		pub, _ := dial(t, b.addr, "pub", packet.V311, true)
		payload := bytes.Repeat([]byte("q"), 32<<10)
		sent, acked := 0, 0
		for acked < n {
			for sent < n && sent-acked < 16 {
				pub.r.Send(&packet.Publish{Topic: "bulk/a", QoS: 1, PacketID: uint16(sent + 1), Payload: payload})
				sent++
			}
			if _, ok := pub.r.Recv().(*packet.Puback); !ok {
				t.Fatal("no PUBACK")
			}
			acked++
		}
		// Checkpointed into the file every half second or quarter of the
		// journal: most of it is there.
		size := fileSize(t, path)
		bulk, ack := dial(t, b.addr, "bulk", packet.V311, true)
		if ack.SessionPresent {
			t.Fatal("a clean start with a session present")
		}
		bulk.r.NC.Close()
		// Stored after the session's deletion: acknowledged once both are.
		pub.r.Send(&packet.Publish{Topic: "state/" + fmt.Sprint(n), QoS: 1, PacketID: 60000, Retain: true, Payload: []byte("on")})
		if _, ok := pub.r.Recv().(*packet.Puback); !ok {
			t.Fatal("no PUBACK")
		}
		pub.r.NC.Close()
		return size
	}
	pub, _ := dial(t, b.addr, "p0", packet.V311, true)
	pub.r.Send(&packet.Publish{Topic: "keep/a", QoS: 1, PacketID: 1, Payload: []byte("for the keeper")})
	pub.r.Recv()
	big := fill(b, 600)
	b.kill()
	if big < 12<<20 {
		t.Fatalf("the store file has %d bytes; want the queue in it", big)
	}

	b = serve(t, dir)
	small := fileSize(t, path)
	if !strings.Contains(b.out.String(), "Store: compacted "+path+" from ") || small*4 > big {
		t.Fatalf("%d bytes before, %d after:\n%s", big, small, b.out.String())
	}
	t.Logf("%d bytes, compacted to %d at the start", big, small)
	keeper, ack := dial(t, b.addr, "keeper", packet.V5, false)
	if !ack.SessionPresent {
		t.Fatal("the keeper's session is gone")
	}
	if m := keeper.r.RecvPublish(); string(m.Payload) != "for the keeper" {
		t.Fatalf("keeper: %s", m.Payload)
	}
	keeper.r.Send(&packet.Disconnect{})
	sub, _ := dial(t, b.addr, "reader", packet.V311, true)
	sub.r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "state/#"})
	if m := sub.r.RecvPublish(); m.Topic != "state/600" || !m.Retain {
		t.Fatalf("retained: %+v", m)
	}
	sub.r.NC.Close()

	// Again, and a stop (SIGTERM). The broker runs as another user here, in
	// a directory of root's (the store opened before privileges were
	// dropped): the next start compacts the file.
	big = fill(b, 400)
	b.cmd.Process.Signal(syscall.SIGTERM)
	<-b.done
	// Which the stop says, rather than skipping the compaction silently.
	if out := b.out.String(); strings.Contains(out, "Dropped privileges") && !strings.Contains(out, "is not compacted at the stop") {
		t.Errorf("a stop that could not compact said nothing:\n%s", out)
	}
	b = serve(t, dir)
	if small = fileSize(t, path); !strings.Contains(b.out.String(), "Store: compacted ") || small*4 > big {
		t.Fatalf("after a stop: %d bytes before, %d after:\n%s", big, small, b.out.String())
	}
	t.Logf("%d bytes, compacted to %d at the start after a stop", big, small)
	b.kill()
	out, err := exec.Command(mqttBinary(t), "serve", "--data", dir, "--check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: format 2") || !strings.Contains(string(out), "2 retained messages, 1 session,") {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Errorf("the copy is still there: %v", err)
	}
}

// The measurement in doc.go ("Compaction"): a store of about 200 MB with
// 1% of it in use, compacted by mqtt serve at its start. Run with
// MQTT_COMPACT_MEASURE=1 (it writes 200 MB), or =N to keep N deliveries
// of 32 KiB (64 by default: 1%; 2800: 45%).
func TestCompactMeasure(t *testing.T) {
	if os.Getenv("MQTT_COMPACT_MEASURE") == "" {
		t.Skip("set MQTT_COMPACT_MEASURE=1 to measure a compaction of 200 MB")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mqtt.db")
	on := noCompaction(t)
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep, _ := strconv.Atoi(os.Getenv("MQTT_COMPACT_MEASURE"))
	if keep <= 1 {
		keep = 64
	}
	commitWait(t, s, broker.Op{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "kept", ProtocolVersion: packet.V5, Expiry: 0xFFFFFFFF,
		DisconnectedAt: time.Now(), Subscriptions: []broker.SubscriptionState{{Filter: "q/#", Options: topic.Options{QoS: 1}}}}})
	queue(t, s, "kept", 1, keep, 32<<10)
	queue(t, s, "gone", 1, 6000-keep, 32<<10)
	s.Close()
	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	commitWait(t, s, broker.Op{Kind: broker.OpDeleteSession, ClientID: "gone"})
	s.Close()
	on()
	size := fileSize(t, path)
	// Started twice: compacting, then on the compacted file.
	for _, run := range []string{"compacting", "compacted"} {
		b := serve(t, dir)
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
		hwm := ""
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmHWM:") || strings.HasPrefix(l, "RssFile:") || strings.HasPrefix(l, "RssAnon:") {
				hwm += strings.Join(strings.Fields(l), " ") + ", "
			}
		}
		b.cmd.Process.Signal(syscall.SIGTERM)
		<-b.done
		ru := b.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		line := ""
		for _, l := range strings.Split(b.out.String(), "\n") {
			if strings.Contains(l, "compacted") {
				line = l
			}
		}
		t.Logf("%s: running: %suser %v, system %v; %s", run, hwm, time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), line)
	}
	t.Logf("%d bytes, then %d", size, fileSize(t, path))
}
