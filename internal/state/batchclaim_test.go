package state_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
