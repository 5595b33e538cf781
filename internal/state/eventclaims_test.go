package state_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sesguard/sesguard/internal/state"
)

// eventDB passes EventClaims' calls to kumo, counting them and the IAM
// actions they need, and injects faults: fail (throttled), noReasons (a
// cancelled transaction without its reasons), conflicts (the next n
// transactions cancelled for a conflict on their first item, as DynamoDB
// does when another transaction writes it at the same moment).
type eventDB struct {
	*checkedDB
	calls     atomic.Int64
	fail      atomic.Bool
	noReasons atomic.Bool
	conflicts atomic.Int64

	mu      sync.Mutex
	actions map[string]bool
}

func newEventDB(t *testing.T) (*eventDB, string) {
	db, name := table(t)
	return &eventDB{checkedDB: db, actions: map[string]bool{}}, name
}

func (e *eventDB) used(a string) {
	e.mu.Lock()
	e.actions[a] = true
	e.mu.Unlock()
}

func (e *eventDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	e.calls.Add(1)
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			e.used("dynamodb:PutItem")
			e.check(it.Put.ExpressionAttributeNames)
		case it.Delete != nil:
			e.used("dynamodb:DeleteItem")
			e.check(it.Delete.ExpressionAttributeNames)
		default:
			e.used("other")
		}
	}
	if e.fail.Load() {
		return nil, errThrottled
	}
	if e.conflicts.Load() > 0 && e.conflicts.Add(-1) >= 0 {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[0].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("conflict"), CancellationReasons: reasons}
	}
	out, err := e.db.TransactWriteItems(ctx, in, o...)
	var tc *types.TransactionCanceledException
	if e.noReasons.Load() && errors.As(err, &tc) {
		tc.CancellationReasons = nil
	}
	return out, err
}

func (e *eventDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	e.calls.Add(1)
	e.used("dynamodb:PutItem")
	if e.fail.Load() {
		return nil, errThrottled
	}
	return e.checkedDB.PutItem(ctx, in, o...)
}

func (e *eventDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	e.calls.Add(1)
	e.used("dynamodb:DeleteItem")
	if e.fail.Load() {
		return nil, errThrottled
	}
	e.check(in.ExpressionAttributeNames)
	return e.db.DeleteItem(ctx, in, o...)
}

// eventEnvs returns n environments' EventClaims over one table.
func eventEnvs(t *testing.T, db *eventDB, name string, n int) ([]*state.EventClaims, []*state.Store) {
	stores := environments(t, db.checkedDB, name, n)
	out := make([]*state.EventClaims, n)
	for i, s := range stores {
		out[i] = state.NewEventClaims(s, db)
	}
	return out, stores
}

func eventKeys(prefix string, from, to int) []string {
	var ks []string
	for i := from; i < to; i++ {
		ks = append(ks, state.EventKey(fmt.Sprintf("%s-%04d", prefix, i), fmt.Sprintf("user%d@example.net", i), "Send"))
	}
	return ks
}

func freshCount(c *state.Claimed) int {
	n := 0
	for _, f := range c.Fresh {
		if f {
			n++
		}
	}
	return n
}

// TestEventClaimsOnceAcrossEnvironments: eight environments claim
// overlapping batches of the same 1,000 events at once (every event in
// three batches); each event is counted by exactly one, and a batch costs
// one TransactWriteItems per 100 keys when all are new or all claimed, two
// when they are mixed.
func TestEventClaimsOnceAcrossEnvironments(t *testing.T) {
	db, name := newEventDB(t)
	envs, stores := eventEnvs(t, db, name, 8)
	ctx := context.Background()

	// Calls per batch, one environment at a time first.
	for _, tc := range []struct {
		name      string
		keys      []string
		fresh     int
		wantCalls int64
	}{
		{"100 new", eventKeys("a", 0, 100), 100, 1},
		{"the same 100 again, elsewhere", eventKeys("a", 0, 100), 0, 1},
		{"50 claimed and 50 new", eventKeys("a", 50, 150), 50, 2},
		{"250 new: three chunks", eventKeys("b", 0, 250), 250, 3},
		{"a key twice in one batch", append(eventKeys("c", 0, 1), eventKeys("c", 0, 1)...), 1, 1},
	} {
		before := db.calls.Load()
		cl := envs[1].Claim(ctx, tc.keys, t0)
		if got := freshCount(cl); got != tc.fresh {
			t.Errorf("%s: %d counted here, want %d", tc.name, got, tc.fresh)
		}
		if got := db.calls.Load() - before; got != tc.wantCalls {
			t.Errorf("%s: %d DynamoDB calls, want %d", tc.name, got, tc.wantCalls)
		}
	}

	// Concurrently: batch j holds events [j*100, j*100+300) mod 1000, to
	// environment j mod 8.
	const events, batches = 1000, 10
	all := eventKeys("storm", 0, events)
	counted := make([]atomic.Int64, events)
	parallel(batches, func(j int) {
		var keys []string
		var idx []int
		for i := range 300 {
			k := (j*100 + i) % events
			keys, idx = append(keys, all[k]), append(idx, k)
		}
		cl := envs[j%len(envs)].Claim(ctx, keys, t0)
		for i, f := range cl.Fresh {
			if f {
				counted[idx[i]].Add(1)
			}
		}
	})
	for i := range counted {
		if n := counted[i].Load(); n != 1 {
			t.Fatalf("event %d counted %d times, want once", i, n)
		}
	}
	for i, s := range stores {
		if n := s.Fallbacks(); n != 0 {
			t.Errorf("environment %d: %d fallbacks with a healthy table", i, n)
		}
	}
}

