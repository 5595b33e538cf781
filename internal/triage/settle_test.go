package triage

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/state"
)

// TestSettle: which records are counted now and which are retried.
func TestSettle(t *testing.T) {
	boom := errors.New("sns down")
	ok := recordOutcome{diagnoses: 1, alerts: 1}
	poison := recordOutcome{poison: 2}
	failed := recordOutcome{diagnoses: 1, suppressed: 1, err: boom}
	quiet := recordOutcome{} // not a failure
	for _, tc := range []struct {
		name                  string
		ids                   []string
		outs                  []recordOutcome
		retryAll, metricsLost bool
		wantCounted           []bool
		wantFailures          []string
		wantFailed            int
	}{
		{name: "all fine", ids: []string{"a", "b", "c"}, outs: []recordOutcome{ok, poison, quiet},
			wantCounted: []bool{true, true, true}},
		{name: "SQS: the failed record alone comes back", ids: []string{"a", "b", "c"}, outs: []recordOutcome{ok, failed, poison},
			wantCounted: []bool{true, false, true}, wantFailures: []string{"b"}, wantFailed: 1},
		{name: "SNS: a failure brings everything back, nothing counted", ids: []string{"", ""}, outs: []recordOutcome{ok, failed},
			retryAll: true, wantCounted: []bool{false, false}, wantFailed: 1},
		{name: "SNS without failures counts", ids: []string{"", ""}, outs: []recordOutcome{ok, poison},
			retryAll: true, wantCounted: []bool{true, true}},
		{name: "metrics lost: records with diagnoses come back, poison does not", ids: []string{"a", "b", "c", "d"},
			outs: []recordOutcome{ok, poison, failed, quiet}, metricsLost: true,
			wantCounted: []bool{true, true, false, true}, wantFailures: []string{"a", "c"}, wantFailed: 2},
		{name: "a failed record without an ID is failed but not listed", ids: []string{""}, outs: []recordOutcome{failed},
			wantCounted: []bool{false}, wantFailed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, counted := settle(tc.ids, tc.outs, tc.retryAll, tc.metricsLost)
			if !slices.Equal(counted, tc.wantCounted) {
				t.Errorf("counted %v, want %v", counted, tc.wantCounted)
			}
			if !slices.Equal(res.Failures, tc.wantFailures) || res.Failed != tc.wantFailed {
				t.Errorf("failed %d %q, want %d %q", res.Failed, res.Failures, tc.wantFailed, tc.wantFailures)
			}
			var want Result
			for _, o := range tc.outs {
				want.Diagnoses += o.diagnoses
				want.Poison += o.poison
				want.Suppressed += o.suppressed
				want.Alerts += o.alerts
			}
			if res.Records != len(tc.outs) || res.Diagnoses != want.Diagnoses || res.Poison != want.Poison ||
				res.Suppressed != want.Suppressed || res.Alerts != want.Alerts {
				t.Errorf("sums %+v, want %+v", res, want)
			}
		})
	}
}

// TestRetaken: when the counts are lost after the claims were finished,
// only the records marked done that must now come back are written again.
func TestRetaken(t *testing.T) {
	before := []state.Finish{{Key: "a"}, {Key: "b"}, {Key: "c", Failed: true, Flags: []string{stepAlerted}}}
	after := []state.Finish{
		{Key: "a", Failed: true, Flags: []string{stepAlerted, stepSuppressed}}, // had a diagnosis: comes back
		{Key: "b"}, // poison only: stays done
		{Key: "c", Failed: true, Flags: []string{stepAlerted}}, // failed already
	}
	got := retaken(before, after)
	if len(got) != 1 || got[0].Key != "a" || !got[0].Failed || !slices.Equal(got[0].Flags, []string{stepAlerted, stepSuppressed}) {
		t.Errorf("retaken = %+v, want a failed with its steps", got)
	}
	if got := retaken(before, before); len(got) != 0 {
		t.Errorf("nothing changed, retaken = %+v", got)
	}
}

// TestReserve: the counts and the claims' finish end FinishReserve before
// the invocation does, leaving time to take the claims back; with less
// time than that left, they get what there is.
func TestReserve(t *testing.T) {
	dl := time.Now().Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	defer cancel()
	r, rc := reserve(ctx, FinishReserve)
	defer rc()
	if got, ok := r.Deadline(); !ok || !got.Equal(dl.Add(-FinishReserve)) {
		t.Errorf("deadline %v, want %v", got, dl.Add(-FinishReserve))
	}
	short, sc := context.WithTimeout(context.Background(), FinishReserve)
	defer sc()
	if r, _ := reserve(short, FinishReserve); r != short {
		t.Error("with less than the reserve left, want the context itself")
	}
	if r, _ := reserve(context.Background(), FinishReserve); r != context.Background() {
		t.Error("without a deadline, want the context itself")
	}
}
