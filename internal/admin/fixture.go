package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// Fixtures: POST /_cloudhsm-local/fixture builds a hand-written fixture (package fixture) into
// an empty store; the import subcommand sends a fixture here and a snapshot to PUT state.

// Seeder builds fixtures; the service is one.
type Seeder interface {
	// SeedFixture builds doc into an empty store, clusters without a Region in region; it MUST
	// change nothing when it fails, return an error wrapping service.ErrConflict when the store
	// is not empty and one wrapping service.ErrInvalid for a document it refuses.
	SeedFixture(ctx context.Context, doc *fixture.Document, region string) (service.Seeded, error)
}

// WithFixtures serves POST /_cloudhsm-local/fixture with s, for clusters without a Region in
// region.
func WithFixtures(s Seeder, region string) Option {
	return func(h *handler) { h.seeder, h.region = s, region }
}

// FixtureSeeded is the body of a successful POST /_cloudhsm-local/fixture: the ID each cluster
// name got, and how many HSMs and backups were made.
type FixtureSeeded struct {
	Clusters map[string]string `json:"Clusters"`
	HSMs     int               `json:"Hsms"`
	Backups  int               `json:"Backups"`
}

func (h *handler) seedFixture(r *http.Request) (any, error) {
	if h.seeder == nil {
		return nil, statusError{http.StatusNotFound, "this server does not seed fixtures"}
	}
	doc, err := fixture.Read(r.Body)
	var bad *fixture.Error
	if errors.As(err, &bad) {
		return nil, statusError{http.StatusBadRequest, "the fixture is refused, nothing was seeded: " + bad.Error()}
	}
	if err != nil {
		return nil, statusError{http.StatusBadRequest, fmt.Sprintf("read the fixture: %v", err)}
	}
	got, err := h.seeder.SeedFixture(r.Context(), doc, h.region)
	if err != nil {
		return nil, err
	}
	return FixtureSeeded{Clusters: got.Clusters, HSMs: got.HSMs, Backups: got.Backups}, nil
}
