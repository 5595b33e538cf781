package state_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/state"
)

// txDB is checkedDB with transactions (checkedDB alone has none: a DB
// without them gets one claim per record).
type txDB struct{ *checkedDB }

func (c txDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	for _, it := range in.TransactItems {
		if it.Update != nil {
			c.check(it.Update.ExpressionAttributeNames)
		}
	}
	return c.db.TransactWriteItems(ctx, in, o...)
}

func (c txDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	return c.db.BatchGetItem(ctx, in, o...)
}

func (c txDB) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	if c.fail.Load() {
		return nil, errThrottled
	}
	return c.db.TransactGetItems(ctx, in, o...)
}

// TestClaimBatchRetakesWithSteps: a batch with a new record, a done one,
// one held by a live claim and a failed one with steps claims the new and
// the failed ones (with their steps), skips the done one and reports the
// held one in progress.
func TestClaimBatchRetakesWithSteps(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	envs := environments(t, txDB{db}, name, 2)
	a, b := envs[0], envs[1]
	a.Claim(ctx, "done", t0, time.Minute)
	a.DoneAll(ctx, []string{"done"}, t0)
	a.Claim(ctx, "held", t0, time.Minute)
	a.Claim(ctx, "failed", t0, time.Minute)
	a.Fail(ctx, "failed", t0, "counted", "alerted")
	a.Calls()

	now := t0.Add(time.Second)
	got := b.ClaimBatch(ctx, []string{"new", "done", "held", "failed", "new"}, now, time.Minute, nil)
	want := []string{"acquired", "already done", "in progress", "acquired", "in progress"}
	for i, c := range got {
		if c.Outcome.String() != want[i] {
			t.Errorf("record %d: %v, want %s", i, c.Outcome, want[i])
		}
	}
	if f := got[3].Flags; !slices.Contains(f, "counted") || !slices.Contains(f, "alerted") || len(f) != 2 {
		t.Errorf("failed record retaken with steps %v, want counted and alerted", f)
	}
	// Cancelled, read back, retried.
	if n := b.Calls(); n != 3 {
		t.Errorf("%d calls, want 3 (transaction, read, transaction)", n)
	}
	// Now all five are held or done: nobody else takes any.
	for i, c := range a.ClaimBatch(ctx, []string{"new", "done", "held", "failed"}, now, time.Minute, nil) {
		if c.Outcome == 0 {
			t.Errorf("record %d claimed twice", i)
		}
	}
}

// TestClaimBatchOneCallEachWay: new records are claimed with one call and
// finished with one; the done ones are then skipped everywhere, the failed
// one is retaken with its steps.
func TestClaimBatchOneCallEachWay(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	envs := environments(t, txDB{db}, name, 2)
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("sns:m-%d", i)
	}
	for i, c := range envs[0].ClaimBatch(ctx, keys, t0, time.Minute, nil) {
		if c.Outcome != state.Acquired {
			t.Fatalf("record %d: %v", i, c.Outcome)
		}
	}
	if n := envs[0].Calls(); n != 1 {
		t.Errorf("claiming 10 new records: %d calls, want 1", n)
	}
	for i, c := range envs[1].ClaimBatch(ctx, keys, t0, time.Minute, nil) {
		if c.Outcome != state.InProgress {
			t.Errorf("record %d claimed twice: %v", i, c.Outcome)
		}
	}
	var fs []state.Finish
	for i, k := range keys {
		fs = append(fs, state.Finish{Key: k, Failed: i == 3, Flags: map[bool][]string{true: {"alerted"}}[i == 3]})
	}
	envs[0].FinishAll(ctx, fs, t0.Add(time.Second))
	if n := envs[0].Calls(); n != 1 {
		t.Errorf("finishing 10 records: %d calls, want 1", n)
	}
	envs[1].Calls()
	for i, c := range envs[1].ClaimBatch(ctx, keys, t0.Add(2*time.Second), time.Minute, nil) {
		switch {
		case i == 3 && (c.Outcome != state.Acquired || !c.Has("alerted")):
			t.Errorf("failed record: %v %v, want acquired with its step", c.Outcome, c.Flags)
		case i != 3 && c.Outcome != state.AlreadyDone:
			t.Errorf("record %d: %v, want already done", i, c.Outcome)
		}
	}
	if n := envs[1].Calls(); n != 3 {
		t.Errorf("a batch of redeliveries: %d calls, want 3 (cancelled, read back, retried)", n)
	}
}

