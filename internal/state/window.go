package state

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Storm windows. Per alert key (rule, identity, Region), as
// alert.Aggregator does in one environment, but across all of them:
//   - the first occurrence opens a window and is announced, by exactly
//     one environment (the one whose conditional write opened it);
//   - the rest inside the window are counted into it (ADD), with the
//     latest alert kept;
//   - when the window has closed, exactly one environment announces the
//     count: the one whose next occurrence reopens it (carrying the count),
//     or the one whose flush takes the count, whichever comes first.
//
// Callers pre-aggregate: Offer takes all of an invocation's occurrences of
// a key at once, so a hot key costs one write per invocation.

// windowPK is the one partition of every window, so a flush finds them all
// with one Query.
const windowPK = "win"

type winItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	Opened int64  `dynamodbav:"opened"` // Unix ms; 0: closed
	// Gen identifies one opening of the window (two environments may
	// open it in the same millisecond, one after the other's reopen).
	Gen       int64  `dynamodbav:"gen"`
	Held      int64  `dynamodbav:"held"`
	FirstHeld int64  `dynamodbav:"firstHeld,omitempty"`
	Latest    []byte `dynamodbav:"latest,omitempty"` // the latest held-back alert, as the caller encoded it (AlertWindows: encodeBody)
	// LastAt (Unix ms) is when the latest occurrence counted with a
	// batch's claims happened (Precount): such a count does not rewrite
	// Latest when it carries the same alert, so Latest's own time may be
	// older.
	LastAt int64 `dynamodbav:"lastAt,omitempty"`
	TTL    int64 `dynamodbav:"ttl"`
}

// Offer is one invocation's occurrences of one key.
type Offer struct {
	Key    string
	N      int       // occurrences, ≥ 1
	Latest []byte    // the latest occurrence, kept for the summary
	Now    time.Time // the invocation's clock
	Window time.Duration
}

// Opened says the caller's offer opened a window: announce its N
// occurrences now, plus Carried (held back in the previous, closed window,
// since Since); nothing is held in the new window yet. Call Reopen if the
// announcement could not be delivered.
type Opened struct {
	Carried  int
	Since    time.Time
	openedAt int64
	gen      int64
	// carriedFirst is the previous window's first held-back time (Unix ms),
	// restored by Reopen.
	carriedFirst int64
	n            int
	// reheld are occurrences Reopen holds besides Carried: those counted
	// in memory earlier in the invocation, whose records are not retried.
	reheld   int
	inMemory bool
}

// Offer counts an invocation's occurrences of a key. It returns a non-nil
// Opened when the caller must announce; nil when they were counted into an
// open window.
func (s *Store) Offer(ctx context.Context, o Offer) *Opened {
	if o.N < 1 {
		return nil
	}
	if s.db != nil {
		op, err := s.offerDB(ctx, o)
		if err == nil {
			return op
		}
		s.fellBack(ctx, "window offer", o.Key, err)
	}
	return s.mem.offer(o)
}

func (s *Store) offerDB(ctx context.Context, o Offer) (*Opened, error) {
	now := ms(o.Now)
	cutoff := ms(o.Now.Add(-o.Window))
	s.mu.Lock()
	known, ok := s.opened[o.Key]
	s.mu.Unlock()
	if ok && known.at > cutoff {
		err := s.addHeld(ctx, o, expression.Name("opened").GreaterThan(expression.Value(cutoff)))
		if err == nil {
			return nil, nil
		}
		if !conditionFailed(err) {
			return nil, err
		}
	}
	for range 4 {
		opened, err := s.openWindow(ctx, o, now, cutoff)
		if err == nil {
			s.remember(o.Key, openInfo{at: now, own: true})
			return opened, nil
		}
		if !conditionFailed(err) {
			return nil, err
		}
		// Open elsewhere: count into it, while it stays open.
		var it winItem
		err = s.addHeldReturning(ctx, o, expression.Name("opened").GreaterThan(expression.Value(cutoff)), &it)
		if err == nil {
			s.remember(o.Key, openInfo{at: it.Opened})
			return nil, nil
		}
		if !conditionFailed(err) {
			return nil, err
		}
		// It closed between the two writes: open it.
	}
	return nil, errors.New("state: window contended past four attempts")
}

