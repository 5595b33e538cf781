package facts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// sharedAnswer is a successful look-up as the shared cache keeps it.
type sharedAnswer struct {
	ProductionAccess  bool     `json:"p,omitempty"`
	SendingEnabled    bool     `json:"s,omitempty"`
	EnforcementStatus string   `json:"e,omitempty"`
	SuppressedReasons []string `json:"r,omitempty"`
	Account           bool     `json:"a,omitempty"`
	Status            string   `json:"v,omitempty"`
	Absent            bool     `json:"x,omitempty"`
}

// sharedKey names a look-up in the shared cache. Identities are hashed:
// the table never holds an address.
func sharedKey(k key) string {
	id := ""
	if k.identity != "" {
		sum := sha256.Sum256([]byte(strings.ToLower(k.identity)))
		id = "/" + hex.EncodeToString(sum[:12])
	}
	return "facts/" + k.op.String() + "/" + k.region + id
}

// SharedBatchReader is the optional part of a SharedCache that reads many
// answers with one call; *state.Store has it. A Gatherer with one asks it
// first for every look-up a gathering leads, so that a cold environment
// learns a failure's facts (the account and each identity, per Region)
// with one call to the shared cache instead of one per look-up.
type SharedBatchReader interface {
	// Facts returns the values of keys that are cached and fresh at now;
	// the others are asked of Fact, one by one.
	Facts(ctx context.Context, keys []string, now time.Time) map[string][]byte
}

// fromSharedBatch returns the answers the shared cache holds for the
// look-ups tasks[leads], read with one call.
func (g *Gatherer) fromSharedBatch(ctx context.Context, tasks []key, leads []int) map[key]result {
	br, ok := g.shared.(SharedBatchReader)
	if !ok || len(leads) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.callTimeout)
	defer cancel()
	keys := make([]string, len(leads))
	for j, i := range leads {
		keys[j] = sharedKey(tasks[i])
	}
	vals := br.Facts(ctx, keys, g.now())
	out := make(map[key]result, len(vals))
	for j, i := range leads {
		if v, ok := vals[keys[j]]; ok {
			if res, ok := decodeShared(tasks[i], v); ok {
				out[tasks[i]] = res
			}
		}
	}
	return out
}

func (g *Gatherer) fromShared(ctx context.Context, k key) (result, bool) {
	v, ok := g.shared.Fact(ctx, sharedKey(k), g.now())
	if !ok {
		return result{}, false
	}
	return decodeShared(k, v)
}

// decodeShared is the look-up k's answer from its shared cache value v
// (ok false: v is not an answer to k).
func decodeShared(k key, v []byte) (result, bool) {
	var a sharedAnswer
	if json.Unmarshal(v, &a) != nil {
		return result{}, false
	}
	switch {
	case k.op == opGetAccount && a.Account:
		return result{account: &accountFacts{productionAccess: a.ProductionAccess, sendingEnabled: a.SendingEnabled,
			enforcementStatus: a.EnforcementStatus, suppressedReasons: append([]string{}, a.SuppressedReasons...)}}, true
	case k.op == opGetEmailIdentity && (a.Absent || a.Status != ""):
		return result{status: a.Status, absent: a.Absent}, true
	}
	return result{}, false
}

func (g *Gatherer) toShared(ctx context.Context, k key, res result) {
	a := sharedAnswer{Status: res.status, Absent: res.absent}
	if res.account != nil {
		a.Account = true
		a.ProductionAccess, a.SendingEnabled = res.account.productionAccess, res.account.sendingEnabled
		a.EnforcementStatus, a.SuppressedReasons = res.account.enforcementStatus, res.account.suppressedReasons
	}
	v, err := json.Marshal(a)
	if err != nil {
		return
	}
	g.shared.PutFact(ctx, sharedKey(k), v, g.now(), g.ttl)
}

// AccountLookupFailed reports whether rf's GetAccount look-up failed in a
// way a retry may cure (throttled, a server error, a timeout, the call
// budget), as opposed to succeeding, not being made, or not being
// supported by the endpoint: a decision that needs the account's settings
// (suppression in auto mode) should then be retried, not skipped.
func AccountLookupFailed(rf *ruleset.RegionFacts) bool {
	if rf == nil || rf.SuppressedReasons != nil {
		return false
	}
	prefix := opGetAccount.String() + " in "
	for _, e := range rf.Errors {
		// describe writes these lines; "not supported" is its wording for
		// ErrUnsupported.
		if strings.HasPrefix(e, prefix) && !strings.Contains(e, "not supported by the endpoint") {
			return true
		}
	}
	return false
}