// TestClaimBatchChunks: a batch larger than a transaction is claimed in
// transactions of at most 100 items, its storm counts included.
func TestClaimBatchChunks(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	s := environments(t, txDB{db}, name, 1)[0]
	w := s.AlertWindows()
	const window = 15 * time.Minute
	// Two keys' windows open.
	for _, id := range []string{"a.example", "b.example"} {
		if out, _ := w.Observe(ctx, alert.Alert{Rule: "r", Identity: id, Time: t0}, t0, window); len(out) != 1 {
			t.Fatalf("%s: first occurrence not announced", id)
		}
	}
	keys := make([]string, 250)
	alerts := make([][]alert.Alert, 250)
	for i := range keys {
		keys[i] = fmt.Sprintf("r-%d", i)
		alerts[i] = []alert.Alert{{Rule: "r", Identity: []string{"a.example", "b.example"}[i%2], Time: t0}}
	}
	s.Calls()
	pc := w.Precount(alerts, t0, window)
	for i, c := range s.ClaimBatch(ctx, keys, t0, time.Minute, pc) {
		if c.Outcome != state.Acquired || !pc.Counted(i, alerts[i][0]) {
			t.Fatalf("record %d: %v, counted %v", i, c.Outcome, pc.Counted(i, alerts[i][0]))
		}
	}
	if n := s.Calls(); n != 3 {
		t.Errorf("250 records with 2 keys: %d calls, want 3 (transactions of at most 100 items)", n)
	}
	sums, _ := w.Close(ctx, t0.Add(time.Minute), window, true)
	total := 0
	for _, a := range sums {
		total += a.Count
	}
	if total != 250 {
		t.Errorf("flush-all announced %d occurrences, want the 250 counted with the claims", total)
	}
}

// TestPrecount: occurrences of a key open in another environment are
// counted with the claims (one call in all); a key never opened cancels
// the transaction, is counted regardless, and Close opens its window,
// announcing the first occurrence and holding the rest, as Observe does;
// if that announcement reaches no sink, the next opener announces them
// with its own.
func TestPrecount(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	envs := environments(t, txDB{db}, name, 2)
	a, b := envs[0].AlertWindows(), envs[1].AlertWindows()
	const window = 15 * time.Minute
	open := alert.Alert{Rule: "r", Identity: "open.example", Time: t0}
	fresh := alert.Alert{Rule: "r", Identity: "new.example", Time: t0}
	if out, _ := a.Observe(ctx, open, t0, window); len(out) != 1 {
		t.Fatal("first occurrence not announced")
	}
	a.Close(ctx, t0, window, false)

	now := t0.Add(time.Second)
	envs[1].Calls()
	alerts := [][]alert.Alert{{open}, {open, open}, {fresh}, {fresh}}
	pc := b.Precount(alerts, now, window)
	for i, c := range envs[1].ClaimBatch(ctx, []string{"1", "2", "3", "4"}, now, time.Minute, pc) {
		if c.Outcome != state.Acquired || !pc.Counted(i, alerts[i][0]) {
			t.Fatalf("record %d: %v, counted %v", i, c.Outcome, pc.Counted(i, alerts[i][0]))
		}
	}
	if n := envs[1].Calls(); n != 2 {
		t.Errorf("%d calls, want 2 (cancelled by the closed window, retried)", n)
	}
	out, _ := b.Close(ctx, now, window, false)
	if len(out) != 1 || out[0].Identity != "new.example" || out[0].Count != 1 || !out[0].Since.IsZero() {
		t.Fatalf("Close announced %+v, want new.example's first occurrence (the second held)", out)
	}
	// The announcement reached no sink: the window closes again holding
	// both, and the next opener carries them.
	b.Undelivered(ctx, out[0])
	now = now.Add(time.Second)
	pc = a.Precount([][]alert.Alert{{fresh}}, now, window)
	envs[0].ClaimBatch(ctx, []string{"5"}, now, time.Minute, pc)
	out, _ = a.Close(ctx, now, window, false)
	if len(out) != 1 || out[0].Count != 3 || out[0].Since.IsZero() {
		t.Fatalf("after the undelivered announcement, Close announced %+v, want 3 occurrences with Since", out)
	}
	// open.example's 3 held occurrences, announced once by flush-all.
	sums, _ := b.Close(ctx, now.Add(time.Hour), window, true)
	held := -1
	for _, s := range sums {
		if s.Identity == "open.example" {
			held = s.Count
		}
	}
	if held != 3 {
		t.Errorf("open.example summary counts %d, want 3", held)
	}
}

