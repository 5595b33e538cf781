package triage

import (
	"context"
	"sync"
)

// SuppressionKey is one entry of an account-level suppression list: the
// Region's list, the reason (BOUNCE or COMPLAINT) and the address.
type SuppressionKey struct {
	Region, Reason, Address string
}

// SuppressionMemory remembers which recipients triage has put on a
// suppression list, so that one PutSuppressedDestination call is made per
// entry however many records name it (a storm names the same dead address
// many times, and SNS and SQS redeliver).
//
// Claim reports whether the caller is to make the call for key: true for
// the first claim, false while an earlier claim is in flight or once the
// entry is suppressed. After the call the claimant calls Settle: with
// suppressed true the entry is remembered as suppressed; with false (the
// call failed, transiently or not) the claim is dropped, so a later record
// (the retried one) may claim it again. Only successful calls are counted
// (Result.Suppressed), so with one claim per entry an address is counted
// once.
//
// A store shared by execution environments (package internal/state,
// DynamoDB) makes Claim a conditional write and keys it on a digest of the
// address, not the address. It should fall back to its own memory when the
// table fails (the call is idempotent: a duplicate costs one request)
// rather than return an error; an error from Claim is logged and the call
// made anyway, an error from Settle only logged.
//
// The default is in process memory (NewMemorySuppressions), one per
// execution environment.
type SuppressionMemory interface {
	Claim(ctx context.Context, key SuppressionKey) (bool, error)
	Settle(ctx context.Context, key SuppressionKey, suppressed bool) error
}

// maxRemembered bounds the memory of NewMemorySuppressions (about 10 MB at
// worst); past it the memory starts again, which costs one idempotent call
// per address.
const maxRemembered = 100_000

// memorySuppressions is the in-process SuppressionMemory: a claimed key is
// remembered at once, so in-flight and settled claims look alike.
type memorySuppressions struct {
	mu   sync.Mutex
	keys map[SuppressionKey]struct{}
}

// NewMemorySuppressions returns a SuppressionMemory in process memory,
// bounded to maxRemembered entries.
func NewMemorySuppressions() SuppressionMemory {
	return &memorySuppressions{keys: map[SuppressionKey]struct{}{}}
}

func (m *memorySuppressions) Claim(_ context.Context, key SuppressionKey) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[key]; ok {
		return false, nil
	}
	if len(m.keys) >= maxRemembered {
		clear(m.keys)
	}
	m.keys[key] = struct{}{}
	return true, nil
}

func (m *memorySuppressions) Settle(_ context.Context, key SuppressionKey, suppressed bool) error {
	if !suppressed {
		m.mu.Lock()
		delete(m.keys, key)
		m.mu.Unlock()
	}
	return nil
}
