package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/state"
)

func TestZZLatency(t *testing.T) {
	ctx := context.Background()
	db, name := table(t)
	s, _ := state.New(state.Options{DB: txDB{db}, Table: name, Log: quiet})
	now := t0
	start := time.Now()
	for b := range 1000 {
		keys := make([]string, 10)
		for i := range keys {
			keys[i] = fmt.Sprintf("k-%d-%d", b, i)
		}
		s.ClaimBatch(ctx, keys, now, time.Minute, nil)
	}
	claim := time.Since(start)
	start = time.Now()
	for b := range 1000 {
		keys := make([]string, 10)
		for i := range keys {
			keys[i] = fmt.Sprintf("k-%d-%d", b, i)
		}
		s.DoneAll(ctx, keys, now)
	}
	done := time.Since(start)
	t.Logf("claim tx %v/call, done batch %v/call", claim/1000, done/1000)
}
