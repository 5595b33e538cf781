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
	dom := Scope{mx.ScopeDomain, "example.com"}
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
		// Same traffic (equal counts) in the account and a narrower scope:
		// one change, the account's, covering the other.
		{name: "same traffic announced once", scopes: []scope{{acct, counts(1000, 100, 2)}, {cs, counts(1000, 100, 2)}},
			want: []string{"account/bounce: ok->critical +configuration-set:tx/bounce", "account/complaint: ok->warning +configuration-set:tx/complaint"}},
		{name: "same traffic, three scopes", scopes: []scope{{acct, counts(1000, 100, 0)}, {cs, counts(1000, 100, 0)}, {dom, counts(1000, 100, 0)}},
			want: []string{"account/bounce: ok->critical +configuration-set:tx/bounce +domain:example.com/bounce"}},
		{name: "same traffic, only one scope is the same", scopes: []scope{{acct, counts(1000, 100, 0)}, {cs, counts(1000, 100, 0)}, {dom, counts(500, 50, 0)}},
			want: []string{"account/bounce: ok->critical +configuration-set:tx/bounce", "domain:example.com/bounce: ok->critical"}},
		{name: "different traffic announced apart", scopes: []scope{{acct, counts(2000, 130, 0)}, {cs, counts(1000, 100, 0)}},
			want: []string{"account/bounce: ok->critical", "configuration-set:tx/bounce: ok->critical"}},
		{name: "same traffic, different previous levels", scopes: []scope{{acct, counts(1000, 100, 0)}, {cs, counts(1000, 100, 0)}},
			prev: map[LevelKey]reputation.Level{{cs, mx.KindBounce}: reputation.Warning},
			want: []string{"account/bounce: ok->critical", "configuration-set:tx/bounce: warning->critical"}},
		{name: "same traffic, only the narrower changes", scopes: []scope{{acct, counts(1000, 100, 0)}, {cs, counts(1000, 100, 0)}},
			prev: map[LevelKey]reputation.Level{{acct, mx.KindBounce}: reputation.Critical},
			want: []string{"configuration-set:tx/bounce: ok->critical"}},
		{name: "two narrower scopes with equal counts are not merged", scopes: []scope{{acct, counts(2000, 200, 0)}, {cs, counts(1000, 100, 0)}, {dom, counts(1000, 100, 0)}},
			want: []string{"account/bounce: ok->critical", "configuration-set:tx/bounce: ok->critical", "domain:example.com/bounce: ok->critical"}},
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
				g := fmt.Sprintf("%s/%s: %s->%s", c.key.Scope, c.key.Kind, c.from, c.to)
				for _, k := range c.also {
					g += fmt.Sprintf(" +%s/%s", k.Scope, k.Kind)
				}
				got = append(got, g)
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

// TestSameTrafficThenDiverging: while the account and its one
// configuration set see the same traffic, a level change is announced
// once, and both scopes' levels are saved and published; when the traffic
// diverges later, each scope's own change is announced from the level it
// really had.
func TestSameTrafficThenDiverging(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	acct := Scope{mx.ScopeAccount, "us-east-1"}
	cs := Scope{mx.ScopeConfigurationSet, "tx"}
	cfg := testConfig()
	cfg.Scopes = []Scope{cs}
	store := &fakeLevels{m: map[LevelKey]LevelState{}}
	run := func(acctSends, acctHard, csSends, csHard int) (*Report, *memCloudWatch) {
		t.Helper()
		now = now.Add(time.Hour)
		cw := newMemCloudWatch(func() time.Time { return now.Add(-time.Minute) })
		for _, s := range []struct {
			sc          Scope
			sends, hard int
		}{{acct, acctSends, acctHard}, {cs, csSends, csHard}} {
			cw.put(mx.DefaultNamespace, string(mx.Sends), float64(s.sends), string(mx.DimScopeType), s.sc.Type, string(mx.DimScope), s.sc.Name)
			cw.put(mx.DefaultNamespace, string(mx.HardBounces), float64(s.hard), string(mx.DimScopeType), s.sc.Type, string(mx.DimScope), s.sc.Name)
		}
		h := mustNew(t, cfg, Deps{CloudWatch: cw, Levels: store, Log: quiet, Now: func() time.Time { return now }})
		rep, err := h.Evaluate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep, cw
	}
	titles := func(rep *Report) []string {
		var out []string
		for _, a := range rep.Alerts {
			out = append(out, a.Scope+": "+string(a.Level))
		}
		return out
	}
	level := func(s Scope) reputation.Level { return store.m[LevelKey{s, mx.KindBounce}].Level }

	rep, cw := run(1000, 100, 1000, 100)
	if got := titles(rep); !slices.Equal(got, []string{"account: critical"}) {
		t.Fatalf("same traffic: alerts %q, want the account's only", got)
	}
	if !slices.ContainsFunc(rep.Alerts[0].Figures, func(f alert.Figure) bool {
		return f.Name == "Also covers" && f.Value == "configuration-set:tx (the same sends, bounces and complaints in the window)"
	}) {
		t.Errorf("the alert does not say which scopes it covers: %+v", rep.Alerts[0].Figures)
	}
	if level(acct) != reputation.Critical || level(cs) != reputation.Critical {
		t.Fatalf("stored levels: account %s, configuration set %s; want both critical", level(acct), level(cs))
	}
	d := cw.datums()
	for _, k := range []string{"AlertLevel/account/us-east-1/bounce", "AlertLevel/configuration-set/tx/bounce"} {
		if d[k] != float64(reputation.Critical) {
			t.Errorf("%s = %v, want %v", k, d[k], float64(reputation.Critical))
		}
	}
	if d["BounceRate/configuration-set/tx"] != 0.1 || d["BounceRate/account/us-east-1"] != 0.1 {
		t.Errorf("rates not published per scope: %v", d)
	}

	// Other traffic joins the account; the configuration set recovers
	// while the account stays critical: only the set's recovery is news.
	rep, _ = run(3000, 300, 1000, 5)
	if got := titles(rep); !slices.Equal(got, []string{"configuration-set:tx: ok"}) {
		t.Fatalf("diverged: alerts %q, want the configuration set's recovery only", got)
	}
	if len(rep.Alerts[0].Figures) > 0 && slices.ContainsFunc(rep.Alerts[0].Figures, func(f alert.Figure) bool { return f.Name == AlsoCoversFigure }) {
		t.Errorf("a scope's own alert claims to cover others: %+v", rep.Alerts[0].Figures)
	}
	// And back to critical on its own.
	rep, _ = run(3000, 250, 1000, 100)
	if got := titles(rep); !slices.Equal(got, []string{"configuration-set:tx: critical"}) {
		t.Fatalf("set critical again: alerts %q", got)
	}
	if level(acct) != reputation.Critical || level(cs) != reputation.Critical {
		t.Fatalf("stored levels: account %s, configuration set %s; want both critical", level(acct), level(cs))
	}
}
