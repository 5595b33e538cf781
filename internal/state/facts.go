package state

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Shared facts cache: account facts (GetAccount, GetEmailIdentity answers)
// looked up by one environment serve all of them for a short TTL, so a
// storm costs at most one look-up per Region per TTL for the whole stack
// instead of one per environment.

type factItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Data    []byte `dynamodbav:"data"`
	Expires int64  `dynamodbav:"expires"` // Unix ms, by the caller's clock
	TTL     int64  `dynamodbav:"ttl"`
}

func factPK(k string) string { return "facts#" + k }

// RefreshLease is how long an environment refreshing an expired fact
// holds the refresh: the others serve the stale value meanwhile instead of
// all calling SES at once when the TTL runs out.
const RefreshLease = 10 * time.Second

// Fact returns the cached value of k if it has not expired by now. An
// expired value is returned too while another environment refreshes it;
// ok false tells the caller to look it up (and PutFact the answer): there
// is no value, or the caller now holds the refresh.
func (s *Store) Fact(ctx context.Context, k string, now time.Time) ([]byte, bool) {
	if s.db == nil {
		return s.mem.fact(k, now)
	}
	wait := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		v, state, err := s.factDB(ctx, k, now)
		switch {
		case err != nil:
			s.fellBack(ctx, "fact read", k, err)
			return s.mem.fact(k, now)
		case state == factFresh || state == factStale:
			return v, true
		case state == factOurs:
			return nil, false
		}
		// Nothing cached and another environment is looking it up: wait
		// for its answer a little (wall clock: it is a real call) rather
		// than all calling SES at once; then look it up anyway.
		if attempt == 4 {
			return nil, false
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(wait):
		}
		wait *= 2
	}
}

type factState int

const (
	factFresh   factState = iota // cached and fresh
	factStale                    // expired, another environment refreshes it
	factOurs                     // the caller holds the refresh
	factPending                  // nothing cached, another environment looks it up
)

// factDB reads k and, when it is missing or expired, claims its refresh.
func (s *Store) factDB(ctx context.Context, k string, now time.Time) ([]byte, factState, error) {
	var it factItem
	found, err := s.get(ctx, factPK(k), single, &it)
	if err != nil {
		return nil, 0, err
	}
	if found && it.Expires > ms(now) && len(it.Data) > 0 {
		return it.Data, factFresh, nil
	}
	refresh := expression.Name("refresh")
	cond := expression.AttributeNotExists(refresh).Or(refresh.LessThanEqual(expression.Value(ms(now))))
	upd := expression.Set(refresh, expression.Value(ms(now.Add(RefreshLease)))).
		Set(expression.Name(AttrTTL), expression.Value(s.ttl(now, time.Hour)))
	err = s.update(ctx, factPK(k), single, upd, &cond, types.ReturnValueNone, nil)
	switch {
	case err == nil:
		return nil, factOurs, nil
	case !conditionFailed(err):
		return nil, 0, err
	case len(it.Data) > 0:
		return it.Data, factStale, nil
	}
	return nil, factPending, nil
}

// PutFact caches v under k until now+ttl.
func (s *Store) PutFact(ctx context.Context, k string, v []byte, now time.Time, ttl time.Duration) {
	if s.db != nil {
		err := s.put(ctx, factItem{PK: factPK(k), SK: single, Data: v, Expires: ms(now.Add(ttl)), TTL: s.ttl(now, ttl)})
		if err == nil {
			return
		}
		s.fellBack(ctx, "fact write", k, err)
	}
	s.mem.putFact(k, v, now.Add(ttl))
}
