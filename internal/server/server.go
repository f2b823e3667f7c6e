// Package server assembles cloudhsm-local from its parts — store, lifecycle engine, service,
// the awsJson front door, the admin API, the metrics and the console — and serves it over HTTP.
//
// It is the only place that knows every part; it holds no state of its own beyond the open
// store, so any number of servers can share one database.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/console"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/metrics"
	"github.com/cloudhsm-local/cloudhsm-local/internal/protocol"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// Version is reported by the health endpoint.
const Version = "0.1.0"

// Config is everything a server needs; cmd/cloudhsm-local fills it from flags and environment.
type Config struct {
	// Store is where state lives: "sqlite:PATH", "memory", or a PostgreSQL URL
	// ("postgres://USER@HOST:PORT/DB?sslmode=disable", also "postgresql://"; the database must
	// exist). Any number of servers may share one PostgreSQL database (or one SQLite file).
	Store string
	// Durability says what an acknowledged write survives; empty means
	// sqlstore.DurabilityProcess. The memory store refuses sqlstore.DurabilityFsync.
	Durability sqlstore.Durability
	// DefaultRegion is used for requests without a SigV4 credential scope.
	DefaultRegion string
	// Lifecycle sets delays and windows.
	Lifecycle lifecycle.Config
	// Service sets quotas and the subnet topology.
	Service service.Config
	// Clock is the wall clock; nil means clock.Real.
	Clock clock.Clock
	// Rand is the source of IDs and keys; nil means crypto/rand.
	Rand io.Reader
	// Logger receives one line per API request at Debug level, internal failures at Error,
	// and the store's and the server's start and stop at Info; nil discards them.
	Logger *slog.Logger
	// Verifier, when set, is strict mode: every API request must carry a valid SigV4 signature
	// of one of its credentials, and each is checked against its credential's policy. nil is
	// permissive mode.
	Verifier *identity.Verifier `json:"-"`
	// AdminToken, when set, is the bearer token the admin API requires.
	AdminToken string `json:"-"`
	// Faults is the fault-injection rule set (docs/BEHAVIOUR.md §9), kept in this process only;
	// nil means a new, empty one drawing from crypto/rand.
	Faults *faults.Set `json:"-"`
	// HTTP bounds connections (timeouts, header size); zero fields take DefaultHTTPLimits.
	HTTP HTTPLimits
	// History is how many API requests the request history keeps, in this process only
	// (GET /_cloudhsm-local/requests), up to history.MaxCapacity; 0 turns it off.
	History int
	// Seed, when set, is a fixture built at start into an empty store; a store that holds
	// resources already is left as it is, with a line in the log at Info.
	Seed *fixture.Document
}

// Server is an assembled cloudhsm-local.
type Server struct {
	store   store.Store
	handler http.Handler
	log     *slog.Logger
	limits  HTTPLimits
}

