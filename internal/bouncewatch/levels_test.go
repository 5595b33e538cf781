package bouncewatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	mx "github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// TestAssess: the pure step, from counts and the previous levels to the
// changes to announce.
func TestAssess(t *testing.T) {
	acct := Scope{mx.ScopeAccount, "us-east-1"}
	cs := Scope{mx.ScopeConfigurationSet, "tx"}
	ses := func(v float64) *float64 { return &v }
	counts := func(sends, hard, complaints int64) Counts {
		var c Counts
		c[cSends], c[cHardBounces], c[cComplaints] = sends, hard, complaints
		return c
	}
	type scope struct {
		s Scope
		c Counts
	}
	for _, tc := range []struct {
		name   string
		scopes []scope
		ses    *float64
		prev   map[LevelKey]reputation.Level
		want   []string // "scope/kind: from->to"
	}{
		{name: "quiet", scopes: []scope{{acct, counts(1000, 5, 0)}}},
		{name: "bounce critical", scopes: []scope{{acct, counts(1000, 100, 0)}},
			want: []string{"account/bounce: ok->critical"}},
		{name: "held level is no change", scopes: []scope{{acct, counts(1000, 100, 0)}},
			prev: map[LevelKey]reputation.Level{{acct, mx.KindBounce}: reputation.Critical}},
		{name: "recovery", scopes: []scope{{acct, counts(1000, 1, 0)}},
			prev: map[LevelKey]reputation.Level{{acct, mx.KindBounce}: reputation.Critical},
			want: []string{"account/bounce: critical->ok"}},
		{name: "complaints and a scope, in announcing order",
			scopes: []scope{{acct, counts(1000, 30, 2)}, {cs, counts(1000, 100, 0)}},
			want:   []string{"account/bounce: ok->warning", "account/complaint: ok->warning", "configuration-set:tx/bounce: ok->critical"}},
		{name: "divergence", scopes: []scope{{acct, counts(1000, 10, 0)}}, ses: ses(0.045),
			want: []string{"account/divergence: ok->warning"}},
		{name: "divergence over", scopes: []scope{{acct, counts(1000, 10, 0)}}, ses: ses(0.015),
			prev: map[LevelKey]reputation.Level{{acct, mx.KindDivergence}: reputation.Warning},
			want: []string{"account/divergence: warning->ok"}},
		{name: "no divergence below MinSends", scopes: []scope{{acct, counts(100, 1, 0)}}, ses: ses(0.045)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{SESBounceRate: tc.ses}
			for _, s := range tc.scopes {
				rep.Scopes = append(rep.Scopes, &ScopeReport{Scope: s.s, Counts: s.c})
			}
			prev := map[LevelKey]LevelState{}
			for k, l := range tc.prev {
				prev[k] = LevelState{Level: l, Version: 7}
			}
			var got []string
			for _, c := range assess(testConfig(), rep, prev) {
				if c.sr.Scope != c.key.Scope {
					t.Errorf("change %v carries scope %v", c.key, c.sr.Scope)
				}
				got = append(got, fmt.Sprintf("%s/%s: %s->%s", c.key.Scope, c.key.Kind, c.from, c.to))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("changes = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeLevels is a LevelStore with a version check, as a shared store has;
// lose makes every Save lose, as when another environment moved first.
type fakeLevels struct {
	m     map[LevelKey]LevelState
	lose  bool
	saves []string
}

func (f *fakeLevels) Load(_ context.Context, keys []LevelKey) (map[LevelKey]LevelState, error) {
	out := map[LevelKey]LevelState{}
	for _, k := range keys {
		if s, ok := f.m[k]; ok {
			out[k] = s
		}
	}
	return out, nil
}

func (f *fakeLevels) Save(_ context.Context, k LevelKey, prev, next LevelState) (LevelState, bool, error) {
	f.saves = append(f.saves, fmt.Sprintf("%s/%s %s->%s", k.Scope, k.Kind, prev.Level, next.Level))
	cur := f.m[k]
	if f.lose || cur.Version != prev.Version {
		return cur, false, nil
	}
	next.Version = cur.Version + 1
	f.m[k] = next
	return next, true, nil
}

// TestLevelStoreOrder: a change is saved before it is sent, not sent when
// the save loses, and put back when the sink refuses it.
func TestLevelStoreOrder(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	bounce := LevelKey{Scope{mx.ScopeAccount, "us-east-1"}, mx.KindBounce}
	run := func(store *fakeLevels, sink alert.Sink) *Report {
		t.Helper()
		cw := newMemCloudWatch(func() time.Time { return now.Add(-time.Minute) })
		h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Alerts: sink, Levels: store, Log: quiet, Now: func() time.Time { return now }})
		if _, err := h.Handle(context.Background(), scenarioBatch(0, 1000, 100)); err != nil {
			t.Fatal(err)
		}
		rep, err := h.Evaluate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	store := &fakeLevels{m: map[LevelKey]LevelState{}}
	if rep := run(store, nil); len(rep.Alerts) != 1 || store.m[bounce].Level != reputation.Critical || store.m[bounce].Version != 1 {
		t.Fatalf("won: alerts %d, stored %+v", len(rep.Alerts), store.m[bounce])
	}

	store = &fakeLevels{m: map[LevelKey]LevelState{}, lose: true}
	if rep := run(store, nil); len(rep.Alerts) != 0 || len(store.saves) != 1 {
		t.Fatalf("lost: alerts %+v, saves %q", rep.Alerts, store.saves)
	}

	store = &fakeLevels{m: map[LevelKey]LevelState{}}
	fail := alert.SinkFunc(func(context.Context, alert.Alert) error { return errors.New("sns down") })
	rep := run(store, fail)
	want := []string{"account/bounce ok->critical", "account/bounce critical->ok"}
	if len(rep.Alerts) != 0 || !slices.Equal(store.saves, want) || store.m[bounce].Level != reputation.OK {
		t.Fatalf("refused: alerts %d, saves %q, stored %+v", len(rep.Alerts), store.saves, store.m[bounce])
	}
}