// TestEventClaimsRelease: a batch whose counts were not published gives
// its own claims up, so a retry elsewhere counts them; claims another
// environment holds stay.
func TestEventClaimsRelease(t *testing.T) {
	db, name := newEventDB(t)
	envs, _ := eventEnvs(t, db, name, 3)
	ctx := context.Background()
	a, b := eventKeys("r", 0, 50), eventKeys("r", 50, 100)
	if got := freshCount(envs[0].Claim(ctx, a, t0)); got != 50 {
		t.Fatalf("first claim: %d fresh", got)
	}
	cl := envs[1].Claim(ctx, append(slices.Clone(a), b...), t0)
	if got := freshCount(cl); got != 50 {
		t.Fatalf("second claim: %d fresh, want the 50 new ones", got)
	}
	before := db.calls.Load()
	envs[1].Release(ctx, cl)
	if got := db.calls.Load() - before; got != 1 {
		t.Errorf("release of 50 claims: %d calls, want 1", got)
	}
	retry := envs[2].Claim(ctx, append(slices.Clone(a), b...), t0)
	for i, f := range retry.Fresh {
		if want := i >= 50; f != want {
			t.Fatalf("retry elsewhere: key %d fresh = %v, want %v (released: only environment 1's own claims)", i, f, want)
		}
	}
	envs[2].Release(ctx, nil) // nothing to do
}

// TestEventClaimsDegrade: with the table throttled every key is counted
// where it arrives and each failed call is a fallback; a release that
// failed is made before the environment's next claim, so the retry counts.
func TestEventClaimsDegrade(t *testing.T) {
	db, name := newEventDB(t)
	envs, stores := eventEnvs(t, db, name, 2)
	ctx := context.Background()
	keys := eventKeys("d", 0, 150)
	cl := envs[0].Claim(ctx, keys, t0)
	if got := freshCount(cl); got != 150 {
		t.Fatalf("healthy: %d fresh", got)
	}

	db.fail.Store(true)
	down := envs[1].Claim(ctx, keys, t0)
	if got := freshCount(down); got != 150 {
		t.Errorf("throttled: %d fresh, want all 150 (counted here)", got)
	}
	if got := stores[1].Fallbacks(); got != 2 {
		t.Errorf("throttled: %d fallbacks, want 2 (one per transaction of 100)", got)
	}
	envs[0].Release(ctx, cl) // fails: kept
	db.fail.Store(false)
	if got := freshCount(envs[1].Claim(ctx, keys[:1], t0)); got != 0 {
		t.Fatalf("environment 0's claim was released by its failed release")
	}
	envs[0].Claim(ctx, eventKeys("other", 0, 1), t0) // releases first
	if got := freshCount(envs[1].Claim(ctx, keys, t0)); got != 150 {
		t.Errorf("after the kept release was made: %d fresh, want 150", got)
	}
	if got := stores[0].Fallbacks(); got != 1 {
		t.Errorf("environment 0: %d fallbacks, want 1 (the release kept in memory)", got)
	}
}

