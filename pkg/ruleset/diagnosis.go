package ruleset

// Severity says how urgently a diagnosis needs a person.
type Severity string

// The severities a rule may carry.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Outcome IDs that are not rules in the rule files but are part of the
// taxonomy contract.
const (
	RuleNotAFailure = "not-a-failure"
	RuleUnknown     = "unknown"
	RuleInvalid     = "invalid-input"
	RuleSimulator   = "simulator"
)

// Alternative is a less likely rule for the same failure.
type Alternative struct {
	Rule       string  `json:"rule"`
	Confidence float64 `json:"confidence"`
}

// Diagnosis is one classified failure for one identity, in the JSON shape
// DESIGN.md fixes: `sesguard classify --json` prints exactly this.
type Diagnosis struct {
	Rule         string        `json:"rule"`
	Severity     Severity      `json:"severity,omitempty"`
	Summary      string        `json:"summary,omitempty"`
	Identity     string        `json:"identity,omitempty"`
	Region       string        `json:"region,omitempty"`
	Evidence     []string      `json:"evidence,omitempty"`
	Fix          []string      `json:"fix,omitempty"`
	Confidence   float64       `json:"confidence,omitempty"`
	Alternatives []Alternative `json:"alternatives,omitempty"`
	Source       string        `json:"source,omitempty"`
	// Error says what was wrong with an input that yields invalid-input.
	Error string `json:"error,omitempty"`
	// Abstained is true on an unknown diagnosis whose best candidate was
	// below ConfidenceFloor: Alternatives then lists the candidates.
	Abstained bool `json:"abstained,omitempty"`

	// Fields below are for callers in Go (triage, bouncewatch); they are
	// not part of the JSON contract.

	// Suppress names the account-level suppression reason (BOUNCE or
	// COMPLAINT) this failure calls for, or "" when none.
	Suppress string `json:"-"`
	// Kind is the decoded failure's kind (bounce, complaint, ...).
	Kind Kind `json:"-"`
	// FactsKnown reports whether account facts were used to rank.
	FactsKnown bool `json:"-"`
}
