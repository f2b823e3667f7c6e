package main

import (
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

const takeBackupUsage = `usage:
  cloudhsm-local take-backup CLUSTER_ID             take one backup, printed as {"Backup": ...}
  cloudhsm-local take-backup CLUSTER_ID --count N   take N (1 to 10000) in one transaction, 1 ms apart;
                                                    prints {"Count": N, "BackupIds": [...]}, oldest first
`

// takeBackupRequest maps "take-backup CLUSTER_ID [--count N]" to an admin API call: no body
// without --count, {"Count": N} with it. It checks only the form; the server checks N.
func takeBackupRequest(args []string) (method, path string, body any, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", "", nil, usagef("take-backup takes a cluster ID, then its flags\n%s", takeBackupUsage)
	}
	fs := flag.NewFlagSet("take-backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	count := fs.Int("count", 0, "backups to take in one transaction")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", "", nil, usagef("%s", takeBackupUsage)
		}
		return "", "", nil, usagef("take-backup: %v\n%s", err, takeBackupUsage)
	}
	if fs.NArg() > 0 {
		return "", "", nil, usagef("take-backup takes one cluster ID, got also %q\n%s", fs.Args(), takeBackupUsage)
	}
	path = "clusters/" + url.PathEscape(args[0]) + "/backups"
	counted := false
	fs.Visit(func(f *flag.Flag) { counted = counted || f.Name == "count" })
	if !counted {
		return http.MethodPost, path, nil, nil
	}
	return http.MethodPost, path, admin.BackupCount{Count: count}, nil
}
