package http

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metropolis/csc/projections"
)

// TestAsOfCache: concurrent requests for one past moment share one build; past moments are kept up
// to asOfCacheSize, the oldest dropped first; moments not in the past and failed builds are not kept.
func TestAsOfCache(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	var c asOfCache
	var builds atomic.Int64
	release := make(chan struct{})
	build := func(context.Context) (*projections.Models, error) {
		builds.Add(1)
		<-release
		return &projections.Models{}, nil
	}
	past := now.Add(-time.Hour)
	var wg sync.WaitGroup
	results := make([]*projections.Models, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.get(context.Background(), past, now, build)
			if err != nil {
				t.Error(err)
			}
			results[i] = m
		}()
	}
	close(release)
	wg.Wait()
	if builds.Load() != 1 {
		t.Errorf("%d builds for one moment, want 1", builds.Load())
	}
	for _, m := range results {
		if m != results[0] {
			t.Error("callers got different models for one moment")
		}
	}

	count := func(at time.Time) int64 {
		before := builds.Load()
		if _, err := c.get(context.Background(), at, now, build); err != nil {
			t.Fatal(err)
		}
		return builds.Load() - before
	}
	if n := count(now.Add(time.Minute)); n != 1 || count(now.Add(time.Minute)) != 1 {
		t.Error("a future moment was cached")
	}
	for i := range asOfCacheSize {
		count(past.Add(-time.Duration(i+1) * time.Minute))
	}
	if count(past) != 1 {
		t.Error("the oldest moment was not dropped when the cache was full")
	}
	if count(past.Add(-time.Duration(asOfCacheSize)*time.Minute)) != 0 {
		t.Error("a recent moment was dropped")
	}

	fail := func(context.Context) (*projections.Models, error) { builds.Add(1); return nil, errors.New("boom") }
	bad := now.Add(-48 * time.Hour)
	for range 2 {
		if _, err := c.get(context.Background(), bad, now, fail); err == nil {
			t.Error("a failed build gave no error")
		}
	}
	if count(bad) != 1 {
		t.Error("a failed build was cached")
	}
}
