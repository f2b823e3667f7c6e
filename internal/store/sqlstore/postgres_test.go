package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/storetest"
)

// PostgreSQL tests run against the server of pgtest (CLOUDHSM_LOCAL_TEST_POSTGRES), each in a
// fresh schema or database. They fail, never skip, when it is unreachable.

// openPostgresT opens a store in a fresh schema; the store is closed, then the schema dropped,
// when the test ends.
func openPostgresT(t *testing.T, srv *pgtest.Server, params ...string) (*Store, pgtest.Place) {
	t.Helper()
	p := srv.Schema(t)
	return openT(t, p.DSN(params...)), p
}

// inFlight is a store.Store that records how many Updates were running at once.
type inFlight struct {
	store.Store
	mu        sync.Mutex
	now, peak int
}

func (s *inFlight) Update(ctx context.Context, scope store.Scope, fn func(store.Tx) error) error {
	s.mu.Lock()
	s.now++
	s.peak = max(s.peak, s.now)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.now--
		s.mu.Unlock()
	}()
	return s.Store.Update(ctx, scope, fn)
}

func TestContractPostgres(t *testing.T) {
	srv := pgtest.Connect(t)
	// Each subtest gets a store on a fresh schema, opened (migrated, connected) ahead of need
	// in the background. The contract is about what transactions see, not about surviving a
	// crash of the server, so commits do not wait for the disk (synchronous_commit=off changes
	// nothing else): the suite runs much faster on a busy machine.
	stores := pgtest.Prefetch(t, srv, 4, func(ctx context.Context, p pgtest.Place) (*Store, error) {
		return Open(ctx, p.DSN("synchronous_commit", "off"))
	}, func(s *Store) { s.Close() })
	var mu sync.Mutex
	inFlights := map[string]*inFlight{}
	storetest.Run(t, func(t *testing.T) store.Store {
		s := stores(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		if s.Kind() != "postgres" {
			t.Fatalf("Kind = %q, want postgres", s.Kind())
		}
		w := &inFlight{Store: s}
		mu.Lock()
		inFlights[t.Name()] = w
		mu.Unlock()
		return w
	})
	// The concurrency contract ("... lose no update") must really be concurrent here: its
	// workers' Updates are in flight together, each on its own connection, and queue on the
	// database's lock rather than on a Go mutex or a one-connection pool.
	checked := 0
	for name, w := range inFlights {
		if !strings.HasSuffix(name, "lose_no_update") {
			continue
		}
		checked++
		t.Logf("%s: up to %d Updates in flight at once", name, w.peak)
		if w.peak < 2 {
			t.Errorf("%s ran its Updates one at a time (peak %d in flight)", name, w.peak)
		}
	}
	if checked == 0 && !t.Failed() && len(inFlights) > 50 {
		t.Error("the concurrency contract tests were not found by name; update this check")
	}
}

// Update begins with the schema's advisory lock: an Update of a second store on the same schema
// (another replica; one store queues its own Updates before they reach the database, see
// groupcommit.go) waits for it inside PostgreSQL, then sees what the first committed; a View
// neither waits nor sees uncommitted writes.
func TestPostgresUpdatesQueueOnTheWriteLock(t *testing.T) {
	srv := pgtest.Connect(t)
	s, p := openPostgresT(t, srv)
	replica := openT(t, p.DSN())
	ctx := t.Context()

	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, store.Everything(), func(tx store.Tx) error {
			if err := tx.PutSetting("n", "first"); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-first:
		t.Fatalf("first Update: %v", err)
	}
	type result struct {
		seen string
		err  error
	}
	second := make(chan result, 1)
	go func() {
		var seen string
		err := replica.Update(ctx, store.Everything(), func(tx store.Tx) error {
			v, err := tx.Setting("n")
			if err != nil {
				return err
			}
			seen = v
			return tx.PutSetting("n", v+",second")
		})
		second <- result{seen, err}
	}()

	waitUntil(t, "the second Update waits on the advisory lock", func() bool {
		var n int
		err := srv.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1
			AND application_name = $2 AND wait_event_type = 'Lock' AND wait_event = 'advisory'`, p.Database, p.App).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	err := s.View(ctx, func(tx store.Tx) error {
		_, err := tx.Setting("n")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("View while an Update holds the lock: %v, want ErrNotFound (no wait, no dirty read)", err)
	}
	select {
	case r := <-second:
		t.Fatalf("the second Update finished while the first held the lock: %+v", r)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Update: %v", err)
	}
	r := <-second
	if r.err != nil || r.seen != "first" {
		t.Fatalf("second Update saw %q, %v; want the first's commit", r.seen, r.err)
	}
}

// Updates are serialized by scope, across replicas and within one store: while an Update of
// tenant A holds its locks, an Update of a scope that does not overlap A's (another account,
// the same account in another region) commits at once, and one whose scope overlaps (A itself,
// A among others, Everything) waits on the advisory lock inside PostgreSQL, then sees what the
// first committed.
func TestPostgresUpdatesWaitOnlyForOverlappingScopes(t *testing.T) {
	srv := pgtest.Connect(t)
	a := store.Tenant{Account: "111122223333", Region: "us-east-1"}
	b := store.Tenant{Account: "444455556666", Region: "us-east-1"}
	aWest := store.Tenant{Account: a.Account, Region: "us-west-2"}
	for _, tc := range []struct {
		name         string
		held, second store.Scope
		onReplica    bool // the second Update runs on another Store of the same schema
		waits        bool
	}{
		{"another account, on a replica", store.Tenants(a), store.Tenants(b), true, false},
		{"another account, on the same store", store.Tenants(a), store.Tenants(b), false, false},
		{"the same account in another region", store.Tenants(a), store.Tenants(aWest), true, false},
		{"two other tenants", store.Tenants(a), store.Tenants(b, aWest), true, false},
		{"the same tenant", store.Tenants(a), store.Tenants(a), true, true},
		{"the tenant among others", store.Tenants(a), store.Tenants(b, a), true, true},
		{"everything, while a tenant is held", store.Tenants(a), store.Everything(), true, true},
		{"a tenant, while everything is held", store.Everything(), store.Tenants(b), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p := openPostgresT(t, srv)
			second := s
			if tc.onReplica {
				second = openT(t, p.DSN())
			}
			ctx := t.Context()
			holding, release := make(chan struct{}), make(chan struct{})
			first := make(chan error, 1)
			go func() {
				first <- s.Update(ctx, tc.held, func(tx store.Tx) error {
					if err := tx.InsertSubnet(store.Subnet{Account: a.Account, Region: a.Region, ID: "subnet-held", VpcID: "vpc-1", AvailabilityZone: "us-east-1a"}); err != nil {
						return err
					}
					close(holding)
					<-release
					return nil
				})
			}()
			select {
			case <-holding:
			case err := <-first:
				t.Fatalf("first Update: %v", err)
			}
			type result struct {
				sawFirst bool
				err      error
			}
			done := make(chan result, 1)
			go func() {
				var r result
				r.err = second.Update(ctx, tc.second, func(tx store.Tx) error {
					_, err := tx.Subnet(a.Account, a.Region, "subnet-held")
					r.sawFirst = err == nil
					if errors.Is(err, store.ErrNotFound) {
						err = nil
					}
					return err
				})
				done <- r
			}()
			if !tc.waits {
				select {
				case r := <-done:
					if r.err != nil || r.sawFirst {
						t.Fatalf("second Update: saw the first's uncommitted write %v, error %v", r.sawFirst, r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the second Update of a disjoint scope waited for the first")
				}
				close(release)
				if err := <-first; err != nil {
					t.Fatalf("first Update: %v", err)
				}
				return
			}
			waitUntil(t, "the second Update waits on an advisory lock", func() bool {
				var n int
				err := srv.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1
					AND application_name = $2 AND wait_event_type = 'Lock' AND wait_event = 'advisory'`, p.Database, p.App).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				return n == 1
			})
			select {
			case r := <-done:
				t.Fatalf("the second Update finished while the first held an overlapping scope: %+v", r)
			default:
			}
			close(release)
			if err := <-first; err != nil {
				t.Fatalf("first Update: %v", err)
			}
			if r := <-done; r.err != nil || !r.sawFirst {
				t.Fatalf("second Update: saw the first's commit %v, error %v; want it seen", r.sawFirst, r.err)
			}
		})
	}
}

