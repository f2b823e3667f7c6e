package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// tx is the store.Tx of one Update or View.
type tx struct {
	ctx      context.Context
	q        txn // a *sql.Tx on SQLite, whose prepared statements (stmts) it can run
	d        *dialect
	stmts    statements // prepared at Open, keyed by portable text
	readOnly bool
}

var _ store.Tx = (*tx)(nil)

// writable fails every write of a View before it reaches the database (whose reader
// connections are query_only as well).
func (t *tx) writable(op string) error {
	if t.readOnly {
		return fmt.Errorf("%s: %w", op, errReadOnly)
	}
	return nil
}

// exec runs a write statement.
func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if t.readOnly {
		return nil, errReadOnly
	}
	if st := t.stmts[query]; st != nil {
		return t.q.(*sql.Tx).StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
	}
	return t.q.ExecContext(t.ctx, t.d.rebind(query), args...)
}

// execCount runs a write statement and returns how many rows it changed.
func (t *tx) execCount(query string, args ...any) (int64, error) {
	res, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow runs a single-row SELECT.
func (t *tx) queryRow(query string, args ...any) *sql.Row {
	if st := t.stmts[query]; st != nil {
		return t.q.(*sql.Tx).StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
	}
	return t.q.QueryRowContext(t.ctx, t.d.rebind(query), args...)
}

// query runs a SELECT.
func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if st := t.stmts[query]; st != nil {
		return t.q.(*sql.Tx).StmtContext(t.ctx, st).QueryContext(t.ctx, args...)
	}
	return t.q.QueryContext(t.ctx, t.d.rebind(query), args...)
}

// count runs a SELECT COUNT(*).
func (t *tx) count(query string, args ...any) (int, error) {
	var n int
	err := t.queryRow(query, args...).Scan(&n)
	return n, err
}

// notFound wraps store.ErrNotFound for a missing record, and other errors with context.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf(format+": %w", append(args, store.ErrNotFound)...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Setting returns a named value, ErrNotFound if unset.
func (t *tx) Setting(name string) (string, error) {
	var v string
	if err := t.queryRow(qSetting, name).Scan(&v); err != nil {
		return "", notFound(err, "get setting %s", name)
	}
	return v, nil
}

