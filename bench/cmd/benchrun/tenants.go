package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

// tenantWorkers is how many clients the multi-tenant and replica workloads run: the 32
// connections of the wrk runs, so that 32 tenants each get one.
const tenantWorkers = 32

// tenantBackups is how many backups each tenant's cluster holds for delete-restore: two for
// each worker even when a single tenant has all 32.
const tenantBackups = 2 * tenantWorkers

// tenant is one account of the multi-tenant workloads: its client and the backups its
// workers delete and restore.
type tenant struct {
	account string
	c       *loadgen.Client
	ids     []string
}

// seedTenantsAll gives every named target the largest -tenants count of accounts, each with an
// ACTIVE cluster of tenantBackups backups (through the API and the admin API's bulk
// take-backup, as a user would), all targets at once.
func (s *suite) seedTenantsAll(ctx context.Context, names ...string) {
	n := 0
	for _, k := range s.cfg.tenants {
		n = max(n, k)
	}
	targets := s.live(names...)
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- s.seedTenants(ctx, t, n) }()
	}
	for range targets {
		if err := <-errs; err != nil {
			s.logf("tenants: %v", err)
		}
	}
}

func (s *suite) seedTenants(ctx context.Context, t *target, n int) error {
	t0 := time.Now()
	tenants := make([]tenant, n)
	err := loadgen.Parallel(ctx, n, 4, func(ctx context.Context, i int) error {
		acct := loadgen.TenantAccount(i)
		c := t.c.As(acct)
		cluster, _, err := c.ActiveCluster(ctx)
		if err != nil {
			return fmt.Errorf("account %s: set up a cluster: %w", acct, err)
		}
		ids, err := takeBackups(ctx, t.c, cluster, tenantBackups, tenantBackups)
		if err != nil {
			return fmt.Errorf("account %s: back up %s: %w", acct, cluster, err)
		}
		tenants[i] = tenant{account: acct, c: c, ids: ids}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	t.tenants = tenants
	s.logf("%-10s %d tenants set up in %s (%d backups each)", t.name, n, time.Since(t0).Round(time.Millisecond), tenantBackups)
	return nil
}

// tenantLanes spreads tenantWorkers workers over the first n tenants of the first of
// servers (worker w works for tenant w mod n, on backups of its own), and over the servers
// (replicas of one database): a tenant's successive workers alternate between them.
func tenantLanes(servers []*target, n int) ([]loadgen.Lane, error) {
	tenants := servers[0].tenants
	if len(tenants) < n {
		return nil, fmt.Errorf("%d tenants set up, %d asked for", len(tenants), n)
	}
	lanes := make([]loadgen.Lane, tenantWorkers)
	for t := range n {
		workers := (tenantWorkers - t + n - 1) / n // w = t, t+n, t+2n, ...
		for j, l := range loadgen.Lanes(tenants[t].c, tenants[t].ids, workers) {
			w := t + j*n
			srv := servers[j%len(servers)]
			lanes[w] = loadgen.Lane{Client: srv.c.As(tenants[t].account), IDs: l.IDs}
		}
	}
	return lanes, nil
}

// ceilingLanes are lanes of made-up backups on the ceiling server, which answers anything.
func ceilingLanes(c *loadgen.Client) []loadgen.Lane {
	ids := make([]string, tenantBackups)
	for i := range ids {
		ids[i] = fmt.Sprintf("backup-%011d", i)
	}
	return loadgen.Lanes(c, ids, tenantWorkers)
}

// tenantsAll seeds the tenants and runs delete-restore-tenants: tenantWorkers clients over
// each -tenants count of accounts, on every store (postgres@base and the fsync targets at 1
// and 8 tenants only), each count after the ceiling with the same clients.
func (s *suite) tenantsAll(ctx context.Context) {
	s.seedTenantsAll(ctx, "memory", "sqlite", "postgres", "sqlite-fsync", "postgres-fsync", "postgres@base")
	opts := s.options("delete-restore")
	opts.Concurrency = tenantWorkers
	for _, n := range s.cfg.tenants {
		for _, c := range s.live("ceiling") {
			op, _ := loadgen.DeleteRestore(ceilingLanes(c.c))
			s.measure(ctx, Measurement{Workload: "delete-restore-tenants", Tenants: n}, c, op, nil, opts)
		}
		names := []string{"memory", "sqlite", "postgres"}
		if n == 1 || n == 8 {
			names = append(names, "postgres@base", "sqlite-fsync", "postgres-fsync")
		}
		for _, t := range s.live(names...) {
			if ctx.Err() != nil {
				return
			}
			lanes, err := tenantLanes([]*target{t}, n)
			if err != nil {
				s.logf("delete-restore-tenants on %s: %v", t.name, err)
				continue
			}
			op, settle := loadgen.DeleteRestore(lanes)
			s.measure(ctx, Measurement{Workload: "delete-restore-tenants", Backups: t.backups, Tenants: n}, t, op, settle, opts)
		}
	}
}

// replicas measures a workload on one server of a database and then on two serving it
// together (half the clients each), for SQLite and PostgreSQL, after the ceiling with the same
// clients: describe-one with -c clients, or delete-restore-tenants with 8 tenants.
func (s *suite) replicas(ctx context.Context, workload string) {
	if !s.cfg.replicas {
		return
	}
	opts := s.options("describe-one")
	name := "describe-one-replicas"
	if workload == "delete-restore-tenants" {
		opts.Concurrency, name = tenantWorkers, "delete-restore-replicas"
	}
	build := func(servers []*target) (loadgen.Op, func(context.Context) error, error) {
		if workload == "describe-one" {
			ops := make([]loadgen.Op, len(servers))
			for i, srv := range servers {
				id := servers[0].describeID
				if srv.kind == kindCeiling {
					id = "backup-00000000000"
				}
				ops[i] = loadgen.Checked(srv.c, "DescribeBackups", loadgen.DescribeBackupByID(id), loadgen.ListsBackup(id))
			}
			return loadgen.Spread(ops...), nil, nil
		}
		if servers[0].kind == kindCeiling {
			op, _ := loadgen.DeleteRestore(ceilingLanes(servers[0].c))
			return op, nil, nil
		}
		lanes, err := tenantLanes(servers, 8)
		if err != nil {
			return nil, nil, err
		}
		op, settle := loadgen.DeleteRestore(lanes)
		return op, settle, nil
	}
	for _, c := range s.live("ceiling") {
		op, settle, _ := build([]*target{c})
		s.measure(ctx, Measurement{Workload: name}, c, op, settle, opts)
	}
	for _, primary := range s.live("sqlite", "postgres") {
		second := s.live(primary.name + "-2")
		if len(second) == 0 {
			continue
		}
		tenants := 0
		if workload == "delete-restore-tenants" {
			tenants = 8
		}
		for _, servers := range [][]*target{{primary}, {primary, second[0]}} {
			if ctx.Err() != nil {
				return
			}
			op, settle, err := build(servers)
			if err != nil {
				s.logf("%s on %s: %v", name, primary.name, err)
				break
			}
			s.measure(ctx, Measurement{Workload: name, Backups: primary.backups, Tenants: tenants, Replicas: len(servers)},
				primary, op, settle, opts)
		}
	}
}

// baselineCommit is the commit bench/run.sh built the baseline from (BIN/baseline/COMMIT), or
// empty.
func baselineCommit(bin string) string {
	raw, err := os.ReadFile(filepath.Join(bin, "baseline", "COMMIT"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