// New opens the store (running its migrations) and assembles the server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids := identity.Resolver{DefaultRegion: cfg.DefaultRegion, Strict: cfg.Verifier}
	if cfg.Verifier != nil {
		cfg.Service.Authorizer = service.CallerPolicies{}
	}
	if err := ids.Validate(); err != nil {
		return nil, err
	}
	src := &scrapeSource{clock: cfg.Clock}
	m := metrics.New(src, cfg.Logger) // this server's own registry
	st, err := openStore(ctx, cfg.Store, cfg.Durability, m)
	if err != nil {
		return nil, err
	}
	svc := service.New(cfg.Service, st, lifecycle.New(cfg.Lifecycle, cfg.Clock, cfg.Rand))
	if err := svc.Prepare(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("prepare store: %w", err), st.Close())
	}
	src.store, src.svc = st, svc
	cfg.Logger.Info("store open", "store", sqlstore.RedactDSN(cfg.Store), "kind", st.Kind(), "durability", cmp.Or(cfg.Durability, sqlstore.DurabilityProcess))
	if err := seed(ctx, cfg, svc); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	mux := http.NewServeMux()
	if cfg.Faults == nil {
		cfg.Faults = faults.New(nil)
	}
	adminOpts := []admin.Option{admin.WithFaults(cfg.Faults), admin.WithFixtures(svc, cfg.DefaultRegion)}
	apiOpts := []protocol.Option{protocol.WithFaults(cfg.Faults), protocol.WithObserver(m)}
	consoleCfg := console.Config{
		Service: svc, Faults: cfg.Faults, AdminToken: cfg.AdminToken, Version: Version, DefaultRegion: cfg.DefaultRegion,
		PendingDeletion: cfg.Lifecycle.PendingDeletion, Tombstone: cfg.Lifecycle.Tombstone, Clock: cfg.Clock, Logger: cfg.Logger,
	}
	if cfg.History != 0 {
		ring, err := history.New(cfg.History)
		if err != nil {
			return nil, errors.Join(err, st.Close())
		}
		adminOpts = append(adminOpts, admin.WithHistory(ring))
		apiOpts = append(apiOpts, protocol.WithRecorder(ring, cfg.Clock))
		consoleCfg.Requests = ring
	}
	mux.Handle(admin.Prefix, admin.RequireToken(cfg.AdminToken, admin.NewHandler(svc, Version, cfg.Logger, adminOpts...)))
	mux.Handle("GET "+MetricsPath, admin.RequireToken(cfg.AdminToken, m.Handler()))
	web, err := console.New(consoleCfg)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	mux.Handle(console.Prefix, web) // its own login (strict mode), not the admin API's bearer token
	mux.Handle("/", protocol.NewHandler(svc, ids, cfg.Logger, nil, apiOpts...))
	return &Server{store: st, handler: mux, log: cfg.Logger, limits: cfg.HTTP.orDefaults()}, nil
}

// openStore picks the backend named by a --store value, reporting its batches and failures to
// obs. Every backend is sqlstore's; the check here only gives an unknown value a message in
// terms of the flag.
func openStore(ctx context.Context, dsn string, durability sqlstore.Durability, obs sqlstore.Observer) (store.Store, error) {
	if durability == "" {
		durability = sqlstore.DurabilityProcess
	}
	switch {
	case dsn == "memory" || strings.HasPrefix(dsn, "sqlite:") ||
		strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return sqlstore.Open(ctx, dsn, sqlstore.WithDurability(durability), sqlstore.WithObserver(obs))
	}
	return nil, fmt.Errorf("unsupported --store %q: use sqlite:PATH, memory or postgres://USER@HOST:PORT/DB", sqlstore.RedactDSN(dsn))
}

// Handler returns the HTTP handler serving the CloudHSM API, the admin API, the metrics
// (MetricsPath) and the console.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to drain), and returns. Connections still busy
// when drain has passed are closed, so that Serve leaves none behind.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.limits.ReadHeaderTimeout,
		ReadTimeout:       s.limits.ReadTimeout,
		WriteTimeout:      s.limits.WriteTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    s.limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new connections, finishing requests in flight", "addr", ln.Addr().String(), "drain", drain)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return errors.Join(fmt.Errorf("shutdown: %w", err), hs.Close())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("stopped serving", "addr", ln.Addr().String())
	return nil
}

// Close closes the store.
func (s *Server) Close() error {
	err := s.store.Close()
	s.log.Info("store closed", "kind", s.store.Kind(), "err", err)
	return err
}

// seed builds cfg.Seed, if any, into an empty store; a store that holds resources is left as
// it is, and the log says so.
func seed(ctx context.Context, cfg Config, svc *service.Service) error {
	if cfg.Seed == nil {
		return nil
	}
	got, err := svc.SeedFixture(ctx, cfg.Seed, cfg.DefaultRegion)
	if errors.Is(err, service.ErrConflict) {
		cfg.Logger.Info("seed fixture not applied: the store already holds resources", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed the fixture: %w", err)
	}
	cfg.Logger.Info("seeded fixture", "clusters", len(got.Clusters), "hsms", got.HSMs, "backups", got.Backups)
	return nil
}