// openInfo is a window this environment knows open: opened at at (Unix
// ms), by this environment (own: it takes the held-back count when the
// window closes, flushKnown) or another.
type openInfo struct {
	at  int64
	own bool
}

// sawOpen records that k's window was open at now (a count written on
// that condition), when nothing better is known: its opening time is not
// known, so at is now, which keeps it known open for up to a window
// longer than it is. What this knowledge decides tolerates that: an
// occurrence counted as held while the table answers is written on the
// same condition (and offered anew if it fails), and while the table is
// down it is held in memory until the table answers, not announced as
// the first of a new window by every environment.
func (s *Store) sawOpen(k string, now time.Time, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.opened[k]; ok && o.at > ms(now.Add(-window)) {
		return
	}
	if len(s.opened) >= maxMemoryKeys {
		clear(s.opened)
	}
	s.opened[k] = openInfo{at: ms(now)}
}

func (s *Store) remember(k string, opened openInfo) {
	s.mu.Lock()
	if len(s.opened) >= maxMemoryKeys {
		clear(s.opened)
	}
	s.opened[k] = opened
	s.mu.Unlock()
}

// windowTTL is the TTL of a window opened at now: it is read until the
// window has closed (now+window) and its count taken, with a margin.
func (s *Store) windowTTL(now time.Time, window time.Duration) int64 {
	return s.ttl(now, 2*window+time.Hour)
}

// openWindow opens a new window if there is none or it has closed, taking
// the previous window's held-back count.
func (s *Store) openWindow(ctx context.Context, o Offer, now, cutoff int64) (*Opened, error) {
	opened := expression.Name("opened")
	cond := expression.AttributeNotExists(expression.Name(AttrPK)).Or(opened.LessThanEqual(expression.Value(cutoff)))
	gen := rand.Int64()
	upd := expression.Set(opened, expression.Value(now)).
		Set(expression.Name("gen"), expression.Value(gen)).
		Set(expression.Name("held"), expression.Value(0)).
		Set(expression.Name(AttrTTL), expression.Value(s.windowTTL(o.Now, o.Window))).
		Remove(expression.Name("firstHeld"))
	var old winItem
	if err := s.update(ctx, windowPK, o.Key, upd, &cond, types.ReturnValueAllOld, &old); err != nil {
		return nil, err
	}
	op := &Opened{openedAt: now, gen: gen, n: o.N}
	if old.Held > 0 {
		op.Carried, op.Since, op.carriedFirst = int(old.Held), fromMS(old.FirstHeld), old.FirstHeld
	}
	return op, nil
}

func (s *Store) addHeld(ctx context.Context, o Offer, cond expression.ConditionBuilder) error {
	return s.addHeldReturning(ctx, o, cond, nil)
}

// heldUpdate counts n occurrences into a window: its first held-back time
// is first unless one is held already, and latest (nil: left as it is) is
// the body summaries are made from.
func heldUpdate(n int, first int64, latest []byte) expression.UpdateBuilder {
	firstHeld := expression.Name("firstHeld")
	upd := expression.Add(expression.Name("held"), expression.Value(n)).
		Set(firstHeld, expression.IfNotExists(firstHeld, expression.Value(first)))
	if latest != nil {
		upd = upd.Set(expression.Name("latest"), expression.Value(latest))
	}
	return upd
}

