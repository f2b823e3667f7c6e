// Package apitest holds test doubles of package api's interfaces, for the tests of the packages
// that use them. It must never be imported by non-test code.
package apitest

import (
	"context"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// Empty answers every operation with an empty output and never fails: a service for tests of
// what stands in front of one (decoding, validation, the front door).
type Empty struct{}

func (Empty) CopyBackupToRegion(context.Context, *api.CopyBackupToRegionRequest) (*api.CopyBackupToRegionResponse, error) {
	return &api.CopyBackupToRegionResponse{}, nil
}
func (Empty) CreateCluster(context.Context, *api.CreateClusterRequest) (*api.CreateClusterResponse, error) {
	return &api.CreateClusterResponse{}, nil
}
func (Empty) CreateHsm(context.Context, *api.CreateHsmRequest) (*api.CreateHsmResponse, error) {
	return &api.CreateHsmResponse{}, nil
}
func (Empty) DeleteBackup(context.Context, *api.DeleteBackupRequest) (*api.DeleteBackupResponse, error) {
	return &api.DeleteBackupResponse{}, nil
}
func (Empty) DeleteCluster(context.Context, *api.DeleteClusterRequest) (*api.DeleteClusterResponse, error) {
	return &api.DeleteClusterResponse{}, nil
}
func (Empty) DeleteHsm(context.Context, *api.DeleteHsmRequest) (*api.DeleteHsmResponse, error) {
	return &api.DeleteHsmResponse{}, nil
}
func (Empty) DeleteResourcePolicy(context.Context, *api.DeleteResourcePolicyRequest) (*api.DeleteResourcePolicyResponse, error) {
	return &api.DeleteResourcePolicyResponse{}, nil
}
func (Empty) DescribeBackups(context.Context, *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error) {
	return &api.DescribeBackupsResponse{}, nil
}
func (Empty) DescribeClusters(context.Context, *api.DescribeClustersRequest) (*api.DescribeClustersResponse, error) {
	return &api.DescribeClustersResponse{}, nil
}
func (Empty) GetResourcePolicy(context.Context, *api.GetResourcePolicyRequest) (*api.GetResourcePolicyResponse, error) {
	return &api.GetResourcePolicyResponse{}, nil
}
func (Empty) InitializeCluster(context.Context, *api.InitializeClusterRequest) (*api.InitializeClusterResponse, error) {
	return &api.InitializeClusterResponse{}, nil
}
func (Empty) ListTags(context.Context, *api.ListTagsRequest) (*api.ListTagsResponse, error) {
	return &api.ListTagsResponse{}, nil
}
func (Empty) ModifyBackupAttributes(context.Context, *api.ModifyBackupAttributesRequest) (*api.ModifyBackupAttributesResponse, error) {
	return &api.ModifyBackupAttributesResponse{}, nil
}
func (Empty) ModifyCluster(context.Context, *api.ModifyClusterRequest) (*api.ModifyClusterResponse, error) {
	return &api.ModifyClusterResponse{}, nil
}
func (Empty) PutResourcePolicy(context.Context, *api.PutResourcePolicyRequest) (*api.PutResourcePolicyResponse, error) {
	return &api.PutResourcePolicyResponse{}, nil
}
func (Empty) RestoreBackup(context.Context, *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error) {
	return &api.RestoreBackupResponse{}, nil
}
func (Empty) TagResource(context.Context, *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	return &api.TagResourceResponse{}, nil
}
func (Empty) UntagResource(context.Context, *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return &api.UntagResourceResponse{}, nil
}

var _ api.Service = Empty{}
