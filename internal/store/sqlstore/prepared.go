package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Prepared statements.
//
// Parsing and planning a statement costs more than running it for most of the store's
// statements, so these are prepared once per pool at Open: every constant statement of
// queries.go, the list queries (whose text is the same for any number of values, see
// dialect.inList), and the texts the service builds most often from the dynamic queries (a
// filter of one value, a page with and without a cursor). Open prepares them before any
// transaction can hold the pool's connections: the memory store has only one, so preparing
// lazily inside a transaction would wait for itself. The tx helpers look a statement up by its
// portable text and run it through sql.Tx.StmtContext; database/sql prepares it again on each
// further connection of the pool the first time that connection uses it. Any other text (a
// filter of several values, Reset's DELETEs) runs unprepared, as before.
//
// This is for SQLite, whose driver parses every text it is given. A PostgreSQL store prepares
// nothing here (its maps are nil): pgx prepares and caches each text per connection itself.

// statements maps a statement's portable text (before dialect.rebind) to its prepared form.
type statements map[string]*sql.Stmt

// close closes every statement.
func (s statements) close() error {
	var errs []error
	for _, st := range s {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// prepareStatements prepares preparedTexts on db; readOnly keeps only the SELECTs (a View pool
// runs nothing else).
func prepareStatements(ctx context.Context, db *sql.DB, d *dialect, readOnly bool) (statements, error) {
	texts := preparedTexts(d)
	out := make(statements, len(texts))
	for _, text := range texts {
		if _, dup := out[text]; dup || (readOnly && !strings.HasPrefix(text, "SELECT")) {
			continue
		}
		st, err := db.PrepareContext(ctx, d.rebind(text))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", text, err), out.close())
		}
		out[text] = st
	}
	return out, nil
}

// preparedTexts lists the statements prepared at Open.
func preparedTexts(d *dialect) []string {
	texts := []string{
		qSetting, qPutSetting, qInitSetting, settingsQuery(2), qReserveID,
		agendaQuery(2, tenantEvents), agendaQuery(0, tenantEvents), agendaQuery(2, allEvents), agendaQuery(0, allEvents),
		qBackup, qBackupExists, qInsertBackup, qUpdateBackup, qDeleteBackup,
		qCluster, qClusterExists, qInsertCluster, qUpdateCluster, qDeleteCluster, qLiveClusters,
		qCountBackups, qCountBackupsNotReady, qCountClustersAndHSMs,
		qHSM, qInsertHSM, qUpdateHSM, qDeleteHSM,
		qSubnet, qInsertSubnet, qCountSubnets,
		qPutTag, qDeleteAllTags,
		qPolicy, qPolicyGrants, qPutPolicy, qInsertGrant, qDeletePolicy, qDeleteGrants,
		qClusterIdentity, qPutClusterIdentity, qHSMsOfCluster, qTagsOfResource,
	}
	text, _ := tagsQuery(d, nil)
	texts = append(texts, text)
	text, _ = hsmsQuery(d, nil)
	texts = append(texts, text)
	text, _ = deleteTagsQuery(d, "", nil)
	texts = append(texts, text)
	one := []string{""}
	// Pages of backups with their tags: unfiltered or filtered by one value of one list, both
	// orders, with and without a cursor, always limited (DescribeBackups) — plus the retention
	// query.
	after := &store.Cursor{}
	for _, f := range []store.BackupQuery{{}, {IDs: one}, {ClusterIDs: one}, {States: one}, {SourceBackupIDs: one}} {
		for _, asc := range []bool{false, true} {
			for _, cur := range []*store.Cursor{nil, after} {
				q := f
				q.Ascending, q.After, q.Limit, q.WithTags = asc, cur, 1, true
				text, _ = backupsQuery(d, q)
				texts = append(texts, text)
			}
		}
	}
	text, _ = backupsQuery(d, store.BackupQuery{ClusterIDs: one, States: one})
	texts = append(texts, text)
	// Pages of clusters: unfiltered or by one ID, with and without a cursor and a limit.
	for _, f := range []store.ClusterQuery{{}, {IDs: one}} {
		for _, cur := range []*store.Cursor{nil, after} {
			for _, limit := range []int{0, 1} {
				q := f
				q.After, q.Limit = cur, limit
				text, _ = clustersQuery(q)
				texts = append(texts, text)
			}
		}
	}
	return texts
}
