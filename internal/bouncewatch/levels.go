package bouncewatch

import (
	"context"
	"time"

	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// LevelKey names one announced level: a scope and the kind of alert
// (metrics.KindBounce, KindComplaint, or KindDivergence for the account).
type LevelKey struct {
	Scope Scope
	Kind  string
}

// LevelState is the level last announced for a key, with the store's
// version of it.
type LevelState struct {
	// Level is the announced level. For KindDivergence it is
	// reputation.OK (the rates agree) or reputation.Warning (they do not).
	Level reputation.Level
	// Version identifies the stored state for a compare-and-set; the store
	// assigns it, and 0 means nothing has been stored for the key.
	Version int64
}

// LevelStore keeps the level last announced for each key, so that an
// evaluation announces changes only. Evaluate uses it as follows:
//
//   - Load once per evaluation, for every key it judges. A key the store
//     has never seen is absent from the map (read as OK, Version 0).
//   - For each level change, Save(prev, next) before sending the alert.
//     won == true means this evaluation owns the announcement and sends it;
//     won == false means another evaluation (another execution
//     environment) already moved the level, and nothing is sent.
//   - If every sink refuses the alert, Save(next-as-saved, prev) puts the
//     level back, so the next evaluation tries again; a level is recorded
//     as announced only when at least one sink accepted the alert (with no
//     sink configured, logging the alert counts as announcing it).
//
// Save is a compare-and-set: it stores next only if the stored state is
// still prev (same Version), and returns the state stored after the call
// (next with its new Version when won, what is stored now when lost).
// next.Version is ignored.
//
// An implementation that loses its shared backing should fall back to
// process memory itself (DESIGN.md: duplicates accepted, never alerts
// lost) rather than fail. An error from Load fails the evaluation (the
// schedule runs it again); an error from Save is logged and the alert is
// sent anyway.
//
// The AlertLevel metric is published every evaluation whatever the store
// (alarms and the dashboard read it). The first implementation reads that
// metric back (see metricLevels); a DynamoDB implementation (package
// internal/state) adds the version check across execution environments.
type LevelStore interface {
	Load(ctx context.Context, keys []LevelKey) (map[LevelKey]LevelState, error)
	Save(ctx context.Context, key LevelKey, prev, next LevelState) (LevelState, bool, error)
}

// metricLevels is the LevelStore that reads the announced levels back from
// the AlertLevel metric, read in the same GetMetricData call as the
// window's counts (so it is built per evaluation from that read). Its
// writes are the AlertLevel datums the evaluation publishes anyway, so
// Save has nothing to do and always wins: CloudWatch has no conditional
// write, and one scheduled evaluation at a time is assumed. Version is the
// newest datum's time in Unix milliseconds.
type metricLevels map[LevelKey]*levelSeries

func (m metricLevels) Load(_ context.Context, keys []LevelKey) (map[LevelKey]LevelState, error) {
	out := make(map[LevelKey]LevelState, len(keys))
	for _, k := range keys {
		s := m[k]
		if s == nil {
			continue
		}
		if v, t, ok := s.latest(); ok {
			out[k] = LevelState{Level: reputation.LevelOf(v), Version: t.UnixMilli()}
		}
	}
	return out, nil
}

func (m metricLevels) Save(_ context.Context, _ LevelKey, _, next LevelState) (LevelState, bool, error) {
	return next, true, nil
}

// levelSeries is a series read back from CloudWatch.
type levelSeries struct {
	vals []float64
	ts   []time.Time
}

func (s *levelSeries) add(v []float64, ts []time.Time) {
	s.vals, s.ts = append(s.vals, v...), append(s.ts, ts...)
}

// latest returns the value with the newest timestamp (the later one on a
// tie, since results are requested oldest first), and whether there was any.
func (s *levelSeries) latest() (float64, time.Time, bool) {
	best := -1
	for i := range s.vals {
		if best < 0 || !s.ts[i].Before(s.ts[best]) {
			best = i
		}
	}
	if best < 0 {
		return 0, time.Time{}, false
	}
	return s.vals[best], s.ts[best], true
}

// levelKeys lists the keys an evaluation of scopes judges, in the order
// their alerts are announced: each scope's bounce and complaint, and the
// account's divergence after the account's own.
func levelKeys(scopes []Scope) []LevelKey {
	var keys []LevelKey
	for i, s := range scopes {
		keys = append(keys, LevelKey{s, metrics.KindBounce}, LevelKey{s, metrics.KindComplaint})
		if i == 0 {
			keys = append(keys, LevelKey{s, metrics.KindDivergence})
		}
	}
	return keys
}
