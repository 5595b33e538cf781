package state

import (
	"context"
	"time"
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

// Fact returns the cached value of k if it has not expired by now.
func (s *Store) Fact(ctx context.Context, k string, now time.Time) ([]byte, bool) {
	if s.db != nil {
		var it factItem
		found, err := s.get(ctx, factPK(k), single, &it)
		if err == nil {
			return it.Data, found && it.Expires > ms(now)
		}
		s.fellBack(ctx, "fact read", k, err)
	}
	return s.mem.fact(k, now)
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
