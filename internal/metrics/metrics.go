// Package metrics is cloudhsm-local's Prometheus instrumentation, served at GET /metrics: what
// the awsJson front door answered (protocol.Observer), what the store's group commit did
// (sqlstore.Observer), and, read at each scrape, how many resources the store holds by kind
// and state and how far the virtual clock is ahead of the wall clock.
//
// Every Metrics has its own prometheus.Registry: nothing is registered globally, so two servers
// in one process (the cloudhsmlocal library starts many) never share or double-count. The
// package only counts; it must never decide anything or hold a copy of the store's truth.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/protocol"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Namespace starts the name of every metric.
const Namespace = "cloudhsm_local"

// Source is what a scrape reads from the server: both are asked once per scrape.
type Source interface {
	// CountResources counts the store's resources by kind and state (store.Tx.CountResources).
	CountResources(ctx context.Context) ([]store.ResourceCount, error)
	// ClockOffset is how far the virtual clock is ahead of the wall clock.
	ClockOffset(ctx context.Context) (time.Duration, error)
}

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 10 * time.Second

// Metrics holds one server's metrics and serves them.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	batches     prometheus.Histogram
	storeErrors *prometheus.CounterVec
	handler     http.Handler
}

var _ protocol.Observer = (*Metrics)(nil)

// New returns the metrics of one server, reading src at each scrape. Scrape failures (the
// store unreachable, say) are logged to logger and leave the metrics that need the store out
// of that scrape; the others are still served.
func New(src Source, logger *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "CloudHSM v2 API requests answered, by operation (empty when the request named none of the 18), HTTP status and error name (empty on success).",
		}, []string{"operation", "status", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "request_duration_seconds",
			Help:    "Time from a CloudHSM v2 API request's arrival to its answer, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15), // 0.5 ms to 8 s
		}, []string{"operation"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "store", Name: "batch_updates",
			Help:    "Updates per store transaction (group commit: 1 when an Update ran alone).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "store", Name: "errors_total",
			Help: "Store transaction steps the database refused, by step (begin, lock, savepoint, commit).",
		}, []string{"step"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.batches, m.storeErrors,
		newScrape(src, logger),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Request counts one answered API request (protocol.Observer).
func (m *Metrics) Request(o protocol.Outcome) {
	m.requests.WithLabelValues(o.Operation, strconv.Itoa(o.Status), string(o.Error)).Inc()
	m.duration.WithLabelValues(o.Operation).Observe(o.Duration.Seconds())
}

// Batch records the size of one store transaction (sqlstore.Observer).
func (m *Metrics) Batch(updates int) { m.batches.Observe(float64(updates)) }

// Failure counts one store step the database refused (sqlstore.Observer).
func (m *Metrics) Failure(step string) { m.storeErrors.WithLabelValues(step).Inc() }

// scrape is the collector of what is read at scrape time.
type scrape struct {
	src                    Source
	log                    *slog.Logger
	resources, clockOffset *prometheus.Desc
	modelStates            map[string][]string
}

func newScrape(src Source, logger *slog.Logger) *scrape {
	return &scrape{
		src: src, log: logger,
		resources: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "resources"),
			"Resources in the store, over every account and region, by kind (cluster, hsm, backup) and state; read at scrape time.",
			[]string{"kind", "state"}, nil),
		clockOffset: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "clock_offset_seconds"),
			"How far the virtual clock is ahead of the wall clock; read at scrape time.", nil, nil),
		// Every state the model knows is reported, 0 when no resource is in it, so that a
		// series does not vanish when its last resource leaves.
		modelStates: map[string][]string{
			store.KindBackup:  api.BackupStateValues(),
			store.KindCluster: api.ClusterStateValues(),
			store.KindHSM:     api.HsmStateValues(),
		},
	}
}

// Describe sends the descriptors of what Collect reads.
func (s *scrape) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.resources
	ch <- s.clockOffset
}

// Collect reads the store's counts and the clock offset.
func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if counts, err := s.src.CountResources(ctx); err != nil {
		s.log.Warn("metrics: count resources", "err", err)
		ch <- prometheus.NewInvalidMetric(s.resources, err)
	} else {
		type key struct{ kind, state string }
		values := map[key]float64{}
		for kind, states := range s.modelStates {
			for _, state := range states {
				values[key{kind, state}] = 0
			}
		}
		for _, c := range counts {
			values[key{c.Kind, c.State}] = float64(c.Count)
		}
		for k, v := range values {
			ch <- prometheus.MustNewConstMetric(s.resources, prometheus.GaugeValue, v, k.kind, k.state)
		}
	}
	if offset, err := s.src.ClockOffset(ctx); err != nil {
		s.log.Warn("metrics: read the virtual clock", "err", err)
		ch <- prometheus.NewInvalidMetric(s.clockOffset, err)
	} else {
		ch <- prometheus.MustNewConstMetric(s.clockOffset, prometheus.GaugeValue, offset.Seconds())
	}
}
