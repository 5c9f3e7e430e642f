package broker

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workers run the broker's short jobs, a connection's read run and its
// writer, on goroutines that are kept for the next job instead of a new
// goroutine for each. With many lightly loaded connections every message
// starts a read run and a writer per subscriber; a new goroutine starts
// with a small stack that each of them grows by copying (runtime.newstack
// was 10% of the broker's CPU in the fleet profile: 2,000 clients at one
// message a second), where a kept one has its stack already.
//
// A job goes to an idle worker when there is one (a channel handoff, no
// allocation) and to a new goroutine otherwise, so jobs never wait for
// each other and a job that blocks (a writer waiting for a full socket)
// holds only its own goroutine. At most maxIdle workers wait for work;
// the others end when their job is done, so a burst leaves no crowd of
// goroutines behind.
type workers struct {
	jobs    chan job
	done    chan struct{} // closed by stop: idle workers end
	wg      sync.WaitGroup
	idle    atomic.Int32
	maxIdle int32
}

// job is a function of a connection: (*conn).runWriter, or a read run.
// A method expression and a pointer, so handing one over allocates
// nothing.
type job struct {
	c   *conn
	run func(*conn)
}

func newWorkers() *workers {
	return &workers{
		jobs:    make(chan job),
		done:    make(chan struct{}),
		maxIdle: int32(max(8, 4*runtime.GOMAXPROCS(0))),
	}
}

// spawn runs run(c) on an idle worker or a new goroutine. It must not be
// called after stop.
func (w *workers) spawn(c *conn, run func(*conn)) {
	j := job{c, run}
	select {
	case w.jobs <- j:
	default:
		w.wg.Add(1)
		go w.loop(j)
	}
}

func (w *workers) loop(j job) {
	defer w.wg.Done()
	for {
		j.run(j.c)
		j = job{} // keep nothing alive while idle
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case j = <-w.jobs:
			w.idle.Add(-1)
		case <-w.done:
			return
		}
	}
}

// stop ends the idle workers and waits for every worker: call it once no
// connection can start a job any more (after Broker.wg.Wait in Close).
func (w *workers) stop() {
	close(w.done)
	w.wg.Wait()
}
