package replicas

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// Three real cloudhsm-local processes start at the same moment on an empty schema (their
// migrations race) and take a write load — CreateCluster, then TagResource on the new cluster,
// each through any replica. One is killed with SIGKILL in the middle. Every write that was
// acknowledged, by any replica before or after the kill, is there when read through a
// survivor, and the survivors answer every request throughout.
func TestKilledReplicaLosesNoAcknowledgedWrite(t *testing.T) {
	bin := buildBinary(t)
	pg := pgtest.Connect(t)
	dsn := pg.Schema(t).DSN("pool_max_conns", "6")
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = startProcess(t, bin, fmt.Sprintf("replica-%c", 'A'+i), dsn, "--max-clusters", "100000")
	}
	for _, p := range procs {
		p.serving(t)
	}
	victim := procs[0]

	const workers, opsPerWorker, killAfter = 8, 25, 60
	type tagAck struct{ cluster, key, value string }
	var (
		mu                sync.Mutex
		ackedClusters     = map[string]string{} // cluster ID -> worker tag value
		ackedTags         []tagAck
		acks              atomic.Int64
		killing           atomic.Bool
		victimFailures    atomic.Int64
		survivorAfterKill atomic.Int64
	)
	// pick returns the replica for the n-th request of a worker: round robin, skipping the
	// victim once it is being killed.
	pick := func(w, n int) *process {
		p := procs[(w+n)%3]
		if p == victim && killing.Load() {
			p = procs[1+(w+n)%2]
		}
		return p
	}
	// call runs one request on p and says whether it was acknowledged. Only the victim, once
	// it is being killed, may fail.
	call := func(p *process, what string, fn func() error) bool {
		err := fn()
		if err == nil {
			acks.Add(1)
			if p != victim && killing.Load() {
				survivorAfterKill.Add(1)
			}
			return true
		}
		if p == victim && killing.Load() {
			victimFailures.Add(1)
			return false
		}
		t.Errorf("%s on %s failed: %v", what, p.name, err)
		return false
	}

	killed := make(chan error, 1)
	go func() {
		for acks.Load() < killAfter && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
		killing.Store(true)
		killed <- victim.kill()
	}()

	ctx := context.Background()
	began := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range opsPerWorker {
				p := pick(w, 2*i)
				var out *cloudhsmv2.CreateClusterOutput
				ok := call(p, "CreateCluster", func() (err error) {
					out, err = p.api.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
						HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets,
						TagList: []types.Tag{{Key: aws.String("worker"), Value: aws.String(fmt.Sprint(w))}},
					})
					return err
				})
				if !ok {
					continue
				}
				id := aws.ToString(out.Cluster.ClusterId)
				mu.Lock()
				ackedClusters[id] = fmt.Sprint(w)
				mu.Unlock()

				p = pick(w, 2*i+1)
				key, value := fmt.Sprintf("op-%d-%d", w, i), fmt.Sprintf("by-%s", p.name)
				ok = call(p, "TagResource", func() error {
					_, err := p.api.TagResource(ctx, &cloudhsmv2.TagResourceInput{
						ResourceId: aws.String(id), TagList: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
					})
					return err
				})
				if ok {
					mu.Lock()
					ackedTags = append(ackedTags, tagAck{id, key, value})
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged in %v (%.0f/s) by 3 then 2 replicas; %d requests to the killed replica failed; survivors acknowledged %d after the kill",
		acks.Load(), elapsed.Round(time.Millisecond), float64(acks.Load())/elapsed.Seconds(), victimFailures.Load(), survivorAfterKill.Load())
	if survivorAfterKill.Load() == 0 {
		t.Fatal("the survivors acknowledged nothing after the kill")
	}

	// Read everything back through a survivor.
	reader := procs[1]
	got := map[string]map[string]string{}
	pages := cloudhsmv2.NewDescribeClustersPaginator(reader.api, &cloudhsmv2.DescribeClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("%s: DescribeClusters: %v", reader.name, err)
		}
		for _, c := range page.Clusters {
			tags := map[string]string{}
			for _, tag := range c.TagList {
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			got[aws.ToString(c.ClusterId)] = tags
		}
	}
	for id, worker := range ackedClusters {
		tags, ok := got[id]
		if !ok {
			t.Errorf("acknowledged CreateCluster %s is lost", id)
			continue
		}
		if tags["worker"] != worker {
			t.Errorf("cluster %s: tag worker = %q, want %q", id, tags["worker"], worker)
		}
	}
	for _, a := range ackedTags {
		if v, ok := got[a.cluster][a.key]; !ok || v != a.value {
			t.Errorf("acknowledged TagResource %s %s=%s is lost (found %q, %t)", a.cluster, a.key, a.value, v, ok)
		}
	}
	// Unacknowledged writes may or may not have committed; the clusters that exist are whole.
	for id, tags := range got {
		if tags["worker"] == "" {
			t.Errorf("cluster %s exists without the tags it was created with", id)
		}
	}
	t.Logf("%d clusters and %d tags acknowledged, all found through %s (%d clusters exist)",
		len(ackedClusters), len(ackedTags), reader.name, len(got))
	for id := range ackedClusters { // and the other survivor answers too
		describeCluster(t, procs[2].replica, id)
		break
	}
}