// An Update whose function swallows the error of a failed statement is not committed: the
// server answers COMMIT with ROLLBACK, Update reports it, nothing is kept, and the connection
// goes back to the pool outside any transaction, so the next Updates work.
func TestPostgresUpdateAfterASwallowedFailureIsNotCommitted(t *testing.T) {
	srv := pgtest.Connect(t)
	s, _ := openPostgresT(t, srv, "pool_max_conns", "1")
	ctx := t.Context()
	err := s.Update(ctx, store.Tenants(store.Tenant{Account: "111122223333", Region: "us-east-1"}), func(st store.Tx) error {
		if err := st.InsertSubnet(store.Subnet{Account: "111122223333", Region: "us-east-1", ID: "subnet-1", VpcID: "vpc-1", AvailabilityZone: "us-east-1a"}); err != nil {
			return err
		}
		_, _ = st.(*tx).q.ExecContext(ctx, "SELECT 1/0") // fails; its error is dropped
		return nil
	})
	if !errors.Is(err, errCommitRolledBack) {
		t.Fatalf("Update = %v, want %v", err, errCommitRolledBack)
	}
	for i := range 3 {
		if err := s.Update(ctx, store.Everything(), func(st store.Tx) error {
			if _, err := st.Subnet("111122223333", "us-east-1", "subnet-1"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("the rolled-back subnet: %v, want ErrNotFound", err)
			}
			return st.PutSetting("n", fmt.Sprint(i))
		}); err != nil {
			t.Fatalf("Update #%d after it: %v", i, err)
		}
	}
}