// TestEventClaimsWithoutReasons: a cancelled transaction without
// cancellation reasons (kumo has them; this is the guard) settles its keys
// one conditional put each; a conflict is retried in the transaction.
func TestEventClaimsWithoutReasons(t *testing.T) {
	db, name := newEventDB(t)
	envs, _ := eventEnvs(t, db, name, 2)
	ctx := context.Background()
	envs[0].Claim(ctx, eventKeys("n", 0, 10), t0)
	db.noReasons.Store(true)
	before := db.calls.Load()
	cl := envs[1].Claim(ctx, eventKeys("n", 0, 20), t0)
	if got := freshCount(cl); got != 10 {
		t.Errorf("without reasons: %d fresh, want 10", got)
	}
	if got := db.calls.Load() - before; got != 21 {
		t.Errorf("without reasons: %d calls, want 21 (the transaction, then one put per key)", got)
	}
	db.noReasons.Store(false)

	db.conflicts.Store(1)
	before = db.calls.Load()
	if got := freshCount(envs[1].Claim(ctx, eventKeys("n", 20, 30), t0)); got != 10 {
		t.Errorf("after a conflict: %d fresh, want 10", got)
	}
	if got := db.calls.Load() - before; got != 2 {
		t.Errorf("after a conflict: %d calls, want 2", got)
	}
	db.conflicts.Store(maxAttempts)
	before = db.calls.Load()
	if got := freshCount(envs[0].Claim(ctx, eventKeys("n", 30, 35), t0)); got != 5 {
		t.Errorf("in conflict throughout: %d fresh, want 5", got)
	}
	if got := db.calls.Load() - before; got != maxAttempts+5 {
		t.Errorf("in conflict throughout: %d calls, want %d (%d transactions, then 5 puts)", got, maxAttempts+5, maxAttempts)
	}
}

// maxAttempts is state's maxTransactAttempts.
const maxAttempts = 3

// TestEventIAMActions: the actions EventClaims' calls need are exactly
// state.EventIAMActions (a transaction's Put needs dynamodb:PutItem, its
// Delete dynamodb:DeleteItem).
func TestEventIAMActions(t *testing.T) {
	db, name := newEventDB(t)
	envs, _ := eventEnvs(t, db, name, 1)
	ctx := context.Background()
	cl := envs[0].Claim(ctx, eventKeys("i", 0, 3), t0)
	envs[0].Release(ctx, cl)
	db.noReasons.Store(true)
	envs[0].Claim(ctx, eventKeys("i", 0, 3), t0)
	cl = envs[0].Claim(ctx, eventKeys("i", 0, 3), t0)
	envs[0].Release(ctx, cl)
	var got []string
	for a := range db.actions {
		got = append(got, a)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(state.EventIAMActions))
	if !slices.Equal(got, want) {
		t.Errorf("actions used %v, EventIAMActions %v", got, want)
	}
}

// TestEventClaimsWithoutTable: a Store without a table counts everything
// where it arrives (a key repeated within the call once), without a
// fallback.
func TestEventClaimsWithoutTable(t *testing.T) {
	s, err := state.New(state.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := state.NewEventClaims(s, nil)
	keys := append(eventKeys("m", 0, 3), eventKeys("m", 0, 1)...)
	cl := c.Claim(context.Background(), keys, t0)
	if !slices.Equal(cl.Fresh, []bool{true, true, true, false}) || s.Fallbacks() != 0 {
		t.Errorf("fresh %v, fallbacks %d", cl.Fresh, s.Fallbacks())
	}
	c.Release(context.Background(), cl)
	if k := state.EventKey("m-1", "a@example.com", "Send"); len(k) != 22 || k == state.EventKey("m-1", "a@example.com", "Bounce") {
		t.Errorf("EventKey = %q", k)
	}
}

// TestEventClaimsReleaseGivenUp: a release that keeps failing is tried
// before each of the environment's next claims, five times in all, then
// given up (logged), so it does not cost every later invocation a call.
func TestEventClaimsReleaseGivenUp(t *testing.T) {
	db, name := newEventDB(t)
	envs, _ := eventEnvs(t, db, name, 1)
	ctx := context.Background()
	cl := envs[0].Claim(ctx, eventKeys("g", 0, 3), t0)
	db.fail.Store(true)
	envs[0].Release(ctx, cl) // try 1
	for i := range 4 {       // tries 2-5, each before a claim that fails too
		before := db.calls.Load()
		envs[0].Claim(ctx, eventKeys(fmt.Sprint("h", i), 0, 1), t0)
		if got := db.calls.Load() - before; got != 2 {
			t.Fatalf("claim %d during the outage: %d calls, want 2 (the kept release, the claim)", i, got)
		}
	}
	db.fail.Store(false)
	before := db.calls.Load()
	envs[0].Claim(ctx, eventKeys("k", 0, 1), t0)
	if got := db.calls.Load() - before; got != 1 {
		t.Errorf("after five failed releases: %d calls, want 1 (the release given up)", got)
	}
}