// oldItems is DynamoDB as kumo v0.33.1 is not: a cancelled transaction's
// reasons carry the items whose condition failed
// (ReturnValuesOnConditionCheckFailure), so no read is needed.
type oldItems struct {
	txDB
	reads int
}

func (c *oldItems) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := c.txDB.TransactWriteItems(ctx, in, o...)
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for i, r := range tce.CancellationReasons {
			it := in.TransactItems[i]
			if aws.ToString(r.Code) != "ConditionalCheckFailed" || it.Put == nil {
				continue
			}
			got, gerr := c.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: it.Put.TableName, ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"pk": it.Put.Item["pk"], "sk": it.Put.Item["sk"]}})
			if gerr != nil {
				return nil, gerr
			}
			tce.CancellationReasons[i].Item = got.Item
		}
	}
	return out, err
}

func (c *oldItems) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	c.reads++
	return c.txDB.TransactGetItems(ctx, in, o...)
}

// TestClaimBatchUsesCancellationItems: with DynamoDB's cancellation
// reasons carrying the items, a batch of redeliveries is decided without
// reading them.
func TestClaimBatchUsesCancellationItems(t *testing.T) {
	ctx := context.Background()
	kdb, name := table(t)
	db := &oldItems{txDB: txDB{kdb}}
	s := environments(t, db, name, 1)[0]
	s.ClaimBatch(ctx, []string{"a", "b"}, t0, time.Minute, nil)
	s.FinishAll(ctx, []state.Finish{{Key: "a"}, {Key: "b", Failed: true, Flags: []string{"counted"}}}, t0)
	got := s.ClaimBatch(ctx, []string{"a", "b", "c"}, t0.Add(time.Second), time.Minute, nil)
	if got[0].Outcome != state.AlreadyDone || got[1].Outcome != state.Acquired || !got[1].Has("counted") || got[2].Outcome != state.Acquired {
		t.Errorf("got %+v, want done, retaken with its step, new", got)
	}
	if db.reads != 0 {
		t.Errorf("%d reads, want none (the reasons carry the items)", db.reads)
	}
}

// TestClaimBatchWithoutTransactions: a DB without TransactWriteItems (a
// fake) gets one claim per record, with the same outcomes.
func TestClaimBatchWithoutTransactions(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	s := environments(t, db, name, 1)[0]
	s.ClaimBatch(ctx, []string{"a"}, t0, time.Minute, nil)
	s.FinishAll(ctx, []state.Finish{{Key: "a"}}, t0)
	s.Calls()
	got := s.ClaimBatch(ctx, []string{"a", "b", "b"}, t0, time.Minute, nil)
	if got[0].Outcome != state.AlreadyDone || got[1].Outcome != state.Acquired || got[2].Outcome != state.InProgress {
		t.Errorf("got %+v, want done, acquired, in progress (the same record twice in a batch)", got)
	}
	if n := s.Calls(); n != 3 {
		t.Errorf("%d calls, want 3 (one claim each, a read for the done one)", n)
	}
}

