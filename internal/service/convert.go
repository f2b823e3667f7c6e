package service

import (
	"strconv"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/arn"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// backupARN returns the canonical ARN of a backup.
func backupARN(b store.Backup) string {
	return arn.New(b.Region, b.Account, arn.KindBackup, b.ID).String()
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toAPITags(tags []store.Tag) []api.Tag {
	out := make([]api.Tag, len(tags))
	for i, t := range tags {
		out[i] = api.Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out
}

func fromAPITags(tags []api.Tag) []store.Tag {
	out := make([]store.Tag, len(tags))
	for i, t := range tags {
		out[i] = store.Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

// toAPIBackup renders a stored backup as the API shows it. The members point into one
// allocation, v, instead of one each: a page renders 50 backups.
func toAPIBackup(b store.Backup, tags []store.Tag) api.Backup {
	v := &struct {
		store.Backup
		arn                      string
		created, deleted, copied api.Timestamp
	}{Backup: b, arn: backupARN(b), created: api.Timestamp(b.CreatedAt),
		deleted: api.Timestamp(b.DeleteAt), copied: api.Timestamp(b.CopiedAt)}
	out := api.Backup{
		BackupId:        &v.ID,
		BackupArn:       &v.arn,
		BackupState:     &v.State,
		ClusterId:       nonEmpty(&v.ClusterID),
		CreateTimestamp: &v.created,
		HsmType:         nonEmpty(&v.HsmType),
		Mode:            nonEmpty(&v.Mode),
		NeverExpires:    &v.NeverExpires,
		SourceRegion:    nonEmpty(&v.SourceRegion),
		SourceBackup:    nonEmpty(&v.SourceBackupID),
		SourceCluster:   nonEmpty(&v.SourceClusterID),
		TagList:         toAPITags(tags),
	}
	if !b.DeleteAt.IsZero() {
		out.DeleteTimestamp = &v.deleted
	}
	if !b.CopiedAt.IsZero() {
		out.CopyTimestamp = &v.copied
	}
	return out
}

// nonEmpty returns p, or nil when *p is "": an optional member that is absent.
func nonEmpty(p *string) *string {
	if *p == "" {
		return nil
	}
	return p
}

// toAPICluster renders a stored cluster and its HSMs as the API shows them.
func toAPICluster(c store.Cluster, hsms []store.HSM, tags []store.Tag) api.Cluster {
	out := api.Cluster{
		BackupPolicy: ptr(api.BackupPolicyDefault),
		BackupRetentionPolicy: &api.BackupRetentionPolicy{
			Type:  ptr(api.BackupRetentionTypeDays),
			Value: ptr(strconv.Itoa(c.RetentionDays)),
		},
		ClusterId:       ptr(c.ID),
		CreateTimestamp: api.NewTimestamp(c.CreatedAt),
		Hsms:            make([]api.Hsm, 0, len(hsms)),
		HsmType:         optional(c.HsmType),
		Mode:            optional(c.Mode),
		NetworkType:     optional(c.NetworkType),
		PreCoPassword:   optional(c.PreCoPassword),
		SecurityGroup:   optional(c.SecurityGroup),
		SourceBackupId:  optional(c.SourceBackupID),
		State:           ptr(c.State),
		StateMessage:    optional(c.StateMessage),
		SubnetMapping:   c.SubnetMapping,
		VpcId:           optional(c.VpcID),
		TagList:         toAPITags(tags),
	}
	for _, h := range hsms {
		out.Hsms = append(out.Hsms, toAPIHsm(h))
	}
	if !c.HsmTypeRollbackAt.IsZero() {
		out.HsmTypeRollbackExpiration = api.NewTimestamp(c.HsmTypeRollbackAt)
	}
	if certs := toAPICertificates(c); certs != nil {
		out.Certificates = certs
	}
	return out
}

// toAPICertificates shows a cluster's certificates; the CSR only while it is UNINITIALIZED,
// and never the private key.
func toAPICertificates(c store.Cluster) *api.Certificates {
	cs := c.Certificates
	out := api.Certificates{
		HsmCertificate:                  optional(cs.HsmCertificate),
		AwsHardwareCertificate:          optional(cs.AwsHardwareCertificate),
		ManufacturerHardwareCertificate: optional(cs.ManufacturerHardwareCertificate),
		ClusterCertificate:              optional(cs.ClusterCertificate),
	}
	if c.State == api.ClusterStateUninitialized {
		out.ClusterCsr = optional(cs.ClusterCsr)
	}
	if out == (api.Certificates{}) {
		return nil
	}
	return &out
}

func toAPIHsm(h store.HSM) api.Hsm {
	return api.Hsm{
		HsmId:            ptr(h.ID),
		ClusterId:        ptr(h.ClusterID),
		AvailabilityZone: optional(h.AvailabilityZone),
		SubnetId:         optional(h.SubnetID),
		EniId:            optional(h.EniID),
		EniIp:            optional(h.EniIP),
		HsmType:          optional(h.HsmType),
		State:            ptr(h.State),
		StateMessage:     optional(h.StateMessage),
	}
}
