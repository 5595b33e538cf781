package facts

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
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

// batchCache is a mapCache that also reads many answers with one call
// (SharedBatchReader), and counts the calls of each kind.
type batchCache struct {
	mapCache
	batches, singles int
	keys             []string // asked of the last batch
}

func (c *batchCache) Facts(_ context.Context, keys []string, now time.Time) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	c.keys = keys
	out := map[string][]byte{}
	for _, k := range keys {
		if c.m[k] != nil && now.Before(c.to[k]) {
			out[k] = c.m[k]
		}
	}
	return out
}

func (c *batchCache) Fact(ctx context.Context, k string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	c.singles++
	c.mu.Unlock()
	return c.mapCache.Fact(ctx, k, now)
}

// TestSharedBatchRead: a cold environment asks the shared cache for all
// the look-ups of a gathering with one call; what it holds is not asked
// of SES, nor of the cache again one by one; what it lacks is.
func TestSharedBatchRead(t *testing.T) {
	shared := &batchCache{mapCache: mapCache{m: map[string][]byte{}, to: map[string]time.Time{}}}
	calls := newCounter()
	clock := newClock()
	api := fakeAPI{GetAccountFn: func(context.Context) (*sesv2.GetAccountOutput, error) { return sandboxAccount(), nil },
		GetEmailIdentityFn: func(context.Context, string) (*sesv2.GetEmailIdentityOutput, error) {
			return &sesv2.GetEmailIdentityOutput{VerificationStatus: types.VerificationStatusSuccess}, nil
		}}
	gatherer := func() *Gatherer {
		return NewGatherer(Config{Clients: calls.wrap(func(string) API { return api }), CandidateRegions: []string{"eu-west-1"},
			Now: clock.Now, Shared: shared})
	}
	ids := []string{"noreply@yourapp.com"}
	// The first environment finds nothing: one batch read, then each
	// look-up asked of the cache (its refresh lease) and of SES.
	gatherer().GatherRegions(context.Background(), "us-east-1", []string{"eu-west-1"}, ids)
	looked := calls.total()
	if shared.batches != 1 || looked == 0 || shared.singles != looked {
		t.Fatalf("cold cache: %d batch reads, %d single reads, %d SES calls; want 1 batch, one single read per SES call", shared.batches, shared.singles, looked)
	}
	if len(shared.keys) != looked {
		t.Errorf("the batch asked %d keys, want the %d look-ups", len(shared.keys), looked)
	}
	// A second environment learns everything with one call.
	shared.batches, shared.singles = 0, 0
	f := gatherer().GatherRegions(context.Background(), "us-east-1", []string{"eu-west-1"}, ids)
	if shared.batches != 1 || shared.singles != 0 || calls.total() != looked {
		t.Fatalf("warm cache: %d batch reads, %d single reads, %d SES calls (was %d); want 1, 0, no new call", shared.batches, shared.singles, calls.total(), looked)
	}
	if rf := f.Regions["eu-west-1"]; rf == nil || rf.ProductionAccess == nil || *rf.ProductionAccess {
		t.Fatalf("eu-west-1 facts %+v, want the sandbox account from the shared cache", rf)
	}
	// Past the TTL the cached answers are not fresh: asked again.
	clock.Add(DefaultTTL)
	gatherer().GatherRegions(context.Background(), "us-east-1", []string{"eu-west-1"}, ids)
	if calls.total() != 2*looked {
		t.Fatalf("%d SES calls after the TTL, want %d", calls.total(), 2*looked)
	}
}
