package bouncewatch

import (
	"context"
	"strconv"

	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/state"
)

// sharedLevels is the LevelStore of the state table: a level change is
// announced by the one evaluation whose compare-and-set wins, in whichever
// execution environment it runs.
type sharedLevels struct{ s *state.Store }

// NewSharedLevels returns a LevelStore in the state table.
func NewSharedLevels(s *state.Store) LevelStore { return sharedLevels{s} }

func levelKey(k LevelKey) string { return "level/" + k.Scope.String() + "/" + k.Kind }

// Load implements LevelStore.
func (l sharedLevels) Load(ctx context.Context, keys []LevelKey) (map[LevelKey]LevelState, error) {
	out := make(map[LevelKey]LevelState, len(keys))
	for _, k := range keys {
		v, ver := l.s.Value(ctx, levelKey(k))
		if ver == 0 {
			continue
		}
		out[k] = LevelState{Level: parseLevel(v), Version: ver}
	}
	return out, nil
}

// Save implements LevelStore.
func (l sharedLevels) Save(ctx context.Context, k LevelKey, prev, next LevelState) (LevelState, bool, error) {
	v, ver, won := l.s.Swap(ctx, levelKey(k), prev.Version, strconv.Itoa(int(next.Level)))
	return LevelState{Level: parseLevel(v), Version: ver}, won, nil
}

func parseLevel(v string) reputation.Level {
	n, err := strconv.Atoi(v)
	if err != nil {
		return reputation.OK
	}
	return reputation.Level(n)
}

// sharedRecords is the RecordStore of the state table.
type sharedRecords struct{ s *state.Store }

// NewSharedRecords returns a RecordStore in the state table.
func NewSharedRecords(s *state.Store) RecordStore { return sharedRecords{s} }

// Get implements RecordStore.
func (r sharedRecords) Get(ctx context.Context, key string) (Record, error) {
	v, ver := r.s.Value(ctx, "record/"+key)
	return Record{Value: v, Version: ver}, nil
}

// Swap implements RecordStore.
func (r sharedRecords) Swap(ctx context.Context, key string, prev Record, value string) (Record, bool, error) {
	v, ver, won := r.s.Swap(ctx, "record/"+key, prev.Version, value)
	return Record{Value: v, Version: ver}, won, nil
}
