package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// msOrNull encodes a time as unix milliseconds, or NULL for the zero time.
func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// msNotNull encodes a time for a NOT NULL column (a sort key). The zero time becomes its own
// millisecond value, which fromMs turns back into the zero time.
func msNotNull(t time.Time) int64 {
	return t.UnixMilli()
}

// fromMs decodes unix milliseconds into a UTC time.
func fromMs(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}

// fromNullMs decodes a nullable millisecond column; NULL is the zero time.
func fromNullMs(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMs(ms.Int64)
}

// certificatesJSON is the stored form of store.Certificates, with names of its own so the
// column does not change when the Go type's fields are renamed.
type certificatesJSON struct {
	ClusterKey                      string `json:"cluster_key,omitempty"`
	ClusterCsr                      string `json:"cluster_csr,omitempty"`
	HsmCertificate                  string `json:"hsm_certificate,omitempty"`
	AwsHardwareCertificate          string `json:"aws_hardware_certificate,omitempty"`
	ManufacturerHardwareCertificate string `json:"manufacturer_hardware_certificate,omitempty"`
	ClusterCertificate              string `json:"cluster_certificate,omitempty"`
}

// encodeCertificates returns the JSON text of c, or NULL when c is empty.
func encodeCertificates(c store.Certificates) (any, error) {
	if c == (store.Certificates{}) {
		return nil, nil
	}
	b, err := json.Marshal(certificatesJSON(c))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// decodeCertificates reads what encodeCertificates wrote.
func decodeCertificates(s sql.NullString) (store.Certificates, error) {
	if !s.Valid || s.String == "" {
		return store.Certificates{}, nil
	}
	var c certificatesJSON
	if err := json.Unmarshal([]byte(s.String), &c); err != nil {
		return store.Certificates{}, fmt.Errorf("decode certificates: %w", err)
	}
	return store.Certificates(c), nil
}

// encodeSubnetMapping returns the JSON text of m, or NULL for a nil map (an empty non-nil map
// is stored as {} and reads back empty, not nil).
func encodeSubnetMapping(m map[string]string) (any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// decodeSubnetMapping reads what encodeSubnetMapping wrote.
func decodeSubnetMapping(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode subnet mapping: %w", err)
	}
	return m, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// backupRow receives rows of backupColumns or backupColumnsOfOwner, followed by a backupTags
// column when asked. Its Scan destinations are made once and reused for every row of a query.
type backupRow struct {
	b                         store.Backup
	created                   int64
	deleteAt, copiedAt, dueAt sql.NullInt64
	tags                      sql.NullString
	dest                      []any
}

// newBackupRow returns a backupRow for rows of backupColumns, followed by a backupTags column
// if withTags.
func newBackupRow(withTags bool) *backupRow {
	r := &backupRow{}
	return r.receive([]any{&r.b.ID, &r.b.Account, &r.b.Region}, withTags)
}

// newOwnerBackupRow returns a backupRow for the rows of a query of q's owner (see ofOwner):
// backupColumnsOfOwner, followed by a backupTags column if q.WithTags. Every row it reads has
// q's Account and Region.
func newOwnerBackupRow(q store.BackupQuery) *backupRow {
	r := &backupRow{b: store.Backup{Account: q.Account, Region: q.Region}}
	return r.receive([]any{&r.b.ID}, q.WithTags)
}

// receive sets r's Scan destinations: head (the columns before cluster_id), the columns from
// cluster_id on, and the tags column if withTags.
func (r *backupRow) receive(head []any, withTags bool) *backupRow {
	r.dest = append(head, &r.b.ClusterID, &r.b.State, &r.b.HsmType, &r.b.Mode, &r.b.NeverExpires,
		&r.created, &r.deleteAt, &r.copiedAt, &r.b.SourceRegion, &r.b.SourceBackupID,
		&r.b.SourceClusterID, &r.dueAt, &r.b.Version)
	if withTags {
		r.dest = append(r.dest, &r.tags)
	}
	return r
}

// scan reads the current row of s.
func (r *backupRow) scan(s scanner) (store.Backup, error) {
	if err := s.Scan(r.dest...); err != nil {
		return store.Backup{}, err
	}
	b := r.b
	b.CreatedAt = fromMs(r.created)
	b.DeleteAt = fromNullMs(r.deleteAt)
	b.CopiedAt = fromNullMs(r.copiedAt)
	b.DueAt = fromNullMs(r.dueAt)
	var err error
	if b.Tags, err = decodeTags(r.tags); err != nil {
		return store.Backup{}, err
	}
	return b, nil
}

// decodeTags reads a dialect.backupTags column: a JSON array of [key, value] pairs, or NULL
// for none.
func decodeTags(s sql.NullString) ([]store.Tag, error) {
	if !s.Valid {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s.String), &pairs); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	tags := make([]store.Tag, len(pairs))
	for i, p := range pairs {
		tags[i] = store.Tag{Key: p[0], Value: p[1]}
	}
	return tags, nil
}

// backupArgs are the values of qUpdateBackup's SET list, in order (id and version excluded).
func backupArgs(b store.Backup) []any {
	return []any{b.Account, b.Region, b.ClusterID, b.State, b.HsmType, b.Mode, b.NeverExpires,
		msNotNull(b.CreatedAt), msOrNull(b.DeleteAt), msOrNull(b.CopiedAt), b.SourceRegion,
		b.SourceBackupID, b.SourceClusterID, msOrNull(b.DueAt)}
}

// scanCluster reads one row of clusterColumns.
func scanCluster(r scanner) (store.Cluster, error) {
	var c store.Cluster
	var created int64
	var rollbackAt, dueAt, nextBackupAt sql.NullInt64
	var mapping, certs sql.NullString
	err := r.Scan(&c.ID, &c.Account, &c.Region, &c.State, &c.StateMessage, &c.HsmType, &c.Mode,
		&c.NetworkType, &c.RetentionDays, &c.SourceBackupID, &c.VpcID, &c.SecurityGroup, &mapping,
		&c.PreCoPassword, &created, &rollbackAt, &certs, &dueAt, &nextBackupAt, &c.Version)
	if err != nil {
		return store.Cluster{}, err
	}
	c.CreatedAt = fromMs(created)
	c.HsmTypeRollbackAt = fromNullMs(rollbackAt)
	c.DueAt = fromNullMs(dueAt)
	c.NextBackupAt = fromNullMs(nextBackupAt)
	if c.SubnetMapping, err = decodeSubnetMapping(mapping); err != nil {
		return store.Cluster{}, err
	}
	if c.Certificates, err = decodeCertificates(certs); err != nil {
		return store.Cluster{}, err
	}
	return c, nil
}

// clusterArgs are the values of qUpdateCluster's SET list, in order (id and version excluded).
func clusterArgs(c store.Cluster) ([]any, error) {
	mapping, err := encodeSubnetMapping(c.SubnetMapping)
	if err != nil {
		return nil, fmt.Errorf("encode subnet mapping: %w", err)
	}
	certs, err := encodeCertificates(c.Certificates)
	if err != nil {
		return nil, fmt.Errorf("encode certificates: %w", err)
	}
	return []any{c.Account, c.Region, c.State, c.StateMessage, c.HsmType, c.Mode, c.NetworkType,
		c.RetentionDays, c.SourceBackupID, c.VpcID, c.SecurityGroup, mapping, c.PreCoPassword,
		msNotNull(c.CreatedAt), msOrNull(c.HsmTypeRollbackAt), certs, msOrNull(c.DueAt),
		msOrNull(c.NextBackupAt)}, nil
}

// scanHSM reads one row of hsmColumns.
func scanHSM(r scanner) (store.HSM, error) {
	var h store.HSM
	var created int64
	var dueAt sql.NullInt64
	err := r.Scan(&h.ID, &h.ClusterID, &h.AvailabilityZone, &h.SubnetID, &h.EniID, &h.EniIP,
		&h.HsmType, &h.State, &h.StateMessage, &created, &dueAt)
	if err != nil {
		return store.HSM{}, err
	}
	h.CreatedAt = fromMs(created)
	h.DueAt = fromNullMs(dueAt)
	return h, nil
}

// hsmArgs are the values of qUpdateHSM's SET list, in order (id excluded).
func hsmArgs(h store.HSM) []any {
	return []any{h.ClusterID, h.AvailabilityZone, h.SubnetID, h.EniID, h.EniIP, h.HsmType,
		h.State, h.StateMessage, msNotNull(h.CreatedAt), msOrNull(h.DueAt)}
}
