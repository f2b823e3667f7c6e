package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// maxTagsPerResource is CloudHSM's limit of tags on one cluster or backup.
const maxTagsPerResource = 50

// reservedTagPrefix starts the keys that only AWS may use.
const reservedTagPrefix = "aws:"

// checkTags rejects reserved keys and returns the tags for the store, the last value winning
// for a key given twice.
func checkTags(tags []api.Tag) ([]store.Tag, error) {
	byKey := map[string]int{}
	var out []store.Tag
	for _, t := range fromAPITags(tags) {
		if strings.HasPrefix(strings.ToLower(t.Key), reservedTagPrefix) {
			return nil, api.Errorf(api.CodeTag, "Tag key %q is not allowed: keys starting with %q are reserved for AWS.", t.Key, reservedTagPrefix)
		}
		if i, ok := byKey[t.Key]; ok {
			out[i] = t
			continue
		}
		byKey[t.Key] = len(out)
		out = append(out, t)
	}
	return out, nil
}

// taggable checks that a cluster or backup ID names a resource of the caller.
func taggable(tx store.Tx, who identity.Caller, id string) error {
	var err error
	if strings.HasPrefix(id, "cluster-") {
		_, err = ownedCluster(tx, who, id)
	} else {
		_, err = ownedBackup(tx, who, id)
	}
	return err
}

// TagResource adds or replaces tags on a cluster or backup, up to 50 per resource.
func (s *Service) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	return authorized(ctx, s, in, s.tagResource)
}

func (s *Service) tagResource(ctx context.Context, who identity.Caller, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	tags, err := checkTags(in.TagList)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		id := *in.ResourceId
		if err := taggable(tx, who, id); err != nil {
			return err
		}
		existing, err := tx.Tags(id)
		if err != nil {
			return fmt.Errorf("tags of %s: %w", id, err)
		}
		keys := map[string]bool{}
		for _, t := range existing[id] {
			keys[t.Key] = true
		}
		for _, t := range tags {
			keys[t.Key] = true
		}
		if len(keys) > maxTagsPerResource {
			return api.Errorf(api.CodeResourceLimitExceeded, "Resource %s would have %d tags; at most %d tags are allowed per resource.", id, len(keys), maxTagsPerResource)
		}
		if err := tx.PutTags(id, tags); err != nil {
			return fmt.Errorf("tag %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.TagResourceResponse{}, nil
}

// UntagResource removes tag keys from a cluster or backup; absent keys are ignored.
func (s *Service) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return authorized(ctx, s, in, s.untagResource)
}

func (s *Service) untagResource(ctx context.Context, who identity.Caller, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	for _, k := range in.TagKeyList {
		if strings.HasPrefix(strings.ToLower(k), reservedTagPrefix) {
			return nil, api.Errorf(api.CodeTag, "Tag key %q cannot be removed: keys starting with %q are reserved for AWS.", k, reservedTagPrefix)
		}
	}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		id := *in.ResourceId
		if err := taggable(tx, who, id); err != nil {
			return err
		}
		if err := tx.DeleteTags(id, in.TagKeyList); err != nil {
			return fmt.Errorf("untag %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.UntagResourceResponse{}, nil
}

// ListTags lists a cluster's or backup's tags by key, paginated (MaxResults 1–100, default 100).
func (s *Service) ListTags(ctx context.Context, in *api.ListTagsRequest) (*api.ListTagsResponse, error) {
	return authorized(ctx, s, in, s.listTags)
}

func (s *Service) listTags(ctx context.Context, who identity.Caller, in *api.ListTagsRequest) (*api.ListTagsResponse, error) {
	limit := 100
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	id := *in.ResourceId
	p, err := s.pager("ListTags", who.Account, who.Region, id)
	if err != nil {
		return nil, err
	}
	out := &api.ListTagsResponse{TagList: []api.Tag{}}
	err = s.read(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		if err := taggable(tx, who, id); err != nil {
			return err
		}
		after, err := p.cursor(in.NextToken)
		if err != nil {
			return err
		}
		all, err := tx.Tags(id)
		if err != nil {
			return fmt.Errorf("tags of %s: %w", id, err)
		}
		tags := all[id]
		if after != nil {
			i := 0
			for i < len(tags) && tags[i].Key <= after.ID {
				i++
			}
			tags = tags[i:]
		}
		if len(tags) > limit {
			tags = tags[:limit]
			out.NextToken = ptr(p.token(store.Cursor{ID: tags[limit-1].Key}))
		}
		out.TagList = toAPITags(tags)
		return nil
	})
	return out, err
}
