package state

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Levels: bouncewatch announces a level change once across environments.
// The item keeps the announced level, the level being announced (pending)
// with the sinks that already accepted it, a version every claim bumps,
// and a lease so that two evaluations do not announce at once.
//
//   - BeginLevel claims the announcement of target (a conditional write on
//     the version read); the claim says which sinks already accepted
//     target in an earlier, partly failed attempt, so they are not sent to
//     again.
//   - FinishLevel records the sinks that accepted. The level counts as
//     announced only when at least one sink accepted it; until every sink
//     has, it stays pending and the next evaluation retries the others.

type levelItem struct {
	PK        string   `dynamodbav:"pk"`
	SK        string   `dynamodbav:"sk"`
	Announced string   `dynamodbav:"announced,omitempty"`
	Pending   string   `dynamodbav:"pending,omitempty"`
	Sent      []string `dynamodbav:"sent,stringset,omitempty"`
	Version   int64    `dynamodbav:"version"`
	Lease     int64    `dynamodbav:"lease"` // Unix ms
}

func levelPK(k string) string { return "level#" + k }

// LevelState is what is known of a key's level.
type LevelState struct {
	Announced string   // "" when never announced
	Pending   string   // a level whose announcement has not reached every sink
	Sent      []string // the sinks that accepted Pending
}

// Level reads a key's level state.
func (s *Store) Level(ctx context.Context, k string) LevelState {
	if s.db != nil {
		var it levelItem
		_, err := s.get(ctx, levelPK(k), single, &it)
		if err == nil {
			return LevelState{Announced: it.Announced, Pending: it.Pending, Sent: it.Sent}
		}
		s.fellBack(ctx, "level read", k, err)
	}
	return s.mem.level(k)
}

// LevelClaim is the right to announce Target for a key.
type LevelClaim struct {
	Key    string
	Target string
	// Skip are the sinks that already accepted Target; send to the others.
	Skip     []string
	version  int64
	inMemory bool
}

// BeginLevel claims the announcement of target for key. It returns nil
// when there is nothing to announce (target already announced to every
// sink) or another environment holds the lease (until now+lease).
func (s *Store) BeginLevel(ctx context.Context, k, target string, now time.Time, lease time.Duration) *LevelClaim {
	if s.db != nil {
		c, err := s.beginLevelDB(ctx, k, target, now, lease)
		if err == nil {
			return c
		}
		s.fellBack(ctx, "level begin", k, err)
	}
	return s.mem.beginLevel(k, target, now, lease)
}

func (s *Store) beginLevelDB(ctx context.Context, k, target string, now time.Time, lease time.Duration) (*LevelClaim, error) {
	var it levelItem
	found, err := s.get(ctx, levelPK(k), single, &it)
	if err != nil {
		return nil, err
	}
	if it.Announced == target && it.Pending == "" || it.Lease > ms(now) {
		return nil, nil
	}
	version := expression.Name("version")
	var cond expression.ConditionBuilder
	if found {
		cond = version.Equal(expression.Value(it.Version))
	} else {
		cond = expression.AttributeNotExists(expression.Name(AttrPK))
	}
	upd := expression.Set(version, expression.Value(it.Version+1)).
		Set(expression.Name("lease"), expression.Value(ms(now.Add(lease)))).
		Set(expression.Name("pending"), expression.Value(target))
	skip := it.Sent
	if it.Pending != target {
		upd = upd.Remove(expression.Name("sent"))
		skip = nil
	}
	if err := s.update(ctx, levelPK(k), single, upd, &cond, types.ReturnValueNone, nil); err != nil {
		if conditionFailed(err) {
			return nil, nil // another environment claimed it
		}
		return nil, err
	}
	return &LevelClaim{Key: k, Target: target, Skip: skip, version: it.Version + 1}, nil
}

// FinishLevel records the sinks that accepted c.Target (accepted), out of
// sinks in all. With none, the level is not announced and stays pending.
func (s *Store) FinishLevel(ctx context.Context, c *LevelClaim, accepted []string, sinks int) {
	if c == nil {
		return
	}
	complete := len(c.Skip)+len(accepted) >= sinks
	if s.db != nil && !c.inMemory {
		cond := expression.Name("version").Equal(expression.Value(c.version))
		upd := expression.Set(expression.Name("lease"), expression.Value(0))
		if len(accepted) > 0 {
			upd = upd.Set(expression.Name("announced"), expression.Value(c.Target)).
				Add(expression.Name("sent"), expression.Value(&types.AttributeValueMemberSS{Value: slices.Clone(accepted)}))
		}
		if complete {
			upd = upd.Remove(expression.Name("pending"))
		}
		err := s.update(ctx, levelPK(c.Key), single, upd, &cond, types.ReturnValueNone, nil)
		if err == nil || conditionFailed(err) {
			return
		}
		s.fellBack(ctx, "level finish", c.Key, err)
	}
	s.mem.finishLevel(c, accepted, complete)
}