// TestClaimBatchDegrades: with the table throttled the batch is claimed
// from memory, and the invocation's other operations do not ask the table
// again until FinishAll; the next invocation asks it again.
func TestClaimBatchDegrades(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	s := environments(t, txDB{db}, name, 1)[0]
	w := s.AlertWindows()
	db.fail.Store(true)
	for i, c := range s.ClaimBatch(ctx, []string{"a", "b"}, t0, time.Minute, nil) {
		if c.Outcome != state.Acquired {
			t.Errorf("record %d: %v while throttled, want acquired from memory", i, c.Outcome)
		}
	}
	s.Calls()
	if out, _ := w.Observe(ctx, alert.Alert{Rule: "r", Time: t0}, t0, time.Minute); len(out) != 1 {
		t.Error("first occurrence not announced from memory")
	}
	w.Close(ctx, t0, time.Minute, true)
	if n := s.Calls(); n != 0 {
		t.Errorf("%d calls after the claim found the table throttled, want 0", n)
	}
	s.FinishAll(ctx, []state.Finish{{Key: "a"}, {Key: "b", Failed: true, Flags: []string{"alerted"}}}, t0)
	if f := s.Fallbacks(); f < 3 {
		t.Errorf("%d fallbacks counted, want every operation answered from memory", f)
	}
	db.fail.Store(false)
	got := s.ClaimBatch(ctx, []string{"a", "b", "c"}, t0.Add(time.Second), time.Minute, nil)
	if got[0].Outcome != state.AlreadyDone || got[1].Outcome != state.Acquired || !got[1].Has("alerted") || got[2].Outcome != state.Acquired {
		t.Errorf("after recovery: %+v, want a done (memory), b retaken with its step, c new", got)
	}
	if f := s.Fallbacks(); f != 0 {
		t.Errorf("%d fallbacks after recovery", f)
	}
}

// TestDrainFailsInTransactions: records failed while the table was down
// reach it with one call per 100 once it answers, steps included, so that
// a retry in another environment skips them.
func TestDrainFailsInTransactions(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	envs := environments(t, txDB{db}, name, 2)
	keys := make([]string, 150)
	var fs []state.Finish
	for i := range keys {
		keys[i] = fmt.Sprintf("r-%d", i)
		fs = append(fs, state.Finish{Key: keys[i], Failed: true, Flags: []string{"suppressed"}})
	}
	db.fail.Store(true)
	envs[0].ClaimBatch(ctx, keys, t0, time.Minute, nil)
	envs[0].FinishAll(ctx, fs, t0)
	db.fail.Store(false)
	envs[0].Calls()
	envs[0].FinishAll(ctx, nil, t0.Add(time.Second))
	if n := envs[0].Calls(); n != 2 {
		t.Errorf("draining 150 failures: %d calls, want 2", n)
	}
	for i, c := range envs[1].ClaimBatch(ctx, keys, t0.Add(time.Minute), time.Minute, nil) {
		if c.Outcome != state.Acquired || !c.Has("suppressed") {
			t.Fatalf("record %d retaken elsewhere: %v %v, want acquired with its step", i, c.Outcome, c.Flags)
		}
	}
}

// iamDB records the IAM actions DynamoDB authorises the calls it passes
// by: a transaction per item (Put: PutItem, Update: UpdateItem,
// ConditionCheck: ConditionCheckItem, Delete: DeleteItem; a read: GetItem).
type iamDB struct {
	txDB
	mu      sync.Mutex
	actions map[string]bool
}

func (c *iamDB) add(as ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range as {
		c.actions["dynamodb:"+a] = true
	}
}

func (c *iamDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.txDB.GetItem(ctx, in, o...)
}