// Settings returns the values of the named settings that are set, in one statement.
func (t *tx) Settings(names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	if len(names) == 0 {
		return out, nil
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := t.query(settingsQuery(len(names)), args...)
	if err != nil {
		return nil, fmt.Errorf("get settings %v: %w", names, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("get settings %v: %w", names, err)
		}
		out[name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get settings %v: %w", names, err)
	}
	return out, nil
}

// PutSetting creates or replaces a named value.
func (t *tx) PutSetting(name, value string) error {
	if err := t.writable("put setting " + name); err != nil {
		return err
	}
	if _, err := t.exec(qPutSetting, name, value); err != nil {
		return fmt.Errorf("put setting %s: %w", name, err)
	}
	return nil
}

// InitSetting stores value under name unless set and returns the value in force.
func (t *tx) InitSetting(name, value string) (string, error) {
	if err := t.writable("init setting " + name); err != nil {
		return "", err
	}
	if _, err := t.exec(qInitSetting, name, value); err != nil {
		return "", fmt.Errorf("init setting %s: %w", name, err)
	}
	return t.Setting(name)
}

// ReserveID records an ID; ErrConflict if it was ever reserved.
func (t *tx) ReserveID(id string) error {
	if err := t.writable("reserve id " + id); err != nil {
		return err
	}
	n, err := t.execCount(qReserveID, id)
	if err != nil {
		return fmt.Errorf("reserve id %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("reserve id %s: %w", id, store.ErrConflict)
	}
	return nil
}

// NextEvent returns the earliest scheduled event in scope: the first of each table's due index
// (of everything, or of each tenant), all four asked in one statement per tenant, compared in
// Go by (At, Kind, ID).
func (t *tx) NextEvent(in store.Scope) (store.Event, bool, error) {
	_, ev, ok, err := t.Agenda(in)
	return ev, ok, err
}

// Agenda returns the named settings that are set and the earliest event in scope. For
// everything or one tenant this is one statement; each further tenant costs one more.
func (t *tx) Agenda(in store.Scope, names ...string) (map[string]string, store.Event, bool, error) {
	var a agenda
	a.settings = make(map[string]string, len(names))
	tenants := in.List()
	var err error
	switch {
	case in.All():
		err = a.read(t, agendaQuery(len(names), allEvents), names)
	case len(tenants) == 0:
		err = a.read(t, agendaQuery(len(names), noEvents), names)
	default:
		// The settings come with the first tenant's events, the others' one statement each.
		err = a.read(t, agendaQuery(len(names), tenantEvents), names, tenants[0])
		for _, tn := range tenants[1:] {
			if err != nil {
				break
			}
			err = a.read(t, agendaQuery(0, tenantEvents), nil, tn)
		}
	}
	if err != nil {
		return nil, store.Event{}, false, fmt.Errorf("agenda of %s: %w", in.Key(), err)
	}
	return a.settings, a.next, a.found, nil
}

// agenda collects the rows of agenda queries.
type agenda struct {
	settings map[string]string
	next     store.Event
	found    bool
}

// read runs one agenda query with the given setting names and, if given, one tenant; an
// empty query reads nothing.
func (a *agenda) read(t *tx, query string, names []string, tenant ...store.Tenant) error {
	if query == "" {
		return nil
	}
	args := make([]any, 0, len(names)+8)
	for _, n := range names {
		args = append(args, n)
	}
	for _, tn := range tenant {
		for range 4 {
			args = append(args, tn.Account, tn.Region)
		}
	}
	return t.readRows(query, args, func(scan func(dest ...any) error) error {
		var kind int
		var id, value string
		var at int64
		if err := scan(&kind, &id, &value, &at); err != nil {
			return err
		}
		if kind == settingRow {
			a.settings[id] = value
			return nil
		}
		ev := store.Event{Kind: store.EventKind(kind), ID: id, At: fromMs(at)}
		if !a.found || eventBefore(ev, a.next) {
			a.next, a.found = ev, true
		}
		return nil
	})
}

// rowReader is a txn that can read the rows of a query itself, without database/sql: a
// PostgreSQL transaction begun by hand sends its BEGIN (and locks) with the first such query,
// in one round trip, and reads every row through pgx directly (connTxn.readRows).
type rowReader interface {
	readRows(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error
}

// readRows runs a SELECT and calls row with the scanner of each row it returns, in order.
func (t *tx) readRows(query string, args []any, row func(scan func(dest ...any) error) error) error {
	if r, ok := t.q.(rowReader); ok {
		return r.readRows(t.ctx, t.d.rebind(query), args, row)
	}
	rows, err := t.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// eventBefore orders events by At, then Kind, then ID.
func eventBefore(a, b store.Event) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.ID < b.ID
}

// Backup returns a backup by ID, or ErrNotFound.
func (t *tx) Backup(id string) (store.Backup, error) {
	b, err := newBackupRow(false).scan(t.queryRow(qBackup, id))
	if err != nil {
		return store.Backup{}, notFound(err, "get backup %s", id)
	}
	return b, nil
}

// InsertBackup adds a backup with Version 1; ErrConflict if the ID exists.
func (t *tx) InsertBackup(b store.Backup) error {
	if err := t.writable("insert backup " + b.ID); err != nil {
		return err
	}
	n, err := t.execCount(qInsertBackup, append([]any{b.ID}, backupArgs(b)...)...)
	if err != nil {
		return fmt.Errorf("insert backup %s: %w", b.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("insert backup %s: %w", b.ID, store.ErrConflict)
	}
	return nil
}

// UpdateBackup replaces the backup of b's ID and Version, increments its Version and returns b
// with the new Version.
func (t *tx) UpdateBackup(b store.Backup) (store.Backup, error) {
	if err := t.writable("update backup " + b.ID); err != nil {
		return b, err
	}
	n, err := t.execCount(qUpdateBackup, b.State, b.NeverExpires, msOrNull(b.DeleteAt), msOrNull(b.DueAt), b.ID, b.Version)
	if err != nil {
		return b, fmt.Errorf("update backup %s: %w", b.ID, err)
	}
	if n == 0 {
		return b, t.missingOrChanged(qBackupExists, "update backup", b.ID, b.Version)
	}
	b.Version++
	return b, nil
}

// missingOrChanged explains why a conditional update matched no row.
func (t *tx) missingOrChanged(existsQuery, op, id string, version int64) error {
	exists, err := t.count(existsQuery, id)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	if exists == 0 {
		return fmt.Errorf("%s %s: %w", op, id, store.ErrNotFound)
	}
	return fmt.Errorf("%s %s: version %d is stale: %w", op, id, version, store.ErrConflict)
}

// DeleteBackup removes a backup with its tags, policy and grants. A missing backup is not an
// error: the purge is idempotent.
func (t *tx) DeleteBackup(id string) error {
	if err := t.writable("delete backup " + id); err != nil {
		return err
	}
	for _, q := range []string{qDeleteBackup, qDeleteAllTags, qDeletePolicy, qDeleteGrants} {
		if _, err := t.exec(q, id); err != nil {
			return fmt.Errorf("delete backup %s: %w", id, err)
		}
	}
	return nil
}

// Backups lists backups matching q in (CreatedAt, ID) order, with their tags if q.WithTags
// (one statement either way).
func (t *tx) Backups(q store.BackupQuery) ([]store.Backup, error) {
	text, args := backupsQuery(t.d, q)
	var row *backupRow // as backupsQuery selects them
	if ofOwner(q) {
		row = newOwnerBackupRow(q)
	} else {
		row = newBackupRow(q.WithTags)
	}
	out := make([]store.Backup, 0, rowsExpected(q))
	err := t.readRows(text, args, func(scan func(dest ...any) error) error {
		b, err := row.scan(scanFunc(scan))
		out = append(out, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	return out, nil
}

// scanFunc is a row's Scan method as a scanner.
type scanFunc func(dest ...any) error

// Scan scans the row into dest.
func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// rowsExpected is how many rows Backups makes room for at once: q.Limit, at most a page of
// the service (51), and at most one per ID when q selects IDs.
func rowsExpected(q store.BackupQuery) int {
	n := min(max(q.Limit, 0), 51)
	if len(q.IDs) > 0 {
		n = min(n, len(q.IDs))
	}
	return n
}

// Cluster returns a cluster by ID, or ErrNotFound.
func (t *tx) Cluster(id string) (store.Cluster, error) {
	c, err := scanCluster(t.queryRow(qCluster, id))
	if err != nil {
		return store.Cluster{}, notFound(err, "get cluster %s", id)
	}
	return c, nil
}

// InsertCluster adds a cluster with Version 1; ErrConflict if the ID exists.
func (t *tx) InsertCluster(c store.Cluster) error {
	if err := t.writable("insert cluster " + c.ID); err != nil {
		return err
	}
	args, err := clusterArgs(c)
	if err != nil {
		return fmt.Errorf("insert cluster %s: %w", c.ID, err)
	}
	n, err := t.execCount(qInsertCluster, append([]any{c.ID}, args...)...)
	if err != nil {
		return fmt.Errorf("insert cluster %s: %w", c.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("insert cluster %s: %w", c.ID, store.ErrConflict)
	}
	return nil
}

// UpdateCluster replaces the cluster of c's ID and Version, increments its Version and returns
// c with the new Version.
func (t *tx) UpdateCluster(c store.Cluster) (store.Cluster, error) {
	if err := t.writable("update cluster " + c.ID); err != nil {
		return c, err
	}
	args, err := clusterArgs(c)
	if err != nil {
		return c, fmt.Errorf("update cluster %s: %w", c.ID, err)
	}
	n, err := t.execCount(qUpdateCluster, append(args, c.ID, c.Version)...)
	if err != nil {
		return c, fmt.Errorf("update cluster %s: %w", c.ID, err)
	}
	if n == 0 {
		return c, t.missingOrChanged(qClusterExists, "update cluster", c.ID, c.Version)
	}
	c.Version++
	return c, nil
}

// DeleteCluster removes a cluster and its tags; its backups and HSM records are left alone.
// A missing cluster is not an error.
func (t *tx) DeleteCluster(id string) error {
	if err := t.writable("delete cluster " + id); err != nil {
		return err
	}
	for _, q := range []string{qDeleteCluster, qDeleteAllTags} {
		if _, err := t.exec(q, id); err != nil {
			return fmt.Errorf("delete cluster %s: %w", id, err)
		}
	}
	return nil
}

// Clusters lists clusters matching q in ascending (CreatedAt, ID) order.
func (t *tx) Clusters(q store.ClusterQuery) ([]store.Cluster, error) {
	text, args := clustersQuery(q)
	rows, err := t.query(text, args...)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	var out []store.Cluster
	for rows.Next() {
		c, err := scanCluster(rows)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

// CountClusters counts an account's clusters in a region that are not DELETED, up to limit.
func (t *tx) CountClusters(account, region string, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := t.count(qLiveClusters, account, region)
	if errors.Is(err, sql.ErrNoRows) {
		n, err = 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count clusters of %s in %s: %w", account, region, err)
	}
	return min(n, limit), nil
}

// CountResources counts resources by kind and state: the backups as all of them less those
// that are not READY (qCountBackups, qCountBackupsNotReady), then the clusters and HSMs.
func (t *tx) CountResources() ([]store.ResourceCount, error) {
	total, err := t.count(qCountBackups)
	if err != nil {
		return nil, fmt.Errorf("count backups: %w", err)
	}
	notReady, err := t.countByState(qCountBackupsNotReady, store.KindBackup)
	if err != nil {
		return nil, fmt.Errorf("count backups that are not READY: %w", err)
	}
	others, err := t.countByState(qCountClustersAndHSMs, "")
	if err != nil {
		return nil, fmt.Errorf("count clusters and HSMs: %w", err)
	}
	ready := int64(total)
	for _, c := range notReady {
		ready -= c.Count
	}
	out := notReady
	if ready > 0 {
		out = append(out, store.ResourceCount{Kind: store.KindBackup, State: readyState, Count: ready})
	}
	out = append(out, others...)
	slices.SortFunc(out, func(a, b store.ResourceCount) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.State, b.State))
	})
	return out, nil
}

// countByState reads rows of (kind, state, count), or of (state, count) when kind is given.
func (t *tx) countByState(query, kind string) ([]store.ResourceCount, error) {
	rows, err := t.query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ResourceCount
	for rows.Next() {
		c := store.ResourceCount{Kind: kind}
		dest := []any{&c.Kind, &c.State, &c.Count}
		if kind != "" {
			dest = dest[1:]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// HSMs returns the HSMs of the clusters in (CreatedAt, ID) order.
func (t *tx) HSMs(clusterIDs ...string) ([]store.HSM, error) {
	if len(clusterIDs) == 0 {
		return nil, nil
	}
	text, args := hsmsQuery(t.d, clusterIDs)
	rows, err := t.query(text, args...)
	if err != nil {
		return nil, fmt.Errorf("list hsms: %w", err)
	}
	defer rows.Close()
	var out []store.HSM
	for rows.Next() {
		h, err := scanHSM(rows)
		if err != nil {
			return nil, fmt.Errorf("list hsms: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hsms: %w", err)
	}
	return out, nil
}

// HSM returns one HSM, or ErrNotFound.
func (t *tx) HSM(id string) (store.HSM, error) {
	h, err := scanHSM(t.queryRow(qHSM, id))
	if err != nil {
		return store.HSM{}, notFound(err, "get hsm %s", id)
	}
	return h, nil
}

// InsertHSM adds an HSM; ErrConflict if the ID exists.
func (t *tx) InsertHSM(h store.HSM) error {
	if err := t.writable("insert hsm " + h.ID); err != nil {
		return err
	}
	n, err := t.execCount(qInsertHSM, append([]any{h.ID}, hsmArgs(h)...)...)
	if err != nil {
		return fmt.Errorf("insert hsm %s: %w", h.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("insert hsm %s: %w", h.ID, store.ErrConflict)
	}
	return nil
}

// UpdateHSM replaces the HSM with h's ID; ErrNotFound if there is none.
func (t *tx) UpdateHSM(h store.HSM) error {
	if err := t.writable("update hsm " + h.ID); err != nil {
		return err
	}
	n, err := t.execCount(qUpdateHSM, append(hsmArgs(h), h.ID)...)
	if err != nil {
		return fmt.Errorf("update hsm %s: %w", h.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update hsm %s: %w", h.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteHSM removes an HSM; a missing one is not an error.
func (t *tx) DeleteHSM(id string) error {
	if err := t.writable("delete hsm " + id); err != nil {
		return err
	}
	if _, err := t.exec(qDeleteHSM, id); err != nil {
		return fmt.Errorf("delete hsm %s: %w", id, err)
	}
	return nil
}

// Subnet returns a known subnet, or ErrNotFound.
func (t *tx) Subnet(account, region, subnetID string) (store.Subnet, error) {
	var s store.Subnet
	err := t.queryRow(qSubnet, account, region, subnetID).
		Scan(&s.Account, &s.Region, &s.ID, &s.VpcID, &s.AvailabilityZone)
	if err != nil {
		return store.Subnet{}, notFound(err, "get subnet %s of %s in %s", subnetID, account, region)
	}
	return s, nil
}

// InsertSubnet records a subnet; ErrConflict if already known.
func (t *tx) InsertSubnet(s store.Subnet) error {
	if err := t.writable("insert subnet " + s.ID); err != nil {
		return err
	}
	n, err := t.execCount(qInsertSubnet, s.Account, s.Region, s.ID, s.VpcID, s.AvailabilityZone)
	if err != nil {
		return fmt.Errorf("insert subnet %s of %s in %s: %w", s.ID, s.Account, s.Region, err)
	}
	if n == 0 {
		return fmt.Errorf("insert subnet %s of %s in %s: %w", s.ID, s.Account, s.Region, store.ErrConflict)
	}
	return nil
}

// CountSubnets counts the known subnets of an account and region.
func (t *tx) CountSubnets(account, region string) (int, error) {
	n, err := t.count(qCountSubnets, account, region)
	if err != nil {
		return 0, fmt.Errorf("count subnets of %s in %s: %w", account, region, err)
	}
	return n, nil
}

// Tags returns the tags of the resources, keyed by ID, each list ordered by key.
func (t *tx) Tags(resourceIDs ...string) (map[string][]store.Tag, error) {
	out := make(map[string][]store.Tag)
	if len(resourceIDs) == 0 {
		return out, nil
	}
	text, args := tagsQuery(t.d, resourceIDs)
	rows, err := t.query(text, args...)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var tag store.Tag
		if err := rows.Scan(&id, &tag.Key, &tag.Value); err != nil {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		out[id] = append(out[id], tag)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return out, nil
}

// PutTags adds tags to a resource, replacing the values of keys it already has.
func (t *tx) PutTags(resourceID string, tags []store.Tag) error {
	if err := t.writable("put tags on " + resourceID); err != nil {
		return err
	}
	for _, tag := range tags {
		if _, err := t.exec(qPutTag, resourceID, tag.Key, tag.Value); err != nil {
			return fmt.Errorf("put tag %q on %s: %w", tag.Key, resourceID, err)
		}
	}
	return nil
}

// DeleteTags removes keys from a resource; absent keys are ignored.
func (t *tx) DeleteTags(resourceID string, keys []string) error {
	if err := t.writable("delete tags of " + resourceID); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	text, args := deleteTagsQuery(t.d, resourceID, keys)
	if _, err := t.exec(text, args...); err != nil {
		return fmt.Errorf("delete tags of %s: %w", resourceID, err)
	}
	return nil
}

// Policy returns a backup's resource policy with its grants in the order they were put, or
// ErrNotFound.
func (t *tx) Policy(backupID string) (store.Policy, error) {
	p := store.Policy{BackupID: backupID}
	if err := t.queryRow(qPolicy, backupID).Scan(&p.Document); err != nil {
		return store.Policy{}, notFound(err, "get policy of %s", backupID)
	}
	rows, err := t.query(qPolicyGrants, backupID)
	if err != nil {
		return store.Policy{}, fmt.Errorf("get policy grants of %s: %w", backupID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.Account, &g.Describe, &g.CreateCluster); err != nil {
			return store.Policy{}, fmt.Errorf("get policy grants of %s: %w", backupID, err)
		}
		p.Grants = append(p.Grants, g)
	}
	if err := rows.Err(); err != nil {
		return store.Policy{}, fmt.Errorf("get policy grants of %s: %w", backupID, err)
	}
	return p, nil
}

// PutPolicy creates or replaces a backup's policy and its grants.
func (t *tx) PutPolicy(p store.Policy) error {
	if err := t.writable("put policy of " + p.BackupID); err != nil {
		return err
	}
	if _, err := t.exec(qPutPolicy, p.BackupID, p.Document); err != nil {
		return fmt.Errorf("put policy of %s: %w", p.BackupID, err)
	}
	if _, err := t.exec(qDeleteGrants, p.BackupID); err != nil {
		return fmt.Errorf("put policy of %s: clear grants: %w", p.BackupID, err)
	}
	for i, g := range p.Grants {
		if _, err := t.exec(qInsertGrant, p.BackupID, i, g.Account, g.Describe, g.CreateCluster); err != nil {
			return fmt.Errorf("put policy of %s: grant to %s: %w", p.BackupID, g.Account, err)
		}
	}
	return nil
}

// DeletePolicy removes a backup's policy and grants; ErrNotFound if it has none.
func (t *tx) DeletePolicy(backupID string) error {
	if err := t.writable("delete policy of " + backupID); err != nil {
		return err
	}
	n, err := t.execCount(qDeletePolicy, backupID)
	if err != nil {
		return fmt.Errorf("delete policy of %s: %w", backupID, err)
	}
	if n == 0 {
		return fmt.Errorf("delete policy of %s: %w", backupID, store.ErrNotFound)
	}
	if _, err := t.exec(qDeleteGrants, backupID); err != nil {
		return fmt.Errorf("delete policy of %s: grants: %w", backupID, err)
	}
	return nil
}

// ClusterIdentity returns a cluster's recorded certificates, ErrNotFound if none.
func (t *tx) ClusterIdentity(clusterID string) (store.Certificates, error) {
	var raw sql.NullString
	if err := t.queryRow(qClusterIdentity, clusterID).Scan(&raw); err != nil {
		return store.Certificates{}, notFound(err, "get identity of %s", clusterID)
	}
	return decodeCertificates(raw)
}

// PutClusterIdentity records or replaces a cluster's certificates.
func (t *tx) PutClusterIdentity(clusterID string, c store.Certificates) error {
	if err := t.writable("put identity of " + clusterID); err != nil {
		return err
	}
	raw, err := encodeCertificates(c)
	if err != nil {
		return fmt.Errorf("put identity of %s: %w", clusterID, err)
	}
	if raw == nil {
		raw = "{}"
	}
	if _, err := t.exec(qPutClusterIdentity, clusterID, raw); err != nil {
		return fmt.Errorf("put identity of %s: %w", clusterID, err)
	}
	return nil
}

// Census counts resources by owner, kind and state, sorted in Go so that the order is byte
// order whatever the database's collation.
func (t *tx) Census() ([]store.StateCount, error) {
	rows, err := t.query(qCensus)
	if err != nil {
		return nil, fmt.Errorf("census: %w", err)
	}
	defer rows.Close()
	var out []store.StateCount
	for rows.Next() {
		var c store.StateCount
		if err := rows.Scan(&c.Account, &c.Region, &c.Kind, &c.State, &c.Count); err != nil {
			return nil, fmt.Errorf("census: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("census: %w", err)
	}
	slices.SortFunc(out, func(a, b store.StateCount) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.State, b.State))
	})
	return out, nil
}

// Reset deletes every resource, setting and reserved ID.
func (t *tx) Reset() error {
	if err := t.writable("reset"); err != nil {
		return err
	}
	for _, table := range resetTables {
		if _, err := t.exec("DELETE FROM " + table); err != nil {
			return fmt.Errorf("reset: empty %s: %w", table, err)
		}
	}
	return nil
}
