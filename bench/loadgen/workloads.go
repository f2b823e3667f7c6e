package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
)

// Subnets every benchmark cluster uses; without a topology file each lands in its own zone.
var Subnets = []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"}

// Request bodies of the workloads.

// DescribeBackupByID is what a waiter polls: one backup by the backupIds filter.
func DescribeBackupByID(id string) []byte {
	return mustJSON(map[string]any{"Filters": map[string][]string{"backupIds": {id}}})
}

// DescribeBackupsPage asks for the first page of the account's backups, newest first.
func DescribeBackupsPage(maxResults int) []byte {
	return mustJSON(map[string]any{"MaxResults": maxResults})
}

// DescribeBackupsOfCluster asks for the first page (50) of one cluster's backups.
func DescribeBackupsOfCluster(clusterID string) []byte {
	return mustJSON(map[string]any{"Filters": map[string][]string{"clusterIds": {clusterID}}})
}

// CreateClusterBody creates an empty hsm2m.medium cluster in two subnets.
func CreateClusterBody() []byte {
	return mustJSON(map[string]any{"HsmType": "hsm2m.medium", "SubnetIds": Subnets})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Fixed sends the same operation and body on every call; any 200 counts as success, so it is
// for writes, whose answer the ceiling server cannot give. Reads use Checked.
func Fixed(c *Client, op string, body []byte) Op {
	return func(ctx context.Context, w *Worker) error {
		var err error
		w.Scratch, err = c.Post(ctx, op, body, w.Scratch)
		return err
	}
}

// ErrWrongAnswer marks a 200 whose body is not what the request asked for. Run counts it as
// an error: a server that answers fast and wrong (an empty page, another backup) must not look
// faster.
var ErrWrongAnswer = errors.New("wrong answer")

// Check inspects the body of a 200 answer and returns an error wrapping ErrWrongAnswer if it
// is wrong.
type Check func(body []byte) error

// Checked sends the same operation and body on every call, like Fixed, and fails a 200 that
// check refuses.
func Checked(c *Client, op string, body []byte, check Check) Op {
	return func(ctx context.Context, w *Worker) error {
		var err error
		if w.Scratch, err = c.Post(ctx, op, body, w.Scratch); err != nil {
			return err
		}
		if err := check(w.Scratch); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
}

// ListsBackup checks that a DescribeBackups answer lists exactly the backup id.
func ListsBackup(id string) Check {
	return func(body []byte) error {
		backups, err := listedBackups(body)
		if err != nil {
			return err
		}
		if len(backups) != 1 || backups[0].BackupId != id {
			return fmt.Errorf("%w: want backup %s alone, got %d backups: %s", ErrWrongAnswer, id, len(backups), clip(string(body), 200))
		}
		return nil
	}
}

// ListsBackups checks that a DescribeBackups answer lists n backups.
func ListsBackups(n int) Check {
	return func(body []byte) error {
		backups, err := listedBackups(body)
		if err != nil {
			return err
		}
		if len(backups) != n {
			return fmt.Errorf("%w: want %d backups, got %d: %s", ErrWrongAnswer, n, len(backups), clip(string(body), 200))
		}
		return nil
	}
}

// ListsBackupsOfCluster checks that a DescribeBackups answer lists at least one backup, and
// only backups of the cluster.
func ListsBackupsOfCluster(clusterID string) Check {
	return func(body []byte) error {
		backups, err := listedBackups(body)
		if err != nil {
			return err
		}
		if len(backups) == 0 {
			return fmt.Errorf("%w: want backups of %s, got none: %s", ErrWrongAnswer, clusterID, clip(string(body), 200))
		}
		for _, b := range backups {
			if b.ClusterId != clusterID {
				return fmt.Errorf("%w: want backups of %s, got %s of %s", ErrWrongAnswer, clusterID, b.BackupId, b.ClusterId)
			}
		}
		return nil
	}
}

// listedBackups decodes the backups of a DescribeBackups answer.
func listedBackups(body []byte) ([]backup, error) {
	var out struct{ Backups []backup }
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: not a DescribeBackups answer (%v): %s", ErrWrongAnswer, err, clip(string(body), 200))
	}
	return out.Backups, nil
}

// Lane is what one worker of DeleteRestore walks: its own backups, through its own client
// (which sets the account, and the replica when several serve one database).
type Lane struct {
	Client *Client
	IDs    []string
}

// Lanes deals ids to workers lanes of one client: worker w owns ids[w], ids[w+workers], ...
func Lanes(c *Client, ids []string, workers int) []Lane {
	lanes := make([]Lane, workers)
	for i, id := range ids {
		lanes[i%workers].Client = c
		lanes[i%workers].IDs = append(lanes[i%workers].IDs, id)
	}
	return lanes
}

// DeleteRestore deletes then restores backups, worker w on lanes[w] alone, so no two requests
// touch the same backup at once and each worker's requests are in order. Each call is one
// request: DeleteBackup on even iterations, RestoreBackup of the same backup on odd ones; a
// server answers only after its transaction committed. Every worker of the run needs a lane
// with at least one backup.
//
// A run can stop between a worker's DeleteBackup and its RestoreBackup. settle, called after
// Run returns, restores every backup left deleted that way, so the next run finds them READY.
func DeleteRestore(lanes []Lane) (op Op, settle func(context.Context) error) {
	bodies := make([][][]byte, len(lanes))
	for w, l := range lanes {
		for _, id := range l.IDs {
			bodies[w] = append(bodies[w], mustJSON(map[string]string{"BackupId": id}))
		}
	}
	deleted := make([][]byte, len(lanes)) // per worker: the body of the backup it left deleted
	op = func(ctx context.Context, w *Worker) error {
		if w.ID >= len(lanes) || len(bodies[w.ID]) == 0 {
			return fmt.Errorf("no backup for worker %d", w.ID)
		}
		body := bodies[w.ID][(w.Iter/2)%len(bodies[w.ID])]
		op := "DeleteBackup"
		if w.Iter%2 == 1 {
			op = "RestoreBackup"
		}
		var err error
		w.Scratch, err = lanes[w.ID].Client.Post(ctx, op, body, w.Scratch)
		if err == nil {
			if op == "DeleteBackup" {
				deleted[w.ID] = body
			} else {
				deleted[w.ID] = nil
			}
		}
		return err
	}
	settle = func(ctx context.Context) error {
		var errs []error
		for w, body := range deleted {
			if body != nil {
				if _, err := lanes[w].Client.Post(ctx, "RestoreBackup", body, nil); err != nil {
					errs = append(errs, err)
				}
				deleted[w] = nil
			}
		}
		return errors.Join(errs...)
	}
	return op, settle
}

// Spread runs ops[w % len(ops)] for worker w: the workers split evenly over several
// endpoints (replicas serving one database) or requests.
func Spread(ops ...Op) Op {
	return func(ctx context.Context, w *Worker) error { return ops[w.ID%len(ops)](ctx, w) }
}

// Parallel runs fn(0..n-1) on conc goroutines and returns the first error.
func Parallel(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// Wire shapes the setup reads back.
type cluster struct {
	ClusterId     string
	State         string
	SubnetMapping map[string]string
	Certificates  struct{ ClusterCsr string }
}

type backup struct {
	BackupId    string
	BackupState string
	ClusterId   string
}

// CreateCluster creates one empty cluster and returns its ID.
func (c *Client) CreateCluster(ctx context.Context) (string, error) {
	var out struct{ Cluster cluster }
	if err := c.PostDecode(ctx, "CreateCluster", CreateClusterBody(), &out); err != nil {
		return "", err
	}
	return out.Cluster.ClusterId, nil
}

// PostDecode is Post with the response decoded into out.
func (c *Client) PostDecode(ctx context.Context, op string, body []byte, out any) error {
	raw, err := c.Post(ctx, op, body, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode %s: %w", op, clip(string(raw), 200), err)
	}
	return nil
}

// ActiveCluster makes an ACTIVE cluster the way a user does (CreateCluster, CreateHsm, sign the
// cluster CSR with their own CA, InitializeCluster, then the admin API's activate, which takes
// the first backup) and returns the cluster's ID and that backup's ID.
func (c *Client) ActiveCluster(ctx context.Context) (clusterID, backupID string, err error) {
	var created struct{ Cluster cluster }
	if err := c.PostDecode(ctx, "CreateCluster", CreateClusterBody(), &created); err != nil {
		return "", "", err
	}
	id := created.Cluster.ClusterId
	zones := make([]string, 0, len(created.Cluster.SubnetMapping))
	for az := range created.Cluster.SubnetMapping {
		zones = append(zones, az)
	}
	if len(zones) == 0 {
		return "", "", fmt.Errorf("cluster %s has no subnet mapping", id)
	}
	sort.Strings(zones)
	if err := c.Call(ctx, "CreateHsm", map[string]string{"ClusterId": id, "AvailabilityZone": zones[0]}, nil); err != nil {
		return "", "", err
	}
	var described struct{ Clusters []cluster }
	if err := c.Call(ctx, "DescribeClusters", map[string]any{"Filters": map[string][]string{"clusterIds": {id}}}, &described); err != nil {
		return "", "", err
	}
	if len(described.Clusters) != 1 || described.Clusters[0].Certificates.ClusterCsr == "" {
		return "", "", fmt.Errorf("cluster %s has no CSR after CreateHsm: %+v", id, described.Clusters)
	}
	cert, anchor, err := customerca.SignCSR(described.Clusters[0].Certificates.ClusterCsr, time.Now())
	if err != nil {
		return "", "", fmt.Errorf("sign the CSR of %s: %w", id, err)
	}
	if err := c.Call(ctx, "InitializeCluster", map[string]string{"ClusterId": id, "SignedCert": cert, "TrustAnchor": anchor}, nil); err != nil {
		return "", "", err
	}
	if err := c.Admin(ctx, http.MethodPost, "clusters/"+url.PathEscape(id)+"/activate", nil, nil); err != nil {
		return "", "", err
	}
	ids, err := c.BackupsOf(ctx, id)
	if err != nil {
		return "", "", err
	}
	if len(ids) != 1 {
		return "", "", fmt.Errorf("activation of %s should take one backup, found %d", id, len(ids))
	}
	return id, ids[0], nil
}

// BackupsOf returns the IDs of the first page of a cluster's backups.
func (c *Client) BackupsOf(ctx context.Context, clusterID string) ([]string, error) {
	var out struct{ Backups []backup }
	if err := c.PostDecode(ctx, "DescribeBackups", DescribeBackupsOfCluster(clusterID), &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Backups))
	for i, b := range out.Backups {
		ids[i] = b.BackupId
	}
	return ids, nil
}

// TakeBackups backs up an ACTIVE cluster n times through the admin API, conc calls at a time,
// and returns the new backups' IDs.
func (c *Client) TakeBackups(ctx context.Context, clusterID string, n, conc int) ([]string, error) {
	ids := make([]string, n)
	path := "clusters/" + url.PathEscape(clusterID) + "/backups"
	err := Parallel(ctx, n, conc, func(ctx context.Context, i int) error {
		var out struct{ Backup backup }
		if err := c.Admin(ctx, http.MethodPost, path, nil, &out); err != nil {
			return err
		}
		ids[i] = out.Backup.BackupId
		return nil
	})
	return ids, err
}

// CreateClusters creates n clusters, conc at a time, and returns their IDs. On moto each
// CreateCluster also stores one READY backup, which makes it moto's way to seed backups.
func (c *Client) CreateClusters(ctx context.Context, n, conc int) ([]string, error) {
	ids := make([]string, n)
	err := Parallel(ctx, n, conc, func(ctx context.Context, i int) error {
		id, err := c.CreateCluster(ctx)
		ids[i] = id
		return err
	})
	return ids, err
}
