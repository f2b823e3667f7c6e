package sqlstore

import (
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// All the store's DML, in portable SQL with `?` placeholders (see dialect.rebind). Literals
// such as 'ACTIVE' are written inline where a partial index depends on them: a planner can
// only prove a partial index applies from a constant.

const (
	qSetting     = `SELECT value FROM settings WHERE name = ?`
	qPutSetting  = `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`
	qInitSetting = `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`

	qReserveID = `INSERT INTO reserved_ids (id) VALUES (?) ON CONFLICT (id) DO NOTHING`

	// The NextEvent candidates: each is one step down a partial index.
	qNextBackupEvent  = `SELECT id, due_at FROM backups WHERE due_at IS NOT NULL ORDER BY due_at, id LIMIT 1`
	qNextHSMEvent     = `SELECT id, due_at FROM hsms WHERE due_at IS NOT NULL ORDER BY due_at, id LIMIT 1`
	qNextClusterEvent = `SELECT id, due_at FROM clusters WHERE due_at IS NOT NULL ORDER BY due_at, id LIMIT 1`
	qNextDailyBackup  = `SELECT id, next_backup_at AS due_at FROM clusters WHERE state = 'ACTIVE' AND next_backup_at IS NOT NULL ORDER BY next_backup_at, id LIMIT 1`
)

// qNextEvent asks for the four NextEvent candidates in one round trip, each row tagged with
// its store.EventKind: every transaction starts by asking it, so it is worth one statement.
var qNextEvent = eventsQuery(false, "")

// The NextEvent candidates of one tenant (arguments: account, region), each one step down an
// index by owner (migration 5); an HSM belongs to its cluster's tenant.
const (
	qNextTenantBackupEvent = `SELECT id, due_at FROM backups WHERE account = ? AND region = ? AND due_at IS NOT NULL
	ORDER BY due_at, id LIMIT 1`
	// An HSM's owner is read per HSM with scalar subqueries, which neither database turns into
	// a join: the walk goes down hsms_by_due (the few HSMs being created or deleted), instead of
	// through every cluster of the tenant (PostgreSQL's plan for EXISTS, 3 ms at 2,600
	// clusters).
	qNextTenantHSMEvent = `SELECT id, due_at FROM hsms WHERE due_at IS NOT NULL
	AND (SELECT account FROM clusters WHERE clusters.id = hsms.cluster_id) = ?
	AND (SELECT region FROM clusters WHERE clusters.id = hsms.cluster_id) = ? ORDER BY due_at, id LIMIT 1`
	qNextTenantClusterEvent = `SELECT id, due_at FROM clusters WHERE account = ? AND region = ? AND due_at IS NOT NULL
	ORDER BY due_at, id LIMIT 1`
	qNextTenantDailyBackup = `SELECT id, next_backup_at AS due_at FROM clusters WHERE account = ? AND region = ?
	AND state = 'ACTIVE' AND next_backup_at IS NOT NULL ORDER BY next_backup_at, id LIMIT 1`
)

// qNextTenantEvent is qNextEvent for one tenant; its arguments are the tenant's account and
// region, four times.
var qNextTenantEvent = eventsQuery(true, "")

// eventsQuery joins the four NextEvent candidates (of one tenant, or of everything) with
// UNION ALL (each candidate selects id and due_at), each row as (kind, id, due time), or as (kind, id, extra, due time) when extra
// is an SQL expression.
func eventsQuery(tenant bool, extra string) string {
	candidates := []string{qNextBackupEvent, qNextHSMEvent, qNextClusterEvent, qNextDailyBackup}
	if tenant {
		candidates = []string{qNextTenantBackupEvent, qNextTenantHSMEvent, qNextTenantClusterEvent, qNextTenantDailyBackup}
	}
	kinds := []store.EventKind{store.EventBackup, store.EventHSM, store.EventCluster, store.EventDailyBackup}
	if extra != "" {
		extra += ", "
	}
	branches := make([]string, len(candidates))
	for i, c := range candidates {
		branches[i] = fmt.Sprintf("SELECT %d, id, %sdue_at FROM (%s) AS e%d", kinds[i], extra, c, i)
	}
	return strings.Join(branches, "\nUNION ALL ")
}

// settingRow is the kind that tags a setting's row in an agenda query (event kinds are >= 0).
const settingRow = -1

// eventsOf says whose events an agenda query asks for.
type eventsOf int

const (
	noEvents     eventsOf = iota // settings only
	allEvents                    // of every tenant
	tenantEvents                 // of one tenant
)

// agendaTexts are the agenda statements of up to agendaTextsNames settings, built once: every
// transaction asks one (the clock's two settings), and building it costs more than running it.
var agendaTexts = func() (texts [agendaTextsNames + 1][3]string) {
	for n := range texts {
		for of := range texts[n] {
			texts[n][of] = buildAgendaQuery(n, eventsOf(of))
		}
	}
	return texts
}()

// agendaTextsNames is how many settings the prebuilt agenda statements cover.
const agendaTextsNames = 2

// agendaQuery returns Tx.Agenda's statement for n settings and the events of, prebuilt when n
// is small (see buildAgendaQuery).
func agendaQuery(n int, of eventsOf) string {
	if n <= agendaTextsNames {
		return agendaTexts[n][of]
	}
	return buildAgendaQuery(n, of)
}

// buildAgendaQuery builds Tx.Agenda's statement: the rows of n settings, tagged settingRow, then
// the event candidates that of names, each row as (kind, name or ID, value, due time). Its
// arguments are the n names, then, for tenantEvents, the tenant's account and region four
// times. It returns "" when it would ask for nothing.
func buildAgendaQuery(n int, of eventsOf) string {
	branches := make([]string, 0, n+1)
	for range n {
		branches = append(branches, fmt.Sprintf("SELECT %d, name, value, 0 FROM settings WHERE name = ?", settingRow))
	}
	if of != noEvents {
		branches = append(branches, eventsQuery(of == tenantEvents, "''"))
	}
	return strings.Join(branches, "\nUNION ALL ")
}

// Backups.
const (
	backupColumns = `id, account, region, cluster_id, state, hsm_type, mode, never_expires, created_at,
	delete_at, copied_at, source_region, source_backup_id, source_cluster_id, due_at, version`
	// backupColumnsOfOwner are backupColumns without account and region, which a query of one
	// owner's backups fixes: reading a column costs the SQLite driver the same whatever its
	// size (a mutex-guarded call or three per row), so a page of 51 does not read them back.
	backupColumnsOfOwner = `id, cluster_id, state, hsm_type, mode, never_expires, created_at,
	delete_at, copied_at, source_region, source_backup_id, source_cluster_id, due_at, version`

	qBackup       = `SELECT ` + backupColumns + ` FROM backups WHERE id = ?`
	qBackupExists = `SELECT COUNT(*) FROM backups WHERE id = ?`
	qInsertBackup = `INSERT INTO backups (` + backupColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING`
	// qUpdateBackup sets only the columns a backup's life changes, so the indexes on the others
	// (owner, cluster, source: three of the five) are not rewritten by every state change.
	qUpdateBackup = `UPDATE backups SET state = ?, never_expires = ?, delete_at = ?, due_at = ?,
	version = version + 1 WHERE id = ? AND version = ?`
	qDeleteBackup = `DELETE FROM backups WHERE id = ?`
)

// Clusters.
const (
	clusterColumns = `id, account, region, state, state_message, hsm_type, mode, network_type,
	retention_days, source_backup_id, vpc_id, security_group, subnet_mapping, pre_co_password,
	created_at, hsm_type_rollback_at, certificates, due_at, next_backup_at, version`

	qCluster       = `SELECT ` + clusterColumns + ` FROM clusters WHERE id = ?`
	qClusterExists = `SELECT COUNT(*) FROM clusters WHERE id = ?`
	qInsertCluster = `INSERT INTO clusters (` + clusterColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING`
	qUpdateCluster = `UPDATE clusters SET account = ?, region = ?, state = ?, state_message = ?,
	hsm_type = ?, mode = ?, network_type = ?, retention_days = ?, source_backup_id = ?, vpc_id = ?,
	security_group = ?, subnet_mapping = ?, pre_co_password = ?, created_at = ?,
	hsm_type_rollback_at = ?, certificates = ?, due_at = ?, next_backup_at = ?, version = version + 1
	WHERE id = ? AND version = ?`
	qDeleteCluster = `DELETE FROM clusters WHERE id = ?`
	// qLiveClusters reads the count that the triggers of schemaV6 (SQLite) and schemaV7
	// (PostgreSQL) keep; no row means none.
	qLiveClusters = `SELECT live FROM cluster_counts WHERE account = ? AND region = ?`
)

// CountResources' statements, run in one transaction. Counting every backup is the one
// aggregate SQLite answers a b-tree page at a time rather than a row at a time; the backups that
// are not READY are grouped from the small partial index backups_not_ready, and the READY ones
// are the difference. Clusters and HSMs are few (quotas bound them per account and region) and
// are read whole.
const (
	readyState            = "READY" // the state qCountBackupsNotReady and backups_not_ready leave out
	qCountBackups         = `SELECT COUNT(*) FROM backups`
	qCountBackupsNotReady = `SELECT state, COUNT(*) FROM backups WHERE state <> 'READY' GROUP BY state`
	qCountClustersAndHSMs = `SELECT 'cluster', state, COUNT(*) FROM clusters GROUP BY state
UNION ALL SELECT 'hsm', state, COUNT(*) FROM hsms GROUP BY state`
)

// HSMs.
const (
	hsmColumns = `id, cluster_id, availability_zone, subnet_id, eni_id, eni_ip, hsm_type, state,
	state_message, created_at, due_at`

	qHSM       = `SELECT ` + hsmColumns + ` FROM hsms WHERE id = ?`
	qInsertHSM = `INSERT INTO hsms (` + hsmColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	qUpdateHSM = `UPDATE hsms SET cluster_id = ?, availability_zone = ?, subnet_id = ?, eni_id = ?,
	eni_ip = ?, hsm_type = ?, state = ?, state_message = ?, created_at = ?, due_at = ?
	WHERE id = ?`
	qDeleteHSM = `DELETE FROM hsms WHERE id = ?`
)

// Subnets.
const (
	qSubnet = `SELECT account, region, id, vpc_id, availability_zone FROM subnets
	WHERE account = ? AND region = ? AND id = ?`
	qInsertSubnet = `INSERT INTO subnets (account, region, id, vpc_id, availability_zone)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, region, id) DO NOTHING`
	qCountSubnets = `SELECT COUNT(*) FROM subnets WHERE account = ? AND region = ?`
)

// Tags.
const (
	qPutTag = `INSERT INTO tags (resource_id, tag_key, tag_value) VALUES (?, ?, ?)
	ON CONFLICT (resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`
	qDeleteAllTags = `DELETE FROM tags WHERE resource_id = ?`
)

// Policies.
const (
	qPolicy       = `SELECT document FROM policies WHERE backup_id = ?`
	qPolicyGrants = `SELECT account, can_describe, can_create_cluster FROM policy_grants
	WHERE backup_id = ? ORDER BY ord`
	qPutPolicy = `INSERT INTO policies (backup_id, document) VALUES (?, ?)
	ON CONFLICT (backup_id) DO UPDATE SET document = excluded.document`
	qInsertGrant = `INSERT INTO policy_grants (backup_id, ord, account, can_describe, can_create_cluster)
	VALUES (?, ?, ?, ?, ?)`
	qDeletePolicy = `DELETE FROM policies WHERE backup_id = ?`
	qDeleteGrants = `DELETE FROM policy_grants WHERE backup_id = ?`
)

// Cluster identities.
const (
	qClusterIdentity    = `SELECT certificates FROM cluster_identities WHERE cluster_id = ?`
	qPutClusterIdentity = `INSERT INTO cluster_identities (cluster_id, certificates) VALUES (?, ?)
	ON CONFLICT (cluster_id) DO UPDATE SET certificates = excluded.certificates`
)

// qCensus counts resources by owner and state, for Tx.Census; each part walks an index that
// starts with (account, region) or the HSMs' cluster index. The order is Go's (see Census):
// PostgreSQL's collation need not be byte order.
var qCensus = fmt.Sprintf(`SELECT account, region, '%s', state, COUNT(*) FROM clusters GROUP BY account, region, state
UNION ALL SELECT c.account, c.region, '%s', h.state, COUNT(*) FROM hsms h JOIN clusters c ON c.id = h.cluster_id
	GROUP BY c.account, c.region, h.state
UNION ALL SELECT account, region, '%s', state, COUNT(*) FROM backups GROUP BY account, region, state`,
	store.KindCluster, store.KindHSM, store.KindBackup)

// resetTables are emptied by Reset; schema_migrations is not among them, nor SQLite's
// cluster_counts, which its triggers bring to zero as the clusters go.
var resetTables = []string{
	"settings", "reserved_ids", "backups", "clusters", "hsms", "subnets", "tags",
	"policies", "policy_grants", "cluster_identities",
}

// query accumulates a SELECT's text and arguments.
type query struct {
	sql  strings.Builder
	args []any
}

// add appends SQL text and its arguments.
func (q *query) add(text string, args ...any) {
	q.sql.WriteString(text)
	q.args = append(q.args, args...)
}

// in appends " AND col IN (?, ...)" for a non-empty list; an empty list does not filter.
func (q *query) in(col string, values []string) {
	if len(values) == 0 {
		return
	}
	q.sql.WriteString(" AND ")
	q.sql.WriteString(col)
	q.sql.WriteString(" IN (")
	for i, v := range values {
		if i > 0 {
			q.sql.WriteString(", ")
		}
		q.sql.WriteByte('?')
		q.args = append(q.args, v)
	}
	q.sql.WriteByte(')')
}

// page appends the keyset condition, the (created_at, id) order and the limit.
func (q *query) page(after *store.Cursor, ascending bool, limit int) {
	cmp, dir := " < ", " DESC"
	if ascending {
		cmp, dir = " > ", ""
	}
	if after != nil {
		q.add(" AND (created_at, id)"+cmp+"(?, ?)", msNotNull(after.CreatedAt), after.ID)
	}
	q.add(" ORDER BY created_at" + dir + ", id" + dir)
	if limit > 0 {
		q.add(" LIMIT ?", limit)
	}
}

// ofOwner reports whether bq selects the backups of its Account (and Region), rather than
// those shared with it.
func ofOwner(bq store.BackupQuery) bool { return bq.SharedWith == "" }

// backupsQuery builds the SELECT for Tx.Backups: backupColumnsOfOwner or, for backups shared
// with the account, backupColumns; then with bq.WithTags the dialect's backupTags column.
func backupsQuery(d *dialect, bq store.BackupQuery) (string, []any) {
	var q query
	if ofOwner(bq) {
		q.add(`SELECT ` + backupColumnsOfOwner)
	} else {
		q.add(`SELECT ` + backupColumns)
	}
	if bq.WithTags {
		q.add(`, ` + d.backupTags)
	}
	q.add(` FROM backups WHERE `)
	if ofOwner(bq) {
		q.add(`account = ? AND region = ?`, bq.Account, bq.Region)
	} else {
		q.add(`region = ? AND account <> ? AND id IN (SELECT backup_id FROM policy_grants WHERE account = ? AND can_describe = ?)`,
			bq.Region, bq.SharedWith, bq.SharedWith, true)
	}
	q.in("id", bq.IDs)
	q.in("source_backup_id", bq.SourceBackupIDs)
	q.in("cluster_id", bq.ClusterIDs)
	// With a cluster or source filter, whose index is the selective one, the state filter is
	// written as an expression no index matches, so the planner cannot pick backups_by_owner_state
	// instead (both have three equality columns): ApplyRetention asks for the READY backups of
	// one cluster, and an account may hold far more READY backups than the cluster.
	stateCol := "state"
	if len(bq.ClusterIDs) > 0 || len(bq.SourceBackupIDs) > 0 {
		stateCol = "state || ''"
	}
	q.in(stateCol, bq.States)
	if bq.NeverExpires != nil {
		q.add(` AND never_expires = ?`, *bq.NeverExpires)
	}
	q.page(bq.After, bq.Ascending, bq.Limit)
	return q.sql.String(), q.args
}

// clustersQuery builds the SELECT for Tx.Clusters.
func clustersQuery(cq store.ClusterQuery) (string, []any) {
	var q query
	q.add(`SELECT `+clusterColumns+` FROM clusters WHERE account = ? AND region = ?`, cq.Account, cq.Region)
	q.in("id", cq.IDs)
	q.in("vpc_id", cq.VpcIDs)
	q.in("state", cq.States)
	q.page(cq.After, true, cq.Limit)
	return q.sql.String(), q.args
}

// qHSMsOfCluster and qTagsOfResource are hsmsQuery and tagsQuery of one ID.
const (
	qHSMsOfCluster  = `SELECT ` + hsmColumns + ` FROM hsms WHERE cluster_id = ? ORDER BY created_at, id`
	qTagsOfResource = `SELECT resource_id, tag_key, tag_value FROM tags WHERE resource_id = ? ORDER BY tag_key`
)

// hsmsQuery builds the SELECT for Tx.HSMs: one text for one cluster, one for any other number.
func hsmsQuery(d *dialect, clusterIDs []string) (string, []any) {
	if len(clusterIDs) == 1 { // the usual call: a plain equality, no list to encode and unpack
		return qHSMsOfCluster, []any{clusterIDs[0]}
	}
	return `SELECT ` + hsmColumns + ` FROM hsms WHERE ` + d.inList("cluster_id") + ` ORDER BY created_at, id`,
		[]any{d.listArg(clusterIDs)}
}

// tagsQuery builds the SELECT for Tx.Tags: one text for one resource, one for any other number.
func tagsQuery(d *dialect, resourceIDs []string) (string, []any) {
	if len(resourceIDs) == 1 {
		return qTagsOfResource, []any{resourceIDs[0]}
	}
	return `SELECT resource_id, tag_key, tag_value FROM tags WHERE ` + d.inList("resource_id") + `
	ORDER BY resource_id, tag_key`, []any{d.listArg(resourceIDs)}
}

// settingsQuery returns the SELECT for Tx.Settings of n names: one primary-key lookup per name,
// joined by UNION ALL. "name IN (?, ?)" reads the same rows, but SQLite builds and drops a
// temporary b-tree for the list on every run, which cost a third of the statement that starts
// every transaction (the clock).
func settingsQuery(n int) string {
	const one = `SELECT name, value FROM settings WHERE name = ?`
	return one + strings.Repeat(` UNION ALL `+one, n-1)
}

// deleteTagsQuery builds the DELETE for Tx.DeleteTags: one text for any number of keys.
func deleteTagsQuery(d *dialect, resourceID string, keys []string) (string, []any) {
	return `DELETE FROM tags WHERE resource_id = ? AND ` + d.inList("tag_key"), []any{resourceID, d.listArg(keys)}
}
