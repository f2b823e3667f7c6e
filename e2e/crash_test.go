package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/e2e/internal/netfail"
	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// The crash test's model of what the store must hold: every acknowledged change, kept per
// worker (each worker owns its resources and changes them one request at a time), plus the one
// request per worker that was in flight when the process was killed.

type clusterModel struct {
	tags map[string]string
	hsms map[string]bool
	az   string // where its HSM goes
}

type backupModel struct {
	state        types.BackupState
	neverExpires bool
}

// inflight is a request whose answer never came: after the restart the store must show it
// either not applied at all or applied completely.
type inflight struct {
	kind    string
	cluster string            // the cluster it changes
	backup  string            // the backup it changes
	tags    map[string]string // CreateCluster's or TagResource's tags
	keys    []string          // UntagResource's keys
	after   backupModel       // a backup's state once applied
}

type crashWorker struct {
	id       int
	rng      *rand.Rand
	active   string                   // an ACTIVE cluster this worker backs up
	clusters map[string]*clusterModel // owned clusters (the active one included)
	backups  map[string]*backupModel
	tagSets  map[string][][]string // cluster -> added key triples, for UntagResource
	pending  *inflight
	seq      int
	acked    int
	// untracked counts acknowledged backups whose IDs the worker never saw: adding an HSM to an
	// ACTIVE cluster backs it up in the same transaction.
	untracked int
}

// crashLedger is the whole model and the figures of the run.
type crashLedger struct {
	mu       sync.Mutex
	workers  []*crashWorker
	maxNow   time.Time // the latest virtual time a clock advance acknowledged
	clockOps int       // unacknowledged clock advances are harmless: the clock only moves forward
	verified atomic.Int64
	// Requests in flight at a kill, by what the restarted store showed: applied completely, or
	// not at all (anything in between fails the test).
	inflightApplied, inflightAbsent int
}

// TestCrashSafety runs a mixed write load against the real binary on a SQLite file, kills it
// with SIGKILL at random moments (at least 20 times), restarts it on the same file, and checks
// that every acknowledged change is there, that the request in flight at the kill is either
// absent or complete, and that SQLite's integrity check passes after every kill.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a real process 25 times")
	}
	const (
		kills   = 25
		workers = 4
		budget  = 60 * time.Second
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	master := rand.New(rand.NewPCG(seed, 0xC0FFEE))
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "state.db")
	args := []string{"--store", "sqlite:" + db, "--max-clusters", "1000000", "--max-hsms", "1000"}
	began := time.Now()

	ledger := &crashLedger{}
	p := startProcess(t, bin, args...)
	e := p.env(t)
	for w := range workers {
		c := e.defaultClient()
		active, backup := e.activeCluster(t, c)
		cl := describeCluster(t, c, active)
		hsms := map[string]bool{}
		for _, h := range cl.Hsms {
			hsms[aws.ToString(h.HsmId)] = true
		}
		ledger.workers = append(ledger.workers, &crashWorker{
			id: w, rng: rand.New(rand.NewPCG(master.Uint64(), uint64(w))), active: active,
			clusters: map[string]*clusterModel{active: {tags: map[string]string{}, hsms: hsms, az: firstZone(&cl)}},
			backups:  map[string]*backupModel{backup: {state: types.BackupStateReady}},
			tagSets:  map[string][][]string{},
		})
	}

	killed := 0
	for killed < kills {
		if time.Since(began) > budget && killed >= 20 {
			break
		}
		// Load for a random while, then SIGKILL in the middle of it.
		ctx, stop := context.WithCancel(context.Background())
		killing := make(chan struct{}) // closed just before the SIGKILL
		var wg sync.WaitGroup
		for _, w := range ledger.workers {
			wg.Go(func() { w.run(ctx, t, p.url, ledger, killing) })
		}
		time.Sleep(time.Duration(100+master.IntN(700)) * time.Millisecond)
		close(killing)
		p.kill()
		killed++
		wg.Wait()
		stop()
		if t.Failed() {
			return
		}
		integrityCheck(t, db)

		p = startProcess(t, bin, args...)
		ledger.verify(t, p.env(t))
		if t.Failed() {
			t.Fatalf("after kill %d (%s into the run)", killed, time.Since(began).Round(time.Millisecond))
		}
	}

	acked := 0
	for _, w := range ledger.workers {
		acked += w.acked
	}
	t.Logf("%d SIGKILLs survived in %s; %d acknowledged writes (+%d clock advances) all present, %d resource checks after restarts; "+
		"of the writes in flight at a kill %d were applied completely and %d not at all, none partly; integrity_check ok after every kill",
		killed, time.Since(began).Round(time.Millisecond), acked, ledger.clockOps, ledger.verified.Load(), ledger.inflightApplied, ledger.inflightAbsent)
	if killed < 20 {
		t.Fatalf("only %d kills", killed)
	}
}

