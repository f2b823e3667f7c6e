// Package loadgen drives a CloudHSM v2 endpoint over loopback with concurrent clients and
// measures what they see: completed requests per second and latency percentiles.
//
// It speaks only the wire: awsJson1_1 POSTs (X-Amz-Target: BaldrApiService.<Op>) and, for
// seeding, the emulator's admin API. It must never import the server's packages, so that one
// client measures cloudhsm-local, the ceiling server and moto alike.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options say how hard and how long to drive a target.
type Options struct {
	// Concurrency is the number of clients, each with its own request in flight.
	Concurrency int
	// Warmup is run before measuring; its requests are sent but not counted.
	Warmup time.Duration
	// Duration is how long requests are measured after the warm-up.
	Duration time.Duration
	// MaxRequests, when positive, also ends the measurement after that many requests.
	MaxRequests int
	// MinRequests, when positive, keeps measuring past Duration until that many requests
	// succeeded, but never starts a request later than MaxTime after the warm-up: a workload
	// whose requests take seconds still gets a latency.
	MinRequests int
	MaxTime     time.Duration
}

// Result summarises one measured run. Latencies are in milliseconds.
type Result struct {
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstRPS    float64 `json:"first_second_rps"` // throughput in the first measured second
	LastRPS     float64 `json:"last_second_rps"`  // and in the last: a decay shows a cost that grows with the store
	Concurrency int     `json:"concurrency"`
	FirstError  string  `json:"first_error,omitempty"`
	// WrongAnswers counts the errors that were a 200 with the wrong answer (ErrWrongAnswer).
	WrongAnswers int `json:"wrong_answers,omitempty"`
}

// Worker is one client of a run. Op is called with the same Worker for every request the
// client sends; Iter counts them from 0 (warm-up included), so a workload can walk its own
// slice of resources.
type Worker struct {
	ID   int
	Iter int
	// Scratch is reused between the worker's requests to hold response bodies.
	Scratch []byte
}

// Op sends one request and returns an error if it did not succeed.
type Op func(ctx context.Context, w *Worker) error

// sample is one request: when it started (since the measurement began) and how long it took.
type sample struct{ start, took time.Duration }

// Run drives op from opts.Concurrency workers: first for opts.Warmup, then measured for
// opts.Duration (or until opts.MaxRequests). Requests in flight when time is up complete
// normally; only requests that started inside the measured window count.
func Run(ctx context.Context, opts Options, op Op) Result {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	var (
		stop     atomic.Bool
		measured atomic.Int64
		errCount atomic.Int64
		wrong    atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	begin := time.Now()
	from := begin.Add(opts.Warmup)
	until := from.Add(opts.Duration)
	var succeeded atomic.Int64
	hardStop := until
	if opts.MinRequests > 0 && opts.MaxTime > opts.Duration {
		hardStop = from.Add(opts.MaxTime)
	}
	timer := time.AfterFunc(time.Until(until), func() {
		if opts.MinRequests <= 0 || succeeded.Load() >= int64(opts.MinRequests) {
			stop.Store(true)
		}
	})
	defer timer.Stop()
	hardTimer := time.AfterFunc(time.Until(hardStop), func() { stop.Store(true) })
	defer hardTimer.Stop()

	perWorker := make([][]sample, opts.Concurrency)
	var lastEnd atomic.Int64 // nanoseconds since from
	for i := range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &Worker{ID: i}
			samples := make([]sample, 0, 1<<14)
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				counted := !t0.Before(from)
				if counted && opts.MaxRequests > 0 && measured.Add(1) > int64(opts.MaxRequests) {
					stop.Store(true)
					break
				}
				err := op(ctx, w)
				w.Iter++
				t1 := time.Now()
				if !counted {
					continue
				}
				if err != nil {
					if errCount.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					if errors.Is(err, ErrWrongAnswer) {
						wrong.Add(1)
					}
					continue
				}
				samples = append(samples, sample{start: t0.Sub(from), took: t1.Sub(t0)})
				if n := succeeded.Add(1); opts.MinRequests > 0 && n >= int64(opts.MinRequests) && !t1.Before(until) {
					stop.Store(true)
				}
				for end := int64(t1.Sub(from)); ; {
					old := lastEnd.Load()
					if end <= old || lastEnd.CompareAndSwap(old, end) {
						break
					}
				}
			}
			perWorker[i] = samples
		}()
	}
	wg.Wait()

	var all []sample
	for _, s := range perWorker {
		all = append(all, s...)
	}
	res := Result{Requests: len(all), Errors: int(errCount.Load()), WrongAnswers: int(wrong.Load()), Concurrency: opts.Concurrency}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if len(all) == 0 {
		return res
	}
	res.Seconds = time.Duration(lastEnd.Load()).Seconds()
	if res.Seconds > 0 {
		res.RPS = float64(len(all)) / res.Seconds
	}
	lat := make([]time.Duration, len(all))
	var first, last int
	lastFrom := time.Duration(lastEnd.Load()) - time.Second
	for i, s := range all {
		lat[i] = s.took
		if s.start < time.Second {
			first++
		}
		if s.start >= lastFrom {
			last++
		}
	}
	slices.Sort(lat)
	res.P50Ms = ms(percentile(lat, 50))
	res.P99Ms = ms(percentile(lat, 99))
	res.MaxMs = ms(lat[len(lat)-1])
	if res.Seconds >= 2 {
		res.FirstRPS, res.LastRPS = float64(first), float64(last)
	}
	return res
}

// percentile returns the p-th percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// String renders a result on one line.
func (r Result) String() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d requests in %.1fs, c=%d",
		r.RPS, r.P50Ms, r.P99Ms, r.Requests, r.Seconds, r.Concurrency)
	if r.Errors > 0 {
		s += fmt.Sprintf(", %d errors (%d wrong answers), first: %s", r.Errors, r.WrongAnswers, r.FirstError)
	}
	return s + ")"
}
