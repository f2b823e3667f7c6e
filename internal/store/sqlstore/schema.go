package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration is one step of the schema. Versions start at 1 and follow each other; a migration
// is applied once, in its own transaction, and recorded in schema_migrations. Migrations are
// never edited once released: a change to the schema is a new migration at the end.
type migration struct {
	version int
	name    string
	sql     string
	// only, when set, names the one dialect that runs sql; on the others the migration is
	// recorded as applied without running anything, so versions stay the same everywhere.
	only string
}

// migrations is the schema, oldest first. The DDL is portable (TEXT, BIGINT, INTEGER, BOOLEAN,
// partial indexes) so that SQLite and PostgreSQL can share it; PostgreSQL runs it with every
// TEXT column in the byte-order "C" collation (dialect.ddl), SQLite's default. Times are BIGINT unix
// milliseconds in UTC, NULL when absent; created_at is NOT NULL because it is a sort key (a
// zero CreatedAt is stored as the zero time's millisecond value and reads back as zero). The
// statements deliberately lack IF NOT EXISTS: applying a migration twice is an error, not a
// silent no-op.
var migrations = []migration{
	{version: 1, name: "initial schema", sql: schemaV1},
	{version: 2, name: "cluster identities", sql: schemaV2},
	{version: 3, name: "filter indexes by owner, live clusters", sql: schemaV3},
	{version: 4, name: "backups that are not READY", sql: schemaV4},
	{version: 5, name: "scheduled events by owner", sql: schemaV5},
	{version: 6, name: "live cluster counts", sql: schemaV6, only: "sqlite"},
	{version: 7, name: "live cluster counts on PostgreSQL", sql: schemaV7, only: "postgres"},
}

// schemaV5 indexes what is scheduled by owner, so that an Update of one tenant finds that
// tenant's next lifecycle event (Tx.NextEvent of a tenant) in one step down each index,
// however much other tenants have scheduled. An HSM is found through its cluster.
const schemaV5 = `
CREATE INDEX backups_due_by_owner ON backups (account, region, due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX clusters_due_by_owner ON clusters (account, region, due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX clusters_next_backup_by_owner ON clusters (account, region, next_backup_at, id)
	WHERE state = 'ACTIVE' AND next_backup_at IS NOT NULL;
`

// schemaV7 is schemaV6 for PostgreSQL: the same table, kept by triggers that run one plpgsql
// function. Counting the live clusters from the index cost a walk of every one of them per
// CreateCluster (1.2 ms at 2,600 clusters in one account, with the quota raised), which
// serialized a tenant's creates behind a count that grew with each. The count's row is only
// written by Updates that hold its tenant's lock (cluster writes are the tenant's), so it is no
// point of contention between tenants.
const schemaV7 = `
CREATE TABLE cluster_counts (
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	live    BIGINT NOT NULL,
	PRIMARY KEY (account, region)
);
INSERT INTO cluster_counts (account, region, live)
	SELECT account, region, COUNT(*) FROM clusters WHERE state <> 'DELETED' GROUP BY account, region;
CREATE FUNCTION cluster_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state <> 'DELETED' THEN
		UPDATE cluster_counts SET live = live - 1 WHERE account = OLD.account AND region = OLD.region;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state <> 'DELETED' THEN
		INSERT INTO cluster_counts (account, region, live) VALUES (NEW.account, NEW.region, 1)
			ON CONFLICT (account, region) DO UPDATE SET live = cluster_counts.live + 1;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER cluster_counts_insert AFTER INSERT ON clusters
	FOR EACH ROW WHEN (NEW.state <> 'DELETED') EXECUTE FUNCTION cluster_counts_follow();
CREATE TRIGGER cluster_counts_delete AFTER DELETE ON clusters
	FOR EACH ROW WHEN (OLD.state <> 'DELETED') EXECUTE FUNCTION cluster_counts_follow();
CREATE TRIGGER cluster_counts_update AFTER UPDATE OF account, region, state ON clusters
	FOR EACH ROW WHEN ((OLD.state <> 'DELETED') <> (NEW.state <> 'DELETED')
		OR (NEW.state <> 'DELETED' AND (OLD.account <> NEW.account OR OLD.region <> NEW.region)))
	EXECUTE FUNCTION cluster_counts_follow();
`