// run sends one request at a time until the process goes away (or ctx ends), keeping its model.
// The one error it accepts is a request that got no answer because the process was killed:
// any error before killing is closed, and any answer after it (an API error, an HTTP error
// status of the admin API, a garbled 200), fails the test.
func (w *crashWorker) run(ctx context.Context, t *testing.T, url string, ledger *crashLedger, killing <-chan struct{}) {
	c := cloudhsmv2.New(cloudhsmv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
		HTTPClient:  &http.Client{Timeout: 10 * time.Second},
	})
	adm := admin.Client{Endpoint: url, HTTP: &http.Client{Timeout: 10 * time.Second}}
	for ctx.Err() == nil {
		w.seq++
		err := w.step(ctx, c, adm, ledger)
		if err == nil {
			continue
		}
		select {
		case <-killing:
			if !netfail.NoAnswer(err) {
				t.Errorf("worker %d: a %s at the kill got an answer that is an error, not a dropped connection: %v", w.id, w.pending.kind, err)
			}
		default:
			t.Errorf("worker %d: a %s failed before the process was killed: %v", w.id, w.pending.kind, err)
		}
		return // the process is gone: this request stays in flight
	}
	w.pending = nil // ctx ended between requests
}

// step sends one random write; on success it applies it to the model, else it leaves it pending.
func (w *crashWorker) step(ctx context.Context, c *cloudhsmv2.Client, adm admin.Client, ledger *crashLedger) error {
	token := fmt.Sprintf("w%d-%d-%d", w.id, w.seq, w.rng.Uint32())
	owned := slices.Sorted(maps.Keys(w.clusters))
	pick := owned[w.rng.IntN(len(owned))]
	var readyBackups, pendingBackups []string
	for _, id := range slices.Sorted(maps.Keys(w.backups)) {
		if w.backups[id].state == types.BackupStateReady {
			readyBackups = append(readyBackups, id)
		} else {
			pendingBackups = append(pendingBackups, id)
		}
	}
	ctx = context.WithoutCancel(ctx) // a request once sent is never cancelled by the test: only the kill ends it

	switch r := w.rng.IntN(20); {
	case r < 4: // CreateCluster with its tags in the same request
		tags := map[string]string{"owner": fmt.Sprint(w.id), "token": token, "seq": fmt.Sprint(w.seq)}
		w.pending = &inflight{kind: "CreateCluster", tags: tags}
		subnet := fmt.Sprintf("subnet-%08x%08x", w.id, w.seq) // its own /24: a subnet has ~250 addresses
		out, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{subnet}, TagList: tagList(tags)})
		if err != nil {
			return err
		}
		w.clusters[aws.ToString(out.Cluster.ClusterId)] = &clusterModel{tags: tags, hsms: map[string]bool{}, az: firstZone(out.Cluster)}
	case r < 8: // TagResource: three tags at once
		tags := map[string]string{token + "-a": "1", token + "-b": "2", token + "-c": "3"}
		w.pending = &inflight{kind: "TagResource", cluster: pick, tags: tags}
		if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &pick, TagList: tagList(tags)}); err != nil {
			return err
		}
		maps.Copy(w.clusters[pick].tags, tags)
		w.tagSets[pick] = append(w.tagSets[pick], slices.Sorted(maps.Keys(tags)))
	case r < 10 && len(w.tagSets[pick]) > 0: // UntagResource of an earlier triple
		sets := w.tagSets[pick]
		i := w.rng.IntN(len(sets))
		keys := sets[i]
		w.pending = &inflight{kind: "UntagResource", cluster: pick, keys: keys}
		if _, err := c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &pick, TagKeyList: keys}); err != nil {
			return err
		}
		for _, k := range keys {
			delete(w.clusters[pick].tags, k)
		}
		w.tagSets[pick] = slices.Delete(sets, i, i+1)
	case r < 12 && (len(w.clusters[pick].hsms) == 0 || (pick == w.active && len(w.clusters[pick].hsms) < 40)): // CreateHsm
		w.pending = &inflight{kind: "CreateHsm", cluster: pick}
		out, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &pick, AvailabilityZone: aws.String(w.clusters[pick].az)})
		if err != nil {
			return err
		}
		w.clusters[pick].hsms[aws.ToString(out.Hsm.HsmId)] = true
		if pick == w.active {
			w.untracked++
		}
	case r < 14: // an on-demand backup (admin API)
		w.pending = &inflight{kind: "TakeBackup", cluster: w.active}
		var out struct{ Backup struct{ BackupId string } }
		raw, err := adm.Call(ctx, http.MethodPost, "clusters/"+w.active+"/backups", nil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		w.backups[out.Backup.BackupId] = &backupModel{state: types.BackupStateReady}
	case r < 16 && len(readyBackups) > 0: // DeleteBackup
		id := readyBackups[w.rng.IntN(len(readyBackups))]
		after := *w.backups[id]
		after.state = types.BackupStatePendingDeletion
		w.pending = &inflight{kind: "DeleteBackup", backup: id, after: after}
		if _, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &id}); err != nil {
			return err
		}
		*w.backups[id] = after
	case r < 18 && len(pendingBackups) > 0: // RestoreBackup
		id := pendingBackups[w.rng.IntN(len(pendingBackups))]
		after := *w.backups[id]
		after.state = types.BackupStateReady
		w.pending = &inflight{kind: "RestoreBackup", backup: id, after: after}
		if _, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id}); err != nil {
			return err
		}
		*w.backups[id] = after
	case r < 19 && len(readyBackups) > 0: // ModifyBackupAttributes
		id := readyBackups[w.rng.IntN(len(readyBackups))]
		after := *w.backups[id]
		after.neverExpires = !after.neverExpires
		w.pending = &inflight{kind: "ModifyBackupAttributes", backup: id, after: after}
		if _, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &id, NeverExpires: aws.Bool(after.neverExpires)}); err != nil {
			return err
		}
		*w.backups[id] = after
	default: // move the virtual clock a minute (admin API)
		w.pending = &inflight{kind: "AdvanceClock"}
		raw, err := adm.Call(ctx, http.MethodPost, "clock", admin.ClockChange{Advance: "1m"})
		if err != nil {
			return err
		}
		var out admin.Clock
		if err := json.Unmarshal(raw, &out); err != nil {
			return err
		}
		now, err := time.Parse(time.RFC3339Nano, out.Now)
		if err != nil {
			return err
		}
		ledger.mu.Lock()
		if now.After(ledger.maxNow) {
			ledger.maxNow = now
		}
		ledger.clockOps++
		ledger.mu.Unlock()
		w.acked-- // counted with the clock advances instead
	}
	w.pending = nil
	w.acked++
	return nil
}

