package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Outcome is what Claim found.
type Outcome int

const (
	// Acquired: the caller holds the record and acts on it, then calls Done
	// or Fail.
	Acquired Outcome = iota
	// AlreadyDone: the record was acted on before; do nothing.
	AlreadyDone
	// InProgress: another environment holds the record and its deadline
	// has not passed. Retry the record later (a transient failure): if the
	// holder dies, the claim is retaken after its deadline.
	InProgress
)

func (o Outcome) String() string {
	switch o {
	case Acquired:
		return "acquired"
	case AlreadyDone:
		return "already done"
	case InProgress:
		return "in progress"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Claim is the result of claiming a record.
type Claim struct {
	Outcome Outcome
	// Flags are the steps an earlier, failed attempt completed (Fail's
	// flags): the caller skips them ("counted", "alerted").
	Flags []string
}

// Has reports whether an earlier attempt completed flag.
func (c Claim) Has(flag string) bool { return slices.Contains(c.Flags, flag) }

// Record statuses.
const (
	statusClaimed = "claimed"
	statusFailed  = "failed"
	statusDone    = "done"
)

type idemItem struct {
	PK     string   `dynamodbav:"pk"`
	SK     string   `dynamodbav:"sk"`
	Status string   `dynamodbav:"status"`
	Until  int64    `dynamodbav:"until,omitempty"` // claim deadline, Unix ms; done and failed items need none
	Flags  []string `dynamodbav:"flags,stringset,omitempty"`
	TTL    int64    `dynamodbav:"ttl"`
}

func idemPK(k string) string { return "idem#" + k }

// Claim takes record key for an attempt lasting at most hold (the
// function's timeout: after it the holder is presumed dead and the record
// may be retaken). This is the Powertools idempotency pattern: claim, act,
// then Done (or Fail so that a retry may retake it at once).
func (s *Store) Claim(ctx context.Context, k string, now time.Time, hold time.Duration) (Claim, error) {
	if s.db != nil && s.mem.isDone(k) {
		// Done here while the table was down (not written there yet).
		return Claim{Outcome: AlreadyDone}, nil
	}
	if s.db != nil {
		c, err := s.claimDB(ctx, k, now, hold)
		if err == nil {
			// An attempt whose claim and failure were kept in memory
			// during an outage left its completed steps there.
			for _, f := range s.mem.flags(k) {
				if !slices.Contains(c.Flags, f) {
					c.Flags = append(c.Flags, f)
				}
			}
			return c, nil
		}
		s.fellBack(ctx, "claim", k, err)
	}
	return s.mem.claim(k, now, hold), nil
}

func (s *Store) claimDB(ctx context.Context, k string, now time.Time, hold time.Duration) (Claim, error) {
	status, until := expression.Name("status"), expression.Name("until")
	nowV := expression.Value(ms(now))
	cond := expression.AttributeNotExists(expression.Name(AttrPK)).
		Or(status.Equal(expression.Value(statusFailed))).
		Or(status.Equal(expression.Value(statusClaimed)).And(until.LessThanEqual(nowV)))
	upd := expression.Set(status, expression.Value(statusClaimed)).
		Set(until, expression.Value(ms(now.Add(hold)))).
		Set(expression.Name(AttrTTL), expression.Value(s.ttl(now, hold+DefaultKeep)))
	for range 3 {
		var it idemItem
		err := s.update(ctx, idemPK(k), single, upd, &cond, types.ReturnValueAllNew, &it)
		if err == nil {
			return Claim{Outcome: Acquired, Flags: it.Flags}, nil
		}
		if !conditionFailed(err) {
			return Claim{}, err
		}
		// kumo ignores ReturnValuesOnConditionCheckFailure: read it.
		found, err := s.get(ctx, idemPK(k), single, &it)
		if err != nil {
			return Claim{}, err
		}
		switch {
		case !found:
			continue // deleted meanwhile (TTL): try again
		case it.Status == statusDone:
			return Claim{Outcome: AlreadyDone}, nil
		case it.Status == statusClaimed && it.Until > ms(now):
			return Claim{Outcome: InProgress}, nil
		}
		// failed or expired since the condition was checked: try again
	}
	return Claim{Outcome: InProgress}, nil
}

// DefaultKeep is how long a done record is remembered: longer than SQS
// keeps a message (four days by the template) so a late redelivery is
// still recognised.
const DefaultKeep = 5 * 24 * time.Hour

// Done records that key was acted on completely.
func (s *Store) Done(ctx context.Context, k string, now time.Time) {
	if s.db != nil {
		err := s.put(ctx, idemItem{PK: idemPK(k), SK: single, Status: statusDone, TTL: s.ttl(now, DefaultKeep)})
		if err == nil {
			s.mem.forget(k)
			return
		}
		s.fellBack(ctx, "done", k, err)
		s.mem.pendingDone(k)
	}
	s.mem.done(k)
}

// DoneAll records that every key was acted on completely: FinishAll
// with every record done.
func (s *Store) DoneAll(ctx context.Context, keys []string, now time.Time) {
	fs := make([]Finish, len(keys))
	for i, k := range keys {
		fs[i] = Finish{Key: k}
	}
	s.FinishAll(ctx, fs, now)
}

// Fail gives the claim on key up so that a retry may take it at once,
// remembering the steps this attempt completed (flags) so that the retry
// skips them.
func (s *Store) Fail(ctx context.Context, k string, now time.Time, flags ...string) {
	if s.db != nil {
		upd := expression.Set(expression.Name("status"), expression.Value(statusFailed)).
			Set(expression.Name(AttrTTL), expression.Value(s.ttl(now, DefaultKeep)))
		if len(flags) > 0 {
			upd = upd.Add(expression.Name("flags"), expression.Value(&types.AttributeValueMemberSS{Value: flags}))
		}
		err := s.update(ctx, idemPK(k), single, upd, nil, types.ReturnValueNone, nil)
		if err == nil {
			s.mem.forget(k)
			return
		}
		s.fellBack(ctx, "fail", k, err)
		s.mem.pendingFail(k)
	}
	s.mem.fail(k, flags)
}

// drainFails writes the failures kept in memory while the table was down
// (with their completed steps), so that the retry, in whichever
// environment it lands, skips those steps: with transactions of up to 100
// records when the DB has them (after an outage of a storm's size, one
// call per record would flood the table as it recovers).
func (s *Store) drainFails(ctx context.Context, now time.Time) {
	keys := s.mem.takePendingFails()
	if len(keys) == 0 {
		return
	}
	tx, _ := s.db.(TransactDB)
	ttl := s.ttl(now, DefaultKeep)
	item := func(k string) (expression.UpdateBuilder, expression.ConditionBuilder) {
		upd := expression.Set(expression.Name("status"), expression.Value(statusFailed)).
			Set(expression.Name(AttrTTL), expression.Value(ttl))
		if flags := s.mem.flags(k); len(flags) > 0 {
			upd = upd.Add(expression.Name("flags"), expression.Value(&types.AttributeValueMemberSS{Value: flags}))
		}
		// Only over a claim nobody finished meanwhile.
		cond := expression.AttributeNotExists(expression.Name(AttrPK)).Or(expression.Name("status").NotEqual(expression.Value(statusDone)))
		return upd, cond
	}
	for len(keys) > 0 {
		chunk := keys[:min(maxTxItems, len(keys))]
		keys = keys[len(chunk):]
		if tx == nil || len(chunk) == 1 {
			for i, k := range chunk {
				upd, cond := item(k)
				err := s.update(ctx, idemPK(k), single, upd, &cond, types.ReturnValueNone, nil)
				if err != nil && !conditionFailed(err) {
					s.repend(append(chunk[i:], keys...)) // still down: next time
					return
				}
				s.mem.forget(k)
			}
			continue
		}
		for attempt := 0; len(chunk) > 0; attempt++ {
			items := make([]types.TransactWriteItem, 0, len(chunk))
			built := chunk[:0:0]
			for _, k := range chunk {
				upd, cond := item(k)
				it, err := s.txUpdate(idemPK(k), single, upd, &cond)
				if err != nil {
					s.log.ErrorContext(ctx, "state: failure not drained", "key", k, "err", err)
					continue
				}
				items, built = append(items, it), append(built, k)
			}
			chunk = built
			if len(chunk) == 0 {
				break
			}
			err := errSkipped
			if !s.down.Load() && attempt < maxTxAttempts {
				s.calls.Add(1)
				_, err = tx.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			}
			if err == nil {
				for _, k := range chunk {
					s.mem.forget(k)
				}
				break
			}
			var tce *types.TransactionCanceledException
			if !errors.As(err, &tce) || len(tce.CancellationReasons) != len(chunk) {
				s.repend(append(chunk, keys...))
				return
			}
			// Done meanwhile (condition failed): nothing to write. The
			// others go again.
			var next []string
			for i, r := range tce.CancellationReasons {
				if aws.ToString(r.Code) == reasonCondition {
					s.mem.forget(chunk[i])
					continue
				}
				next = append(next, chunk[i])
			}
			chunk = next
		}
	}
}

// repend keeps failures for the next drain.
func (s *Store) repend(keys []string) {
	for _, k := range keys {
		s.mem.pendingFail(k)
	}
}