// schemaV6 keeps, per account and region, the number of clusters that are not DELETED, which
// the quota check of every CreateCluster reads (CountClusters): counting them from
// clusters_live_by_owner costs a step per cluster, so a raised --max-clusters made each create
// slower than the last. Triggers keep the count whatever writes the clusters (the store's
// methods, a snapshot import, Reset), and the first statement counts what is already there.
// SQLite only; schemaV7 does the same on PostgreSQL.
const schemaV6 = `
CREATE TABLE cluster_counts (
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	live    BIGINT NOT NULL,
	PRIMARY KEY (account, region)
);
INSERT INTO cluster_counts (account, region, live)
	SELECT account, region, COUNT(*) FROM clusters WHERE state <> 'DELETED' GROUP BY account, region;
CREATE TRIGGER cluster_counts_insert AFTER INSERT ON clusters WHEN NEW.state <> 'DELETED' BEGIN
	INSERT INTO cluster_counts (account, region, live) VALUES (NEW.account, NEW.region, 1)
		ON CONFLICT (account, region) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER cluster_counts_delete AFTER DELETE ON clusters WHEN OLD.state <> 'DELETED' BEGIN
	UPDATE cluster_counts SET live = live - 1 WHERE account = OLD.account AND region = OLD.region;
END;
CREATE TRIGGER cluster_counts_update AFTER UPDATE OF account, region, state ON clusters
	WHEN (OLD.state <> 'DELETED') <> (NEW.state <> 'DELETED')
		OR (NEW.state <> 'DELETED' AND (OLD.account <> NEW.account OR OLD.region <> NEW.region)) BEGIN
	UPDATE cluster_counts SET live = live - 1
		WHERE OLD.state <> 'DELETED' AND account = OLD.account AND region = OLD.region;
	INSERT INTO cluster_counts (account, region, live) SELECT NEW.account, NEW.region, 1 WHERE NEW.state <> 'DELETED'
		ON CONFLICT (account, region) DO UPDATE SET live = live + 1;
END;
`

// schemaV4 indexes the backups that are not READY, by state: CountResources counts them from
// it, and the READY ones as all backups (which SQLite counts a page at a time) less those. Most
// backups are READY, so the index stays small, and only the state changes that enter or leave
// READY write to it.
const schemaV4 = `
CREATE INDEX backups_not_ready ON backups (state) WHERE state <> 'READY';
`

// schemaV2 keeps each cluster's certificates beyond the cluster's own purge.
const schemaV2 = `
CREATE TABLE cluster_identities (
	cluster_id   TEXT NOT NULL PRIMARY KEY,
	certificates TEXT NOT NULL
);
`

// schemaV3 puts (account, region) in front of the backup filter indexes, so that a query
// filtered by one cluster, source backup or state walks only the matching backups of its
// owner — a longer equality prefix than backups_by_owner's, which both SQLite and PostgreSQL
// then prefer without statistics — and adds a partial index of the clusters that count
// against the quota (CountClusters); state is in it so that the count reads the index alone.
const schemaV3 = `
DROP INDEX backups_by_cluster;
DROP INDEX backups_by_source;
DROP INDEX backups_by_state;
CREATE INDEX backups_by_owner_cluster ON backups (account, region, cluster_id, created_at, id);
CREATE INDEX backups_by_owner_source ON backups (account, region, source_backup_id, created_at, id);
CREATE INDEX backups_by_owner_state ON backups (account, region, state, created_at, id);
CREATE INDEX clusters_live_by_owner ON clusters (account, region, state) WHERE state <> 'DELETED';
`

// createMigrationsTable records which migrations have been applied.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name    TEXT NOT NULL
)`

const schemaV1 = `
CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE reserved_ids (
	id TEXT PRIMARY KEY
);

CREATE TABLE backups (
	id                TEXT PRIMARY KEY,
	account           TEXT NOT NULL,
	region            TEXT NOT NULL,
	cluster_id        TEXT NOT NULL,
	state             TEXT NOT NULL,
	hsm_type          TEXT NOT NULL,
	mode              TEXT NOT NULL,
	never_expires     BOOLEAN NOT NULL,
	created_at        BIGINT NOT NULL,
	delete_at         BIGINT,
	copied_at         BIGINT,
	source_region     TEXT NOT NULL,
	source_backup_id  TEXT NOT NULL,
	source_cluster_id TEXT NOT NULL,
	due_at            BIGINT,
	version           BIGINT NOT NULL
);
CREATE INDEX backups_by_owner ON backups (account, region, created_at, id);
CREATE INDEX backups_by_cluster ON backups (cluster_id, created_at, id);
CREATE INDEX backups_by_source ON backups (source_backup_id, created_at, id);
CREATE INDEX backups_by_state ON backups (state, created_at, id);
CREATE INDEX backups_by_due ON backups (due_at, id) WHERE due_at IS NOT NULL;

