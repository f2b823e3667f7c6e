package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
)

// Servers on one store accept each other's NextTokens, also after a reset and whether they
// started before or after it: each reads the pagination key once, when it starts, and Reset
// keeps that key.
func TestReplicasShareNextTokensAcrossReset(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	first, _ := startServer(t, dsn, start)
	second, _ := startServer(t, dsn, start)
	mustCreateCluster(t, first.defaultClient(), nil)
	mustCreateCluster(t, first.defaultClient(), nil)
	continuePage(t, "before the reset", first, second)

	first.adminCall(http.MethodPost, "reset", nil, nil)
	third, _ := startServer(t, dsn, start)
	mustCreateCluster(t, first.defaultClient(), nil)
	mustCreateCluster(t, first.defaultClient(), nil)
	continuePage(t, "after the reset, from a server started before it", first, third)
	continuePage(t, "after the reset, from a server started after it", third, second)
}

// continuePage gets the first page of one cluster from one server and the second page from
// another, with the first page's NextToken.
func continuePage(t *testing.T, what string, from, to *env) {
	t.Helper()
	ctx := context.Background()
	page, err := from.defaultClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1)})
	if err != nil || len(page.Clusters) != 1 || page.NextToken == nil {
		t.Fatalf("%s: first page: %+v, %v", what, page, err)
	}
	rest, err := to.defaultClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1), NextToken: page.NextToken})
	if err != nil {
		t.Fatalf("%s: the other server refused the NextToken: %v", what, err)
	}
	if len(rest.Clusters) != 1 || aws.ToString(rest.Clusters[0].ClusterId) == aws.ToString(page.Clusters[0].ClusterId) {
		t.Fatalf("%s: second page %+v does not follow the first %+v", what, rest.Clusters, page.Clusters)
	}
}
