package cloudhsmlocal_test

import (
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// BenchmarkStartClose measures a memory-backed server's life in a test: Start, then the first
// API answer (ready), then Close. It reports the medians and 90th percentiles of start (Start
// returned), ready (the first DescribeClusters answered, counted from before Start) and close.
func BenchmarkStartClose(b *testing.B) {
	var start, ready, closed []time.Duration
	for b.Loop() {
		t0 := time.Now()
		srv, err := cloudhsmlocal.Start(b.Context(), cloudhsmlocal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := srv.Client(account1, region).DescribeClusters(b.Context(), &cloudhsmv2.DescribeClustersInput{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
		start, ready, closed = append(start, t1.Sub(t0)), append(ready, t2.Sub(t0)), append(closed, time.Since(t2))
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"start", start}, {"ready", ready}, {"close", closed}} {
		b.ReportMetric(quantileMs(m.d, 0.5), m.name+"-p50-ms")
		b.ReportMetric(quantileMs(m.d, 0.9), m.name+"-p90-ms")
	}
}

// BenchmarkStartCloseParallel is BenchmarkStartClose with as many servers at once as
// GOMAXPROCS (times -cpu), as parallel tests start them.
func BenchmarkStartCloseParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			srv, err := cloudhsmlocal.Start(b.Context(), cloudhsmlocal.Options{})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := srv.Client(account1, region).DescribeClusters(b.Context(), &cloudhsmv2.DescribeClustersInput{}); err != nil {
				b.Error(err)
			}
			if err := srv.Close(); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkIdleServers measures what 50 idle memory-backed servers, each having answered one
// request, cost: the Go heap (live objects after a collection) and the resident set, which
// also counts SQLite's own allocations outside the Go heap, per server.
func BenchmarkIdleServers(b *testing.B) {
	const n = 50
	for b.Loop() {
		heap0, rss0 := memory(b)
		servers := make([]*cloudhsmlocal.Server, n)
		for i := range servers {
			srv, err := cloudhsmlocal.Start(b.Context(), cloudhsmlocal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := srv.Client(account1, region).DescribeClusters(b.Context(), &cloudhsmv2.DescribeClustersInput{}); err != nil {
				b.Fatal(err)
			}
			servers[i] = srv
		}
		heap1, rss1 := memory(b)
		b.ReportMetric(float64(heap1-heap0)/n/1024, "heap-KiB/server")
		b.ReportMetric(float64(rss1-rss0)/n/1024, "rss-KiB/server")
		for _, srv := range servers {
			if err := srv.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// memory returns the live Go heap after a collection and the process's resident set, in bytes.
func memory(b *testing.B) (heap, rss int64) {
	b.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	statm, err := os.ReadFile("/proc/self/statm") // size resident shared ... in pages
	if err != nil {
		b.Fatalf("read the resident set (Linux's /proc/self/statm): %v", err)
	}
	fields := bytes.Fields(statm)
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		b.Fatalf("/proc/self/statm %q: %v", statm, err)
	}
	return int64(ms.HeapAlloc), pages * int64(os.Getpagesize())
}

// quantileMs returns the q-quantile of ds in milliseconds.
func quantileMs(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / float64(time.Millisecond)
}