func (c *iamDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.add("PutItem")
	return c.txDB.PutItem(ctx, in, o...)
}

func (c *iamDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.add("UpdateItem")
	return c.txDB.UpdateItem(ctx, in, o...)
}

func (c *iamDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.add("Query")
	return c.txDB.Query(ctx, in, o...)
}

func (c *iamDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.add("BatchWriteItem")
	return c.txDB.BatchWriteItem(ctx, in, o...)
}

func (c *iamDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			c.add("PutItem")
		case it.Update != nil:
			c.add("UpdateItem")
		case it.Delete != nil:
			c.add("DeleteItem")
		case it.ConditionCheck != nil:
			c.add("ConditionCheckItem")
		}
	}
	return c.txDB.TransactWriteItems(ctx, in, o...)
}

func (c *iamDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.add("BatchGetItem")
	return c.txDB.BatchGetItem(ctx, in, o...)
}

func (c *iamDB) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	c.add("GetItem")
	return c.txDB.TransactGetItems(ctx, in, o...)
}

func (c *iamDB) used() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Collect(maps.Keys(c.actions))
	slices.Sort(out)
	c.actions = map[string]bool{}
	return out
}

// TestIAMActionsAreTheActionsUsed: IAMActions (granted to triage by the
// template; internal/stack compares) are exactly the actions the Store's
// operations need, transactions counted per item; LevelIAMActions cover
// the versioned values and levels.
func TestIAMActionsAreTheActionsUsed(t *testing.T) {
	ctx := context.Background()
	kdb, name := table(t)
	db := &iamDB{txDB: txDB{kdb}, actions: map[string]bool{}}
	envs := environments(t, db, name, 2)
	s, w := envs[0], envs[0].AlertWindows()
	const window = time.Minute
	// Levels and values first (bouncewatch).
	s.Value(ctx, "v")
	s.Swap(ctx, "v", 0, "x")
	if c := s.BeginLevel(ctx, "l", "high", t0, time.Minute); c != nil {
		s.FinishLevel(ctx, c, []string{"sns"}, 1)
	}
	s.Level(ctx, "l")
	level := db.used()
	for _, a := range level {
		if !slices.Contains(state.LevelIAMActions, a) {
			t.Errorf("levels and values use %s, not in LevelIAMActions %v", a, state.LevelIAMActions)
		}
	}
	// Everything triage does: facts, batch claims with their storm
	// counts (a window open and one closed), redeliveries, finishing,
	// windows closing, flushes.
	if _, ok := s.Fact(ctx, "f", t0); !ok {
		s.PutFact(ctx, "f", []byte("v"), t0, time.Minute)
	}
	s.Fact(ctx, "f", t0)
	s.Facts(ctx, []string{"f", "g"}, t0)
	open := alert.Alert{Rule: "r", Identity: "open", Time: t0}
	w.Observe(ctx, open, t0, window)
	pc := w.Precount([][]alert.Alert{{open}, {{Rule: "r", Identity: "new", Time: t0}}}, t0, window)
	s.ClaimBatch(ctx, []string{"a", "b"}, t0, time.Minute, pc)
	out, _ := w.Close(ctx, t0, window, false)
	for _, a := range out {
		w.Undelivered(ctx, a)
	}
	s.FinishAll(ctx, []state.Finish{{Key: "a"}, {Key: "b", Failed: true, Flags: []string{"alerted"}}}, t0)
	envs[1].ClaimBatch(ctx, []string{"a", "b"}, t0.Add(time.Second), time.Minute, nil)
	w.Close(ctx, t0.Add(time.Hour), window, true)
	used := append(level, db.used()...)
	slices.Sort(used)
	used = slices.Compact(used)
	want := slices.Clone(state.IAMActions)
	slices.Sort(want)
	if !slices.Equal(used, want) {
		t.Errorf("the Store's operations use %v; IAMActions lists %v", used, want)
	}
}