// Lock keys come in ascending order without duplicates, whatever the order of the tenants.
func TestAdvisoryLockKeysAreCanonical(t *testing.T) {
	l := advisoryLocks{schema: "s"}
	x := store.Tenant{Account: "111122223333", Region: "us-east-1"}
	y := store.Tenant{Account: "111122223333", Region: "eu-west-1"}
	one, other := l.tenantKeys(store.Tenants(x, y, x)), l.tenantKeys(store.Tenants(y, x))
	if len(one) != 2 || !slices.Equal(one, other) || one[0] >= one[1] {
		t.Fatalf("keys %v and %v: want the same two, ascending", one, other)
	}
	if k := l.tenantKeys(store.Tenants(x)); k[0] == l.everything || k[0] == lockKey("write", "s") {
		t.Fatal("a tenant's key is the key of everything")
	}
}

// Stores in two schemas of one database have different write locks.
func TestPostgresSchemasDoNotShareTheWriteLock(t *testing.T) {
	srv := pgtest.Connect(t)
	a, _ := openPostgresT(t, srv)
	b, _ := openPostgresT(t, srv)
	ctx := t.Context()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Update(ctx, store.Everything(), func(tx store.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	defer func() {
		close(release)
		if err := <-done; err != nil {
			t.Errorf("Update in schema a: %v", err)
		}
	}()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Update(bctx, store.Everything(), func(tx store.Tx) error { return tx.PutSetting("k", "v") }); err != nil {
		t.Fatalf("Update in schema b while schema a's lock is held: %v", err)
	}
}

// Replicas starting at the same moment on an empty schema apply each migration once; every
// text column compares in byte order.
func TestPostgresConcurrentOpensMigrateOnce(t *testing.T) {
	srv := pgtest.Connect(t)
	p := srv.Schema(t)
	const replicas = 8
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			<-startGate
			stores[i], errs[i] = Open(t.Context(), p.DSN("pool_max_conns", "2"))
		})
	}
	close(startGate)
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("Open #%d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	rows, maxVersion := migrationCount(t, stores[0])
	if rows != len(migrations) || maxVersion != migrations[len(migrations)-1].version {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d", rows, maxVersion, len(migrations))
	}
	var text, notC int
	err := srv.DB.QueryRowContext(t.Context(), `SELECT count(*), count(*) FILTER (WHERE collation_name IS DISTINCT FROM 'C')
		FROM information_schema.columns WHERE table_schema = $1 AND data_type = 'text'`, p.Name).Scan(&text, &notC)
	if err != nil {
		t.Fatal(err)
	}
	if text < 30 || notC != 0 {
		t.Fatalf("%d text columns, %d of them not in the C collation", text, notC)
	}
}

