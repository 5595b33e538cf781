package facts

import (
	"errors"
	"sync"
	"time"
)

// op is an SES operation this package calls.
type op uint8

const (
	opGetAccount op = iota + 1
	opGetEmailIdentity
)

func (o op) String() string {
	switch o {
	case opGetAccount:
		return "GetAccount"
	case opGetEmailIdentity:
		return "GetEmailIdentity"
	}
	return "unknown"
}

// key names one look-up. identity is empty for GetAccount.
type key struct {
	op       op
	identity string
	region   string
}

// result is the outcome of one look-up.
type result struct {
	account *accountFacts // GetAccount
	status  string        // GetEmailIdentity: VerificationStatus
	absent  bool          // GetEmailIdentity: NotFoundException
	err     error
	// callerGone marks a failure caused by the caller's context ending,
	// which says nothing about SES and must not be cached.
	callerGone bool
}

type accountFacts struct {
	productionAccess  bool
	sendingEnabled    bool
	enforcementStatus string
	suppressedReasons []string
}

// entry is a cached or in-flight look-up. done is closed when res is set;
// res is written before the close and never again, so readers that waited
// on done may read it without the lock.
type entry struct {
	done     chan struct{}
	res      result
	expires  time.Time
	inflight bool
	waiters  int // callers that joined while in flight (for tests)
}

type claimState uint8

const (
	stateHit      claimState = iota + 1 // fresh result in e.res
	stateWait                           // identical look-up in flight: wait on e.done
	stateLead                           // caller must make the call and finish(e)
	stateNoBudget                       // a call was needed but the budget refused
)

// cache is the warm-container cache with in-flight de-duplication (a small
// singleflight: the first caller of a key leads, later ones wait on the
// leader's channel).
type cache struct {
	now    func() time.Time
	ttl    time.Duration
	errTTL time.Duration

	mu      sync.Mutex
	entries map[key]*entry
	sweepAt int
}

const minSweep = 1024

func newCache(now func() time.Time, ttl, errTTL time.Duration) *cache {
	return &cache{now: now, ttl: ttl, errTTL: errTTL, entries: make(map[key]*entry), sweepAt: minSweep}
}

// claim looks k up. On a miss it asks spend whether a call may be made;
// spend runs under the cache lock, so it needs no locking of its own.
func (c *cache) claim(k key, spend func() bool) (*entry, claimState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		if e.inflight {
			e.waiters++
			return e, stateWait
		}
		if c.now().Before(e.expires) {
			return e, stateHit
		}
	}
	if !spend() {
		return nil, stateNoBudget
	}
	if len(c.entries) >= c.sweepAt {
		c.sweepLocked()
	}
	e := &entry{done: make(chan struct{}), inflight: true}
	c.entries[k] = e
	return e, stateLead
}

// finish stores the leader's result and releases the waiters. A result
// caused by the caller's own context ending is handed to the waiters but
// not cached: it says nothing about SES.
func (c *cache) finish(k key, e *entry, res result) {
	c.mu.Lock()
	e.res = res
	e.inflight = false
	switch {
	case res.callerGone:
		if c.entries[k] == e {
			delete(c.entries, k)
		}
	case res.err != nil && !errors.Is(res.err, ErrUnsupported):
		e.expires = c.now().Add(c.errTTL)
	default:
		// Successes, "does not exist" and "not supported by this
		// endpoint" all hold for the full TTL.
		e.expires = c.now().Add(c.ttl)
	}
	c.mu.Unlock()
	close(e.done)
}

// sweepLocked drops expired entries so a long-lived container's cache
// stays the size of its working set.
func (c *cache) sweepLocked() {
	now := c.now()
	for k, e := range c.entries {
		if !e.inflight && !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.sweepAt = max(minSweep, 2*len(c.entries))
}
