package triage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/sesguard/sesguard/internal/state"
)

// sharedSuppressions is the SuppressionMemory of the state table: one
// PutSuppressedDestination per entry across every execution environment.
// Entries are keyed on a digest of the address: the table never holds one.
type sharedSuppressions struct {
	s   *state.Store
	now func() time.Time
}

// NewSharedSuppressions returns a SuppressionMemory in the state table.
func NewSharedSuppressions(s *state.Store, now func() time.Time) SuppressionMemory {
	if now == nil {
		now = time.Now
	}
	return sharedSuppressions{s: s, now: now}
}

func suppressionKey(k SuppressionKey) string {
	sum := sha256.Sum256([]byte(strings.ToLower(k.Address)))
	return "supp:" + k.Region + ":" + k.Reason + ":" + hex.EncodeToString(sum[:16])
}

// Claim implements SuppressionMemory. A claim held by another environment
// (in flight) reads as taken, like the in-memory store's.
func (m sharedSuppressions) Claim(ctx context.Context, k SuppressionKey) (bool, error) {
	c, err := m.s.Claim(ctx, suppressionKey(k), m.now(), RecordHold)
	return c.Outcome == state.Acquired, err
}

// Settle implements SuppressionMemory.
func (m sharedSuppressions) Settle(ctx context.Context, k SuppressionKey, suppressed bool) error {
	if suppressed {
		m.s.Done(ctx, suppressionKey(k), m.now())
	} else {
		m.s.Fail(ctx, suppressionKey(k), m.now())
	}
	return nil
}
