package bouncewatch

import (
	"context"
	"sync"
)

// Record is one small fact several execution environments share (what SES
// last said about the account, a configuration set's sending flag, a
// pause), with the store's version of it.
type Record struct {
	Value string
	// Version identifies the stored value for a compare-and-set; the store
	// assigns it, and 0 means nothing is stored under the key.
	Version int64
}

// RecordStore keeps Records by key, so that a change is acted on once
// across environments: the enforcement watch and auto-pause read a record,
// decide, and Swap; the one evaluation that wins the Swap announces (or
// pauses), the others see the winner's value and do nothing.
//
// Swap stores value under key only if the stored record is still prev
// (same Version; Version 0: nothing stored), and returns the record stored
// after the call (the new one when won, what is stored now when lost).
//
// Keys are short ASCII ("enforcement/us-east-1"); values at most a few
// hundred bytes. A DynamoDB implementation (package internal/state: one
// item per key, a conditional write on its version, like its levels)
// replaces MemoryRecords, which acts once per execution environment only.
type RecordStore interface {
	Get(ctx context.Context, key string) (Record, error)
	Swap(ctx context.Context, key string, prev Record, value string) (Record, bool, error)
}

// MemoryRecords is a RecordStore in process memory.
type MemoryRecords struct {
	mu sync.Mutex
	m  map[string]Record
}

// NewMemoryRecords returns an empty MemoryRecords.
func NewMemoryRecords() *MemoryRecords { return &MemoryRecords{m: map[string]Record{}} }

// Get returns the record stored under key (Version 0 if none).
func (s *MemoryRecords) Get(_ context.Context, key string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

// Swap is RecordStore's compare-and-set.
func (s *MemoryRecords) Swap(_ context.Context, key string, prev Record, value string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.m[key]
	if cur.Version != prev.Version {
		return cur, false, nil
	}
	next := Record{Value: value, Version: cur.Version + 1}
	s.m[key] = next
	return next, true, nil
}
