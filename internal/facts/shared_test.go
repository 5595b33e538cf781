package facts

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
)

// mapCache is a SharedCache in a map, standing in for the state table.
type mapCache struct {
	mu sync.Mutex
	m  map[string][]byte
	to map[string]time.Time
}

func (c *mapCache) Fact(_ context.Context, k string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], c.m[k] != nil && now.Before(c.to[k])
}

func (c *mapCache) PutFact(_ context.Context, k string, v []byte, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k], c.to[k] = v, now.Add(ttl)
}

// TestSharedCacheServesOtherEnvironments: fifty Gatherers (environments)
// sharing one cache make one GetAccount per Region per TTL between them.
func TestSharedCacheServesOtherEnvironments(t *testing.T) {
	shared := &mapCache{m: map[string][]byte{}, to: map[string]time.Time{}}
	calls := newCounter()
	clock := newClock()
	api := fakeAPI{GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) { return sandboxAccount(), nil }}
	for range 50 {
		g := NewGatherer(Config{Clients: calls.wrap(func(string) API { return api }), CandidateRegions: []string{},
			Now: clock.Now, Shared: shared})
		f := g.GatherRegions(context.Background(), "us-east-1", []string{}, nil)
		if rf := f.Regions["us-east-1"]; rf.ProductionAccess == nil || *rf.ProductionAccess {
			t.Fatalf("facts %+v, want the sandbox account", rf)
		}
	}
	if n := calls.total(); n != 1 {
		t.Fatalf("%d GetAccount calls for 50 environments, want 1", n)
	}
	clock.Add(DefaultTTL)
	g := NewGatherer(Config{Clients: calls.wrap(func(string) API { return api }), CandidateRegions: []string{}, Now: clock.Now, Shared: shared})
	g.GatherRegions(context.Background(), "us-east-1", []string{}, nil)
	if n := calls.total(); n != 2 {
		t.Fatalf("%d calls after the TTL, want 2", n)
	}
}

func TestAccountLookupFailed(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded"}
	unsupported := &smithy.GenericAPIError{Code: "UnknownOperationException"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"throttled", throttled, true},
		{"server error", errors.New("connection reset"), true},
		{"unsupported", unsupported, false},
		{"answered", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fakeAPI{GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				return sandboxAccount(), nil
			}}
			g := NewGatherer(Config{Clients: func(string) API { return api }, CandidateRegions: []string{}})
			f := g.GatherRegions(context.Background(), "us-east-1", []string{}, nil)
			if got := AccountLookupFailed(f.Regions["us-east-1"]); got != tc.want {
				t.Errorf("AccountLookupFailed = %v, want %v (errors %v)", got, tc.want, f.Regions["us-east-1"].Errors)
			}
		})
	}
}