// IDs and tag keys sort in byte order, as in SQLite, whatever the database's collation.
func TestPostgresOrdersTextByBytes(t *testing.T) {
	srv := pgtest.Connect(t)
	s, _ := openPostgresT(t, srv)
	keys := []string{"b", "B", "a", "_", "Z", "é", "e", "1", "~", "aa", "A-"}
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
		var tags []store.Tag
		for _, k := range keys {
			tags = append(tags, store.Tag{Key: k, Value: k})
			b := store.Backup{ID: "backup-" + k, Account: "111111111111", Region: "us-east-1", State: "READY", CreatedAt: created}
			if err := tx.InsertBackup(b); err != nil {
				return err
			}
		}
		return tx.PutTags("cluster-x", tags)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	err = s.View(t.Context(), func(tx store.Tx) error {
		tags, err := tx.Tags("cluster-x")
		if err != nil {
			return err
		}
		var got []string
		for _, tag := range tags["cluster-x"] {
			got = append(got, tag.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("tag keys in order %q, want %q", got, want)
		}
		// Keyset pages of one, ascending, after each ID in turn: byte order again.
		var ids []string
		var after *store.Cursor
		for {
			page, err := tx.Backups(store.BackupQuery{Account: "111111111111", Region: "us-east-1", Ascending: true, After: after, Limit: 1})
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			ids = append(ids, strings.TrimPrefix(page[0].ID, "backup-"))
			after = &store.Cursor{CreatedAt: page[0].CreatedAt, ID: page[0].ID}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("backup IDs paged in order %q, want %q", ids, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPostgresReopenKeepsDataAndRefusesNewerSchema(t *testing.T) {
	srv := pgtest.Connect(t)
	p := srv.Schema(t)
	ctx := t.Context()
	s, err := Open(ctx, p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, store.Everything(), func(tx store.Tx) error { return tx.ReserveID("backup-1") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, p.DSN())
	if rows, _ := migrationCount(t, s); rows != len(migrations) {
		t.Fatalf("schema_migrations has %d rows after reopening, want %d", rows, len(migrations))
	}
	err = s.Update(ctx, store.Everything(), func(tx store.Tx) error { return tx.ReserveID("backup-1") })
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ReserveID after reopen: %v, want ErrConflict", err)
	}
	if _, err := s.writer.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(ctx, p.DSN()); err == nil {
		s2.Close()
		t.Fatal("Open of a schema from a newer program succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestPostgresOpenErrors(t *testing.T) {
	srv := pgtest.Connect(t)
	p := srv.Schema(t)
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"no server", "postgres://postgres:secret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", "127.0.0.1"},
		{"no schema", p.DSN("search_path", "t_no_such_schema"), "search_path names no existing schema"},
		{"bad pool size", p.DSN("pool_max_conns", "0"), "pool_max_conns"},
		{"bad pool size text", p.DSN("pool_max_conns", "many"), "pool_max_conns"},
		{"bad URL", "postgres://postgres:secret@[::1/test", "parse DSN"},
		{"bad parameter", "postgres://postgres:secret@127.0.0.1:5432/test?sslmode=bogus", "parse DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("Open: %v; want a message with %q and without the password", err, tc.want)
			}
		})
	}
}

// With its database unreachable — its sessions terminated, new ones refused (the store's role
// may not log in) — the store returns errors (wrapped, never a panic), an interrupted Update
// keeps nothing, and once the database is back the store recovers by itself: the first Update
// afterwards succeeds even though every pooled connection died.
func TestPostgresOutageFailsCleanlyAndRecovers(t *testing.T) {
	srv := pgtest.Connect(t)
	p := srv.Role(t)
	ctx := t.Context()
	s := openT(t, p.DSN("pool_max_conns", "4"))
	put := func(name, value string) error {
		return s.Update(ctx, store.Everything(), func(tx store.Tx) error { return tx.PutSetting(name, value) })
	}
	// Fill the pool with idle connections.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := put(fmt.Sprint("warm", i), "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	// An Update in flight when its session is terminated fails and keeps nothing.
	holding, release := make(chan struct{}), make(chan struct{})
	inFlight := make(chan error, 1)
	go func() {
		inFlight <- s.Update(ctx, store.Everything(), func(tx store.Tx) error {
			if err := tx.PutSetting("half", "written"); err != nil {
				return err
			}
			close(holding)
			<-release
			return tx.PutSetting("other", "half")
		})
	}()
	<-holding
	srv.SetLogin(t, p, false)
	if n := srv.Terminate(t, p); n == 0 {
		t.Fatal("no session of the store to terminate")
	}
	close(release)
	if err := <-inFlight; err == nil {
		t.Fatal("an Update whose session was terminated succeeded")
	} else {
		t.Logf("in-flight Update: %v", err)
	}

	// While the database refuses connections, Update and View fail with wrapped errors.
	err := put("during", "outage")
	if err == nil || !strings.Contains(err.Error(), "postgres store: begin update") {
		t.Fatalf("Update during the outage: %v", err)
	}
	err = s.View(ctx, func(tx store.Tx) error { _, err := tx.Setting("warm0"); return err })
	if err == nil || !strings.Contains(err.Error(), "postgres store: begin view") {
		t.Fatalf("View during the outage: %v", err)
	}

	srv.SetLogin(t, p, true)
	if err := put("after", "outage"); err != nil {
		t.Fatalf("first Update after the outage: %v", err)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		for _, name := range []string{"half", "other", "during"} {
			if _, err := tx.Setting(name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("setting %s after the outage: %v, want ErrNotFound", name, err)
			}
		}
		_, err := tx.Setting("after")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Sessions terminated while idle (a server restart, a failover) cost no request at all,
	// whether the first statement after it is a write, an agenda (sent in one pipeline with
	// BEGIN and the locks) or a View's.
	srv.Terminate(t, p)
	if err := put("after", "restart"); err != nil {
		t.Fatalf("first Update after its idle sessions were terminated: %v", err)
	}
	srv.Terminate(t, p)
	if err := s.Update(ctx, store.Tenants(store.Tenant{Account: "111122223333", Region: "us-east-1"}), func(tx store.Tx) error {
		_, _, _, err := tx.Agenda(store.Tenants(store.Tenant{Account: "111122223333", Region: "us-east-1"}), "after")
		return err
	}); err != nil {
		t.Fatalf("first agenda after the idle sessions were terminated: %v", err)
	}
	srv.Terminate(t, p)
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Setting("after"); return err }); err != nil {
		t.Fatalf("first View after the idle sessions were terminated: %v", err)
	}
}

// waitUntil polls cond for up to 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The filtered DescribeBackups queries and the quota count choose the owner-prefixed indexes of
// migration 3 on PostgreSQL too. Sequential scans are disabled for the EXPLAIN: the tables are
// empty, and the question is which index the planner prefers, not whether it would scan.
func TestPostgresQueryPlansUseIndexes(t *testing.T) {
	srv := pgtest.Connect(t)
	s, _ := openPostgresT(t, srv)
	one := []string{"v"}
	clq, clargs := backupsQuery(postgresDialect, store.BackupQuery{Account: "a", Region: "r", ClusterIDs: one, Limit: 51, WithTags: true})
	rq, rargs := backupsQuery(postgresDialect, store.BackupQuery{Account: "a", Region: "r", ClusterIDs: one, States: one})
	stq, stargs := backupsQuery(postgresDialect, store.BackupQuery{Account: "a", Region: "r", States: one, Limit: 51, WithTags: true})
	for _, tc := range []struct {
		name, query string
		args        []any
		index       string
	}{
		{"backups of one cluster", clq, clargs, "backups_by_owner_cluster"},
		{"ready backups of one cluster (retention)", rq, rargs, "backups_by_owner_cluster"},
		{"backups in one state", stq, stargs, "backups_by_owner_state"},
		{"count clusters", qLiveClusters, []any{"a", "r"}, "cluster_counts_pkey"},
		{"count backups that are not READY", qCountBackupsNotReady, nil, "backups_not_ready"},
		{"next backup event of a tenant", qNextTenantBackupEvent, []any{"a", "r"}, "backups_due_by_owner"},
		{"next hsm event of a tenant", qNextTenantHSMEvent, []any{"a", "r"}, "Index Scan using hsms_by_due"},
		{"next cluster event of a tenant", qNextTenantClusterEvent, []any{"a", "r"}, "clusters_due_by_owner"},
		{"next daily backup of a tenant", qNextTenantDailyBackup, []any{"a", "r"}, "clusters_next_backup_by_owner"},
	} {
		conn, err := s.writer.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(t.Context(), "EXPLAIN "+s.d.rebind(tc.query), tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		rows.Close()
		_, _ = conn.ExecContext(t.Context(), "RESET enable_seqscan")
		_ = conn.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", tc.name, joined)
		if !strings.Contains(joined, tc.index) {
			t.Errorf("%s: plan %q does not use %s", tc.name, joined, tc.index)
		}
	}
}