// verify reads everything back from a restarted process and checks it against the model; the
// request each worker had in flight may be absent or complete, never partial. The model then
// adopts what the store shows for those requests.
func (l *crashLedger) verify(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	// Reads retry a connection the SDK closed under its own response (aws/aws-sdk-go-v2#2737),
	// and nothing else: an answer from the restarted server, a 500 included, fails the test.
	c := cloudhsmv2.New(cloudhsmv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.url), Retryer: netfail.Retryer(5),
		Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
	})

	clusters := map[string]types.Cluster{}
	cp := cloudhsmv2.NewDescribeClustersPaginator(c, &cloudhsmv2.DescribeClustersInput{})
	for cp.HasMorePages() {
		page, err := cp.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeClusters after restart: %v", err)
		}
		for _, cl := range page.Clusters {
			clusters[aws.ToString(cl.ClusterId)] = cl
		}
	}
	backups := map[string]types.Backup{}
	bp := cloudhsmv2.NewDescribeBackupsPaginator(c, &cloudhsmv2.DescribeBackupsInput{})
	for bp.HasMorePages() {
		page, err := bp.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeBackups after restart: %v", err)
		}
		for _, b := range page.Backups {
			backups[aws.ToString(b.BackupId)] = b
		}
	}
	var now admin.Clock
	e.adminCall(http.MethodGet, "clock", nil, &now)
	if got, _ := time.Parse(time.RFC3339Nano, now.Now); got.Before(l.maxNow) {
		t.Errorf("virtual clock %s after restart, but an advance to %s was acknowledged", got, l.maxNow)
	}

	known := map[string]bool{}
	knownBackups := map[string]bool{}
	hsmAdded := map[*crashWorker]bool{} // the in-flight CreateHsm was applied
	applied := map[*crashWorker]bool{}  // the in-flight request was applied
	for _, w := range l.workers {
		p := w.pending
		for id, m := range w.clusters {
			known[id] = true
			got, ok := clusters[id]
			if !ok {
				t.Errorf("worker %d: acknowledged cluster %s is gone", w.id, id)
				continue
			}
			gotTags, gotHSMs := tagMap(got.TagList), hsmSet(got.Hsms)
			l.verified.Add(1)
			switch {
			case p != nil && p.cluster == id && p.kind == "TagResource":
				with := maps.Clone(m.tags)
				maps.Copy(with, p.tags)
				if !maps.Equal(gotTags, m.tags) && !maps.Equal(gotTags, with) {
					t.Errorf("cluster %s: tags %v after a TagResource of %v in flight; want %v or %v", id, gotTags, p.tags, m.tags, with)
				}
				m.tags = gotTags
				if maps.Equal(gotTags, with) {
					w.tagSets[id] = append(w.tagSets[id], slices.Sorted(maps.Keys(p.tags)))
					applied[w] = true
				}
			case p != nil && p.cluster == id && p.kind == "UntagResource":
				without := maps.Clone(m.tags)
				for _, k := range p.keys {
					delete(without, k)
				}
				if !maps.Equal(gotTags, m.tags) && !maps.Equal(gotTags, without) {
					t.Errorf("cluster %s: tags %v after an UntagResource of %v in flight; want %v or %v", id, gotTags, p.keys, m.tags, without)
				}
				if maps.Equal(gotTags, without) {
					m.tags = without
					applied[w] = true
					w.tagSets[id] = slices.DeleteFunc(w.tagSets[id], func(s []string) bool { return slices.Equal(s, p.keys) })
				}
			case !maps.Equal(gotTags, m.tags):
				t.Errorf("cluster %s: tags %v, want %v", id, gotTags, m.tags)
			}
			extra := 0
			for h := range gotHSMs {
				if !m.hsms[h] {
					extra++
				}
			}
			for h := range m.hsms {
				if !gotHSMs[h] {
					t.Errorf("cluster %s: acknowledged HSM %s is gone", id, h)
				}
			}
			if extra > 0 && !(extra == 1 && p != nil && p.kind == "CreateHsm" && p.cluster == id) {
				t.Errorf("cluster %s: %d HSMs nobody acknowledged (%v, model %v)", id, extra, gotHSMs, m.hsms)
			}
			if p != nil && p.kind == "CreateHsm" && p.cluster == id && extra == 1 {
				hsmAdded[w], applied[w] = true, true
			}
			m.hsms = gotHSMs
		}
		for id, m := range w.backups {
			knownBackups[id] = true
			got, ok := backups[id]
			if !ok {
				t.Errorf("worker %d: acknowledged backup %s is gone", w.id, id)
				continue
			}
			l.verified.Add(1)
			have := backupModel{state: got.BackupState, neverExpires: aws.ToBool(got.NeverExpires)}
			if p != nil && p.backup == id {
				if have != *m && have != p.after {
					t.Errorf("backup %s: %+v after a %s in flight; want %+v or %+v", id, have, p.kind, *m, p.after)
				}
				applied[w] = have == p.after
				*m = have
			} else if have != *m {
				t.Errorf("backup %s: %+v, want %+v", id, have, *m)
			}
		}
	}
	// Anything else in the store must be a complete in-flight request: a new cluster with all
	// the tags of its CreateCluster, or the one backup of a TakeBackup.
	for id, cl := range clusters {
		if known[id] {
			continue
		}
		tags := tagMap(cl.TagList)
		adopted := false
		for _, w := range l.workers {
			if p := w.pending; p != nil && p.kind == "CreateCluster" && p.tags["token"] == tags["token"] {
				if !maps.Equal(tags, p.tags) {
					t.Errorf("cluster %s from an unacknowledged CreateCluster is half there: tags %v, requested %v", id, tags, p.tags)
				}
				w.clusters[id] = &clusterModel{tags: tags, hsms: hsmSet(cl.Hsms), az: firstZone(&cl)}
				applied[w], adopted = true, true
				break
			}
		}
		if !adopted {
			t.Errorf("cluster %s (tags %v) was never requested by anyone", id, tags)
		}
	}
	// Backups nobody named: those of HSMs added to ACTIVE clusters, and at most one of the
	// request in flight (a TakeBackup, or a CreateHsm on an ACTIVE cluster exactly when its HSM
	// is there: the HSM and its backup are one transaction).
	unnamed := map[string][]string{} // cluster -> backup IDs
	for id, b := range backups {
		if !knownBackups[id] {
			unnamed[aws.ToString(b.ClusterId)] = append(unnamed[aws.ToString(b.ClusterId)], id)
		}
	}
	for _, w := range l.workers {
		got := len(unnamed[w.active])
		delete(unnamed, w.active)
		want := []int{w.untracked}
		switch p := w.pending; {
		case p != nil && p.kind == "TakeBackup":
			want = []int{w.untracked, w.untracked + 1}
			applied[w] = got == w.untracked+1
		case p != nil && p.kind == "CreateHsm" && p.cluster == w.active && hsmAdded[w]:
			want = []int{w.untracked + 1}
		}
		if !slices.Contains(want, got) {
			t.Errorf("worker %d: %d backups of %s nobody named, want %v (pending %+v)", w.id, got, w.active, want, w.pending)
		}
		for id, b := range backups {
			if !knownBackups[id] && aws.ToString(b.ClusterId) == w.active {
				w.backups[id] = &backupModel{state: b.BackupState, neverExpires: aws.ToBool(b.NeverExpires)}
			}
		}
		w.untracked = 0
	}
	for cluster, ids := range unnamed {
		t.Errorf("backups %v of %s were never requested by anyone", ids, cluster)
	}
	for _, w := range l.workers {
		if p := w.pending; p != nil && p.kind != "AdvanceClock" {
			if applied[w] {
				l.inflightApplied++
			} else {
				l.inflightAbsent++
			}
		}
		w.pending = nil // resolved: the store's answer is now the model
	}
}

func tagList(tags map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func tagMap(list []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tag := range list {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

func hsmSet(hsms []types.Hsm) map[string]bool {
	m := map[string]bool{}
	for _, h := range hsms {
		m[aws.ToString(h.HsmId)] = true
	}
	return m
}
