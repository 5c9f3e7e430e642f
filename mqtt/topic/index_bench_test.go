package topic

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchIndex builds an index of n subscriptions with a realistic mix over
// n/100 sites of ~100 devices each:
//
//	80% exact    site/{s}/dev/{d}/temp
//	10% '+'      site/{s}/dev/+/temp
//	 5% '#'      site/{s}/#
//	 4% leading  +/{s}/dev/{d}/+
//	 1% shared   $share/g{k}/site/{s}/dev/+/status   (Group g{k})
func benchIndex(n int) (*SubscriptionIndex[int], int) {
	x := NewIndex[int]()
	sites := max(n/100, 10)
	for i := range n {
		s, d := strconv.Itoa(i%sites), strconv.Itoa(i/sites)
		sub := Subscription[int]{Subscriber: i, Options: Options{QoS: 1}}
		switch r := i % 100; {
		case r < 80:
			sub.Filter = "site/" + s + "/dev/" + d + "/temp"
		case r < 90:
			sub.Filter = "site/" + s + "/dev/+/temp"
		case r < 95:
			sub.Filter = "site/" + s + "/#"
		case r < 99:
			sub.Filter = "+/" + s + "/dev/" + d + "/+"
		default:
			sub.Filter, sub.Group = "site/"+s+"/dev/+/status", "g"+strconv.Itoa(i%7)
		}
		x.Subscribe(sub)
	}
	return x, sites
}

// benchTopics are names to publish to: device topics of existing sites.
func benchTopics(n, sites int) []string {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	t := make([]string, 4096)
	devs := max(n/sites, 1)
	for i := range t {
		t[i] = fmt.Sprintf("site/%d/dev/%d/temp", r.IntN(sites), r.IntN(devs))
	}
	return t
}

func BenchmarkMatch(b *testing.B) {
	sizes := []int{1_000, 100_000, 1_000_000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, n := range sizes {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		start := time.Now()
		x, sites := benchIndex(n)
		setup := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
		topics := benchTopics(n, sites)
		b.Logf("%d subscriptions: setup %v, %.0f heap bytes/subscription", n, setup.Round(time.Millisecond), heap)

		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]Subscription[int], 0, 1024)
			matches := 0
			i := 0
			for b.Loop() {
				dst = x.MatchAppend(dst[:0], topics[i&4095])
				matches += len(dst)
				i++
			}
			b.ReportMetric(float64(matches)/float64(i), "matches/op")
			b.ReportMetric(heap, "B/sub")
		})
		b.Run(fmt.Sprintf("subs=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]Subscription[int], 0, 1024)
				i := rand.IntN(4096)
				for pb.Next() {
					dst = x.MatchAppend(dst[:0], topics[i&4095])
					i++
				}
			})
		})
		runtime.KeepAlive(x)
	}
}

// BenchmarkMatchDuringChurn measures parallel Match while one goroutine
// subscribes and unsubscribes continuously (the broker's steady state).
func BenchmarkMatchDuringChurn(b *testing.B) {
	const n = 100_000
	x, sites := benchIndex(n)
	topics := benchTopics(n, sites)
	b.ReportAllocs()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := "site/" + strconv.Itoa(i%sites) + "/dev/churn/temp"
			x.Subscribe(Subscription[int]{Subscriber: -1, Filter: f})
			x.Unsubscribe(-1, f, "")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]Subscription[int], 0, 1024)
		i := rand.IntN(4096)
		for pb.Next() {
			dst = x.MatchAppend(dst[:0], topics[i&4095])
			i++
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

// BenchmarkChurn measures one Subscribe plus one Unsubscribe of a new
// device filter (creating and pruning trie nodes) on a 100k index.
func BenchmarkChurn(b *testing.B) {
	const n = 100_000
	x, sites := benchIndex(n)
	filters := make([]string, 4096)
	for i := range filters {
		filters[i] = fmt.Sprintf("site/%d/dev/new%d/temp", i%sites, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := filters[i&4095]
		x.Subscribe(Subscription[int]{Subscriber: -1, Filter: f})
		x.Unsubscribe(-1, f, "")
		i++
	}
	if x.Count() != n {
		b.Fatalf("Count = %d, want %d", x.Count(), n)
	}
}
