package bouncewatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	mx "github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
)

// downDB is a state table whose every call fails, as in an outage.
type downDB struct{ calls int }

var errDown = errors.New("dynamodb: service unavailable")

func (d *downDB) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.calls++
	return nil, errDown
}

func (d *downDB) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	d.calls++
	return nil, errDown
}

func (d *downDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.calls++
	return nil, errDown
}

func (d *downDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	d.calls++
	return nil, errDown
}

func (d *downDB) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	d.calls++
	return nil, errDown
}

// TestStateFallbacksPublished: with the state table down, the evaluation
// still announces (from memory) and publishes how many operations fell
// back as StateFallbacks for bouncewatch, once: the count is reset after
// it is published. With the table up, or without one, nothing is published.
func TestStateFallbacksPublished(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	const metric = "StateFallbacks/" + mx.FunctionBouncewatch
	evaluate := func(d Deps) (*Report, *memCloudWatch) {
		t.Helper()
		cw := newMemCloudWatch(func() time.Time { return now.Add(-time.Minute) })
		d.CloudWatch, d.Log, d.Now = cw, quiet, func() time.Time { return now }
		h := mustNew(t, testConfig(), d)
		if _, err := h.Handle(context.Background(), scenarioBatch(0, 1000, 100)); err != nil {
			t.Fatal(err)
		}
		rep, err := h.Evaluate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep, cw
	}

	db := &downDB{}
	st, err := state.New(state.Options{DB: db, Table: "sesguard-state", Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	shared := Deps{Levels: NewSharedLevels(st), Records: NewSharedRecords(st), State: st}
	rep, cw := evaluate(shared)
	if len(rep.Alerts) != 1 {
		t.Fatalf("table down: %d alerts, want the critical bounce rate announced from memory", len(rep.Alerts))
	}
	got := cw.datums()[metric]
	if got < 1 || got != float64(rep.StateFallbacks) || db.calls == 0 {
		t.Fatalf("table down (%d DynamoDB calls): %s = %v, report %d; want the fallbacks counted", db.calls, metric, got, rep.StateFallbacks)
	}
	if n := st.Fallbacks(); n != 0 {
		t.Errorf("%d fallbacks left unpublished after the evaluation", n)
	}

	for name, d := range map[string]Deps{"no table": {}, "memory-only store": func() Deps {
		st, err := state.New(state.Options{Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return Deps{Levels: NewSharedLevels(st), Records: NewSharedRecords(st), State: st}
	}()} {
		rep, cw := evaluate(d)
		if v, ok := cw.datums()[metric]; ok || rep.StateFallbacks != 0 {
			t.Errorf("%s: %s = %v published, report %d; want none", name, metric, v, rep.StateFallbacks)
		}
	}
}