CREATE TABLE clusters (
	id                   TEXT PRIMARY KEY,
	account              TEXT NOT NULL,
	region               TEXT NOT NULL,
	state                TEXT NOT NULL,
	state_message        TEXT NOT NULL,
	hsm_type             TEXT NOT NULL,
	mode                 TEXT NOT NULL,
	network_type         TEXT NOT NULL,
	retention_days       INTEGER NOT NULL,
	source_backup_id     TEXT NOT NULL,
	vpc_id               TEXT NOT NULL,
	security_group       TEXT NOT NULL,
	subnet_mapping       TEXT,
	pre_co_password      TEXT NOT NULL,
	created_at           BIGINT NOT NULL,
	hsm_type_rollback_at BIGINT,
	certificates         TEXT,
	due_at               BIGINT,
	next_backup_at       BIGINT,
	version              BIGINT NOT NULL
);
CREATE INDEX clusters_by_owner ON clusters (account, region, created_at, id);
CREATE INDEX clusters_by_due ON clusters (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX clusters_by_next_backup ON clusters (next_backup_at, id)
	WHERE state = 'ACTIVE' AND next_backup_at IS NOT NULL;

CREATE TABLE hsms (
	id                TEXT PRIMARY KEY,
	cluster_id        TEXT NOT NULL,
	availability_zone TEXT NOT NULL,
	subnet_id         TEXT NOT NULL,
	eni_id            TEXT NOT NULL,
	eni_ip            TEXT NOT NULL,
	hsm_type          TEXT NOT NULL,
	state             TEXT NOT NULL,
	state_message     TEXT NOT NULL,
	created_at        BIGINT NOT NULL,
	due_at            BIGINT
);
CREATE INDEX hsms_by_cluster ON hsms (cluster_id, created_at, id);
CREATE INDEX hsms_by_due ON hsms (due_at, id) WHERE due_at IS NOT NULL;

CREATE TABLE subnets (
	account           TEXT NOT NULL,
	region            TEXT NOT NULL,
	id                TEXT NOT NULL,
	vpc_id            TEXT NOT NULL,
	availability_zone TEXT NOT NULL,
	PRIMARY KEY (account, region, id)
);

CREATE TABLE tags (
	resource_id TEXT NOT NULL,
	tag_key     TEXT NOT NULL,
	tag_value   TEXT NOT NULL,
	PRIMARY KEY (resource_id, tag_key)
);

CREATE TABLE policies (
	backup_id TEXT PRIMARY KEY,
	document  TEXT NOT NULL
);

CREATE TABLE policy_grants (
	backup_id          TEXT NOT NULL,
	ord                INTEGER NOT NULL,
	account            TEXT NOT NULL,
	can_describe       BOOLEAN NOT NULL,
	can_create_cluster BOOLEAN NOT NULL,
	PRIMARY KEY (backup_id, ord)
);
CREATE INDEX policy_grants_by_account ON policy_grants (account, backup_id);
`

// migrate brings the database up to the newest migration. Each migration runs in its own
// write transaction that first takes the dialect's migration lock and then re-checks whether it
// is applied, so processes opening the same database at once apply it once between them.
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	for _, m := range migrations {
		if err := applyMigration(ctx, db, d, m); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// applyMigration applies m unless schema_migrations says it already is.
func applyMigration(ctx context.Context, db *sql.DB, d *dialect, m migration) (err error) {
	tx, err := db.BeginTx(ctx, d.writeTx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.migrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.schema(createMigrationsTable)); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := migrations[len(migrations)-1].version; newest.Int64 > int64(latest) {
		return fmt.Errorf("database schema version %d is newer than this program's %d", newest.Int64, latest)
	}
	var applied int
	q := d.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?")
	if err := tx.QueryRowContext(ctx, q, m.version).Scan(&applied); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if applied > 0 {
		return ignoreDone(tx.Rollback())
	}
	if m.only == "" || m.only == d.name {
		if _, err := tx.ExecContext(ctx, d.schema(m.sql)); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	q = d.rebind("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
	if _, err := tx.ExecContext(ctx, q, m.version, m.name); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ignoreDone drops sql.ErrTxDone, which a rollback after a failed commit may return.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
