package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// bulkCount is how many backups one admin take-backup request asks for when the harness grows
// a store through the admin API ({"Count": N}, all in one transaction): enough that the cost
// of a request is mostly the backups themselves, few enough to answer within a second.
const bulkCount = 1000

// bulkConc is how many take-backup requests are in flight at once: two, so that one request's
// HTTP and JSON overlap the other's transaction (the store runs writes one at a time anyway).
const bulkConc = 2

// takeBackups backs up an ACTIVE cluster n times through the admin API, bulkCount per request,
// and returns the IDs of the first keep of the new backups (fewer if n is smaller).
func takeBackups(ctx context.Context, c *loadgen.Client, clusterID string, n, keep int) ([]string, error) {
	requests := (n + bulkCount - 1) / bulkCount
	taken := make([][]string, requests)
	path := "clusters/" + url.PathEscape(clusterID) + "/backups"
	err := loadgen.Parallel(ctx, requests, bulkConc, func(ctx context.Context, i int) error {
		count := min(bulkCount, n-i*bulkCount)
		var out admin.BackupsTaken
		if err := c.Admin(ctx, http.MethodPost, path, admin.BackupCount{Count: &count}, &out); err != nil {
			return err
		}
		if out.Count != count || len(out.BackupIDs) != count {
			return fmt.Errorf("take-backup of %s with Count %d answered Count %d and %d IDs", clusterID, count, out.Count, len(out.BackupIDs))
		}
		if i*bulkCount < keep {
			taken[i] = out.BackupIDs
		}
		return nil
	})
	var ids []string
	for _, t := range taken {
		ids = append(ids, t...)
	}
	return ids[:min(len(ids), max(keep, 0))], err
}
