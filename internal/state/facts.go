package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// BatchGetDB is the optional part of DB that Facts uses; *dynamodb.Client
// has it. A DB without it (a test's fake) gets nothing from Facts: the
// caller then reads each fact with Fact.
type BatchGetDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// maxBatchGet is DynamoDB's limit of keys in one BatchGetItem call.
const maxBatchGet = 100

// Facts returns the values of keys that are cached and fresh at now, read
// with one strongly consistent BatchGetItem per 100 keys: a cold
// environment learns every fact a failure needs (the account and each
// identity, per Region) with one call instead of one per fact. A key left
// out (missing, expired, unprocessed by DynamoDB) is for Fact, which
// knows the refresh lease. DynamoDB failing answers from memory, counted
// as a fallback, as Fact does.
func (s *Store) Facts(ctx context.Context, keys []string, now time.Time) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	fromMemory := func() map[string][]byte {
		for _, k := range keys {
			if v, ok := s.mem.fact(k, now); ok {
				out[k] = v
			}
		}
		return out
	}
	if s.db == nil {
		return fromMemory()
	}
	bg, ok := s.db.(BatchGetDB)
	if !ok || s.down.Load() {
		return out
	}
	for chunk := range slices.Chunk(slices.Compact(slices.Sorted(slices.Values(keys))), maxBatchGet) {
		ks := make([]map[string]types.AttributeValue, len(chunk))
		for i, k := range chunk {
			ks[i] = key(factPK(k), single)
		}
		s.calls.Add(1)
		res, err := bg.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.table: {Keys: ks, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			s.fellBack(ctx, "fact read", fmt.Sprintf("%d facts", len(chunk)), err)
			return fromMemory()
		}
		for _, item := range res.Responses[s.table] {
			var it factItem
			if attributevalue.UnmarshalMap(item, &it) != nil || len(it.Data) == 0 || it.Expires <= ms(now) {
				continue
			}
			if k, ok := strings.CutPrefix(it.PK, factPK("")); ok {
				out[k] = it.Data
			}
		}
	}
	return out
}