// addHeldReturning counts o into the window if cond holds; out (if not
// nil) receives the window after the write.
func (s *Store) addHeldReturning(ctx context.Context, o Offer, cond expression.ConditionBuilder, out *winItem) error {
	upd := heldUpdate(o.N, ms(o.Now), o.Latest)
	rv := types.ReturnValueNone
	var dst any
	if out != nil {
		rv, dst = types.ReturnValueAllNew, out
	}
	return s.update(ctx, windowPK, o.Key, upd, &cond, rv, dst)
}

// Reopen undoes an Opened whose announcement failed: the window counts as
// closed again and holds the carried count (the caller's own occurrences
// come back with its retried records and are offered again), so the retry
// announces what was not delivered.
func (s *Store) Reopen(ctx context.Context, k string, op *Opened, now time.Time) {
	if op == nil {
		return
	}
	if s.db != nil && !op.inMemory {
		opened := expression.Name("opened")
		cond := expression.Name("gen").Equal(expression.Value(op.gen))
		upd := expression.Set(opened, expression.Value(0)).
			Add(expression.Name("held"), expression.Value(op.Carried+op.reheld))
		if op.carriedFirst != 0 {
			upd = upd.Set(expression.Name("firstHeld"), expression.Value(op.carriedFirst))
		}
		err := s.update(ctx, windowPK, k, upd, &cond, types.ReturnValueNone, nil)
		if err == nil || conditionFailed(err) {
			s.mu.Lock()
			delete(s.opened, k)
			s.mu.Unlock()
			return
		}
		s.fellBack(ctx, "window reopen", k, err)
	}
	s.mem.reopen(k, op)
}

// Summary is a held-back count to announce.
type Summary struct {
	Key    string
	Count  int
	Since  time.Time
	Latest []byte
	// LastAt is the time of the latest occurrence counted without its
	// body (winItem.LastAt); zero if none. The announced time is the
	// later of it and Latest's.
	LastAt   time.Time
	taken    winItem
	inMemory bool
}

// Flush takes the held-back count of every window that has closed by now
// (every window, open ones included, when all is set) and returns them to
// announce; each count is taken by exactly one caller. Call GiveBack for a
// summary that could not be delivered.
func (s *Store) Flush(ctx context.Context, now time.Time, window time.Duration, all bool) []Summary {
	out := s.mem.flush(now, window, all)
	if s.db == nil {
		return out
	}
	items, err := s.windows(ctx)
	if err != nil {
		s.fellBack(ctx, "window flush", "", err)
		return out
	}
	cutoff := ms(now.Add(-window))
	for _, it := range items {
		if it.Held <= 0 || (!all && it.Opened > cutoff) {
			continue
		}
		if sm, ok := s.take(ctx, it.SK, cutoff, all); ok {
			out = append(out, sm)
		}
	}
	return out
}

// windows reads the window partition.
func (s *Store) windows(ctx context.Context) ([]winItem, error) {
	kc := expression.Key(AttrPK).Equal(expression.Value(windowPK))
	e, err := expression.NewBuilder().WithKeyCondition(kc).Build()
	if err != nil {
		return nil, err
	}
	if s.down.Load() {
		return nil, errSkipped
	}
	var out []winItem
	var start map[string]types.AttributeValue
	for {
		s.calls.Add(1)
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    e.KeyCondition(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, err
		}
		var page []winItem
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// GiveBack returns a summary's count to its window after the announcement
// failed, so that a later flush or occurrence announces it.
func (s *Store) GiveBack(ctx context.Context, sm Summary) {
	if s.db != nil && !sm.inMemory {
		first := expression.Name("firstHeld")
		upd := expression.Add(expression.Name("held"), expression.Value(sm.Count))
		if sm.taken.FirstHeld != 0 {
			upd = upd.Set(first, expression.Value(sm.taken.FirstHeld))
		}
		err := s.update(ctx, windowPK, sm.Key, upd, nil, types.ReturnValueNone, nil)
		if err == nil {
			return
		}
		s.fellBack(ctx, "window give back", sm.Key, err)
	}
	s.mem.giveBack(sm)
}
