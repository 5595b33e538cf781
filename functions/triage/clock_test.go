package main

import (
	"time"

	"github.com/sesguard/sesguard/internal/triage"
)

// withClock makes every decision of a handler built from cfg use now.
func withClock(cfg *triage.Config, now func() time.Time) { cfg.Clock = now }
