package server

import (
	"context"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// MetricsPath is where the Prometheus metrics are served (GET; with the admin token when the
// server has one).
const MetricsPath = "/metrics"

// scrapeSource is what a scrape of the metrics reads (metrics.Source): the store's counts
// and the virtual clock. Its store and service are set once both exist, before the server
// answers anything.
type scrapeSource struct {
	store store.Store
	svc   *service.Service
	clock clock.Clock
}

// CountResources counts the store's resources in a read-only transaction.
func (s *scrapeSource) CountResources(ctx context.Context) ([]store.ResourceCount, error) {
	var counts []store.ResourceCount
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		counts, err = tx.CountResources()
		return err
	})
	return counts, err
}

// ClockOffset is the virtual time minus the wall time, to the millisecond (the virtual
// clock's precision).
func (s *scrapeSource) ClockOffset(ctx context.Context) (time.Duration, error) {
	now, err := s.svc.VirtualNow(ctx)
	if err != nil {
		return 0, err
	}
	return now.Sub(s.clock.Now()).Round(time.Millisecond), nil
}
