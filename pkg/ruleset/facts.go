package ruleset

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Verification statuses as SES's VerificationStatus spells them.
const (
	StatusSuccess          = "SUCCESS"
	StatusPending          = "PENDING"
	StatusFailed           = "FAILED"
	StatusTemporaryFailure = "TEMPORARY_FAILURE"
	StatusNotStarted       = "NOT_STARTED"
)

// Facts is what live checks learn about the sending account; the JSON shape
// is the one in DESIGN.md, so a failure can be reproduced offline with
// `--facts FILE`. A nil *Facts means "facts unknown".
type Facts struct {
	SendingRegion string                  `json:"sendingRegion,omitempty"`
	Regions       map[string]*RegionFacts `json:"regions"`
}

// RegionFacts is the account's state in one Region. Pointer fields are nil
// when the look-up failed or was not made, which rules treat as unknown.
type RegionFacts struct {
	ProductionAccess  *bool  `json:"productionAccess,omitempty"`
	SendingEnabled    *bool  `json:"sendingEnabled,omitempty"`
	EnforcementStatus string `json:"enforcementStatus,omitempty"`
	// SuppressedReasons lists the account-level suppression reasons that
	// are on (BOUNCE, COMPLAINT); nil when unknown.
	SuppressedReasons []string `json:"suppressedReasons"`
	// Identities maps an identity (address or domain, as SES stores it) to
	// its VerificationStatus. An identity absent from the map does not exist
	// in the Region; a nil map means identities were not looked up.
	Identities map[string]string `json:"identities"`
	// Errors records look-ups that failed, so a diagnosis can say facts
	// were partial.
	Errors []string `json:"errors,omitempty"`
}

// ParseFacts decodes the facts JSON and normalises Region names.
func ParseFacts(data []byte) (*Facts, error) {
	var f Facts
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode facts: %w", err)
	}
	f.normalise()
	return &f, nil
}

func (f *Facts) normalise() {
	f.SendingRegion = NormaliseRegion(f.SendingRegion)
	if len(f.Regions) == 0 {
		return
	}
	norm := make(map[string]*RegionFacts, len(f.Regions))
	for name, rf := range f.Regions {
		if rf == nil {
			rf = &RegionFacts{}
		}
		norm[NormaliseRegion(name)] = rf
	}
	f.Regions = norm
}

// NormaliseRegion turns "US-EAST-1" or " us-east-1 " into "us-east-1".
func NormaliseRegion(r string) string {
	return strings.ToLower(strings.TrimSpace(r))
}

// Bool returns a pointer to b, for building Facts in code.
func Bool(b bool) *bool { return &b }
