package state

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Versioned values: a small string per key with a version every write
// bumps, changed only by a compare-and-set on the version read. The
// building block of announce-once decisions whose shape the caller owns
// (bouncewatch's levels and its records of SES status and pauses): the
// one environment whose Swap wins acts, the others see its value.

type valueItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Value   string `dynamodbav:"value"`
	Version int64  `dynamodbav:"version"`
}

func valuePK(k string) string { return "val#" + k }

// Value returns k's value and version (0: nothing stored).
func (s *Store) Value(ctx context.Context, k string) (string, int64) {
	if s.db != nil {
		var it valueItem
		found, err := s.get(ctx, valuePK(k), single, &it)
		if err == nil {
			if !found {
				return "", 0
			}
			return it.Value, it.Version
		}
		s.fellBack(ctx, "value read", k, err)
	}
	return s.values().get(k)
}

// Swap stores value under k if its version is still prev (0: nothing
// stored) and returns what is stored after the call and whether this call
// stored it.
func (s *Store) Swap(ctx context.Context, k string, prev int64, value string) (string, int64, bool) {
	if s.db != nil {
		version := expression.Name("version")
		cond := version.Equal(expression.Value(prev))
		if prev == 0 {
			cond = expression.AttributeNotExists(expression.Name(AttrPK))
		}
		upd := expression.Set(expression.Name("value"), expression.Value(value)).Set(version, expression.Value(prev+1))
		err := s.update(ctx, valuePK(k), single, upd, &cond, types.ReturnValueNone, nil)
		switch {
		case err == nil:
			return value, prev + 1, true
		case conditionFailed(err):
			// kumo ignores ReturnValuesOnConditionCheckFailure: read it.
			var it valueItem
			if _, gerr := s.get(ctx, valuePK(k), single, &it); gerr == nil {
				return it.Value, it.Version, false
			}
		}
		s.fellBack(ctx, "value swap", k, err)
	}
	return s.values().swap(k, prev, value)
}

// memValues is the in-memory fallback of versioned values.
type memValues struct {
	mu sync.Mutex
	m  map[string]valueItem
}

var valuesMu sync.Mutex

func (s *Store) values() *memValues {
	valuesMu.Lock()
	defer valuesMu.Unlock()
	if s.vals == nil {
		s.vals = &memValues{m: map[string]valueItem{}}
	}
	return s.vals
}

func (m *memValues) get(k string) (string, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.m[k]
	return it.Value, it.Version
}

func (m *memValues) swap(k string, prev int64, value string) (string, int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it := m.m[k]
	if it.Version != prev {
		return it.Value, it.Version, false
	}
	bound(m.m)
	m.m[k] = valueItem{Value: value, Version: prev + 1}
	return value, prev + 1, true
}
