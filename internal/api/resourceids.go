package api

import "strings"

// The helpers of the generated AppendResourceIDs methods (zz_shapes.go), which list the clusters,
// backups and HSMs a request or a response names, for the request history. They run on every
// request that is recorded, so they allocate nothing but the list itself and never match a
// regular expression.

// MaxResourceIDs caps how many IDs AppendResourceIDs collects into one list: a page of 25
// clusters of 28 HSMs names 725, and the history keeps a list per request.
const MaxResourceIDs = 100

// maxResourceIDBytes bounds what counts as an ID: the model's longest (cluster- and 16
// characters) is 24 bytes. A longer value (a request that failed validation may carry anything)
// is not kept.
const maxResourceIDBytes = 32

// resourcePrefixes start the IDs AppendResourceIDs collects (BEHAVIOUR.md §2).
var resourcePrefixes = [...]string{"backup-", "cluster-", "hsm-"}

// appendResourceID appends id to ids unless ids already holds it or MaxResourceIDs IDs, or id
// does not look like the ID of a cluster, backup or HSM (a known prefix, at most 32 bytes). It
// is a bound on what is kept, not validation: the model's patterns are checked elsewhere.
func appendResourceID(ids []string, id string) []string {
	if len(ids) >= MaxResourceIDs || len(id) > maxResourceIDBytes || !hasResourcePrefix(id) {
		return ids
	}
	for _, have := range ids {
		if have == id {
			return ids
		}
	}
	return append(ids, id)
}

// hasResourcePrefix reports whether id starts with one of resourcePrefixes.
func hasResourcePrefix(id string) bool {
	for _, p := range resourcePrefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// arnResource returns the resource ID of an ARN (what follows its last '/'), or s itself when it
// has none (a BackupArn may be a plain backup ID).
func arnResource(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// appendFilterResourceIDs appends the values of filters that look like resource IDs (the
// backupIds, sourceBackupIds and clusterIds filters), keys in sorted order so the list is the
// same for the same request.
func appendFilterResourceIDs(ids []string, filters map[string][]string) []string {
	switch len(filters) {
	case 0:
		return ids
	case 1: // the usual filter: no sorting, no allocation
		for _, values := range filters {
			for _, v := range values {
				ids = appendResourceID(ids, v)
			}
		}
		return ids
	}
	for _, k := range sortedKeys(filters) {
		for _, v := range filters[k] {
			ids = appendResourceID(ids, v)
		}
	}
	return ids
}
